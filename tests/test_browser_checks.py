"""A failed checkpoint as a student sees it in JupyterLab (real Chromium): before, the traceback through the
kit; after, one short block. Screenshots: test-output/browser/checkpoint_before.png and _after.png."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
import labdriver  # noqa: E402  (tests/browser/labdriver.py)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not labdriver.CHROMIUM.exists(),
                       reason=f"{labdriver.CHROMIUM} not found: install Debian's `chromium` package"),
]

WRONG = ("import numpy as np\nfrom course_utils import checks\n\n"
         "# Exercise 2.2 answered without the zero point\n"
         "def quantize_asymmetric(x, bits):\n    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)\n"
         "    scale = (hi - lo) / (2**bits - 1)\n    zero_point = int(np.round(-lo / scale))\n"
         "    return np.clip(np.round(x / scale), 0, 2**bits - 1), scale, zero_point\n\n\n"
         "def dequantize(q, scale, zero_point=0):\n    return (np.asarray(q) - zero_point) * scale\n")
BEFORE = ("# how it looked before: IPython's traceback through the kit (the render hook switched off)\n"
          "from course_utils.checks._common import CheckFailure\n\ndel CheckFailure._render_traceback_\n")


def _notebook(path: Path, sources: list[str]) -> None:
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [],
              "execution_count": None} for i, s in enumerate(sources)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}}))


def test_failed_checkpoint_before_and_after(tmp_path):
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    check = "checks.lab1.ex_2_2(quantize_asymmetric, dequantize)"
    _notebook(root / "after.ipynb", [WRONG, check])
    _notebook(root / "before.ipynb", [WRONG, BEFORE, check])
    server = labdriver.start_lab(root, tmp_path / "jupyter", {"COURSE_BUILD_DIR": str(tmp_path / "build")})
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            chromium = labdriver.launch_chromium(pw)
            try:
                page = chromium.new_context(viewport={"width": 1200, "height": 900}).new_page()
                after = labdriver.NotebookPage(page, server, "after.ipynb")
                after.open()
                after.run_cell(0)
                shown_after = after.run_cell(1)
                after.cell(1).scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / "checkpoint_after.png"))
                before = labdriver.NotebookPage(page, server, "before.ipynb")
                before.open()
                before.run_cell(0)
                before.run_cell(1)
                shown_before = before.run_cell(2)
                before.cell(2).scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / "checkpoint_before.png"))
            finally:
                chromium.close()
    finally:
        server.stop()
    assert shown_after.startswith("Exercise 2.2 not passed. missing zero point."), shown_after
    assert "Hint: q = clip(round(x / scale) + zero_point" in shown_after
    assert "Traceback" not in shown_after and "_common.py" not in shown_after
    assert len(shown_after.splitlines()) <= 6, shown_after
    assert "Traceback" in shown_before and "_common.py" in shown_before, shown_before
    assert (SHOTS / "checkpoint_after.png").stat().st_size > 10_000
