"""The JupyterLab a student sees, in a real headless Chromium (Debian's) driven by Playwright.

The server is the kit's own `course lab` (what `make lab` runs) on a copy of the kit, with private Jupyter
folders; readiness comes from the server API. First the harness proves itself on scratch notebooks (host
kernel, virtual-board kernel, and a failing cell it must catch); then Lab 1's first notebook runs its setup
cell and Lab 3's first notebook runs its first cells on the `pynq-virtual-board` kernel. Screenshots go to
test-output/browser/.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
import labdriver  # noqa: E402  (tests/browser/labdriver.py)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "browser"
LAB1 = "labs/lab1_qat/01_*.ipynb"
LAB3 = "labs/lab3_zynq/01_*.ipynb"
BOARD_KERNEL = "pynq-virtual-board"
# the kit's top-level entries that the copy links to instead of copying (labs/ is copied: the browser
# saves into it; build/ and test-output/ are private to the run)
NOT_LINKED = {".git", ".venv", "labs", "work", "build", "test-output", ".pytest_cache", ".ruff_cache"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not labdriver.CHROMIUM.exists(),
                       reason=f"{labdriver.CHROMIUM} not found: install Debian's `chromium` package "
                              "(scripts/system_deps.py does it for make test)"),
]


def _notebook(path: Path, kernel: str, display: str, cells: list[tuple[str, str]]) -> None:
    """Write a small notebook without outputs."""
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": kernel, "display_name": display, "language": "python"}},
          "cells": [({"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": src}
                     if kind == "md" else
                     {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src, "outputs": [],
                      "execution_count": None}) for i, (kind, src) in enumerate(cells)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))


@pytest.fixture()
def browser():
    """A headless Debian Chromium for one test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = labdriver.launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def lab(tmp_path):
    """Start `course lab` on a given root (call it once); stopped at the end of the test."""
    servers = []

    def start(root: Path) -> labdriver.LabServer:
        server = labdriver.start_lab(root, tmp_path / "jupyter",
                                     {"COURSE_BUILD_DIR": str(tmp_path / "build")})
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    return context.new_page()


def test_harness_on_scratch_notebooks(tmp_path, browser, lab):
    """The harness runs cells on both kernels, sees their output, and catches a failing cell."""
    root = tmp_path / "root"
    _notebook(root / "scratch" / "host.ipynb", "python3", "Python 3 (ipykernel)", [
        ("md", "# Scratch: host kernel"),
        ("code", "import sys, course_utils.paths as p\nprint('host', sys.version_info[:2], 6 * 7)"),
        ("code", "raise ValueError('scratch failure on purpose')"),
    ])
    _notebook(root / "scratch" / "board.ipynb", BOARD_KERNEL, "PYNQ virtual board (Zynq-7020)", [
        ("code", "import os, sys\nprint('board', sys.version_info[:2], os.environ['PYNQ_VIRTUAL_BOARD'])"),
        ("code", "import numpy, pynq\nprint('pynq', pynq.__version__, 'numpy', numpy.__version__)"),
    ])
    server = lab(root)
    # the token is required: the API refuses a request without it
    assert server.api("sessions", auth=False)[0] == 403
    page = _page(browser)

    host = labdriver.NotebookPage(page, server, "scratch/host.ipynb")
    session = host.open()
    assert session["kernel"]["name"] == "python3"
    shown = host.run_cell(1)
    assert "host (3, 11) 42" in shown, shown
    failing = host.run_cell(2)
    assert "scratch failure on purpose" in failing, failing
    saved = host.save()
    assert saved[1]["execution_count"] and not labdriver.error_outputs(saved[1])
    assert any("ValueError" in e for e in labdriver.error_outputs(saved[2])), saved[2]

    board = labdriver.NotebookPage(page, server, "scratch/board.ipynb")
    session = board.open()
    assert session["kernel"]["name"] == BOARD_KERNEL
    assert "board (3, 10) Pynq-Z2" in board.run_cell(0)
    shown = board.run_cell(1)
    assert "pynq 3.1.2 numpy 1.26" in shown, shown
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "scratch_board.png"))
    saved = board.save()
    assert [c["execution_count"] for c in saved] == [1, 2]


def _real_notebook(pattern: str, owner: str) -> Path:
    found = sorted(ROOT.glob(pattern))
    if not found:
        source = sorted(ROOT.glob(pattern.replace("labs/", "solutions/", 1)))
        hint = (f"its solution {source[0].relative_to(ROOT)} exists: run `course labs` to generate it"
                if source else f"it is written by engineer '{owner}' in solutions/ and generated into labs/ "
                               "by `course labs`")
        pytest.fail(f"missing notebook: {pattern} (none in {ROOT / Path(pattern).parent}); {hint}. This "
                    "test runs it in the browser once it exists.")
    return found[0]


def _kit_copy(dest: Path) -> Path:
    """A kit root for the browser run: links to the kit, a private copy of labs/; `course lab` makes work/."""
    dest.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (dest / entry.name).symlink_to(entry)
    shutil.copytree(ROOT / "labs", dest / "labs",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def _run_and_check(page, server, root: Path, notebook: Path, cells: list[int],
                   shot: str) -> tuple[str, list[str]]:
    """Run the given cells of the student's copy (work/labs/...) in the page; check the page shows output and
    the saved file has no error, and that the generated labs/ notebook was not touched."""
    rel = "work/" + notebook.relative_to(ROOT).as_posix()
    generated = (root / notebook.relative_to(ROOT)).read_bytes()
    nbp = labdriver.NotebookPage(page, server, rel)
    session = nbp.open()
    try:
        shown = [nbp.run_cell(i) for i in cells]
    finally:  # what the page showed, also when a cell failed or hung
        page.screenshot(path=str(SHOTS / shot))
    saved = nbp.save()
    assert (root / notebook.relative_to(ROOT)).read_bytes() == generated, "the student's run changed labs/"
    for i in cells:
        errors = labdriver.error_outputs(saved[i])
        assert not errors, f"{rel}, cell {i} failed in the browser:\n" + "\n".join(errors)
        assert saved[i]["execution_count"], f"{rel}, cell {i} did not run"
    return session["kernel"]["name"], shown


def test_lab1_and_lab3_notebooks_in_the_browser(tmp_path, browser, lab):
    """Lab 1's setup cell and Lab 3's first cells (virtual-board kernel) run in JupyterLab in Chromium."""
    lab1 = _real_notebook(LAB1, "lab1")
    lab3 = _real_notebook(LAB3, "board")
    root = _kit_copy(tmp_path / "kit")
    server = lab(root)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = _page(browser)

    setup = labdriver.first_code_cells(lab1, 1)
    assert setup, f"{lab1.name} has no code cell before its first exercise (expected the setup cell)"
    kernel, shown = _run_and_check(page, server, root, lab1, setup, "lab1_setup.png")
    assert kernel == "python3"
    assert shown[0].strip(), f"{lab1.name}: the setup cell showed no output in the browser"

    first = labdriver.first_code_cells(lab3, 3)
    assert first, f"{lab3.name} has no code cell before its first exercise"
    kernel, shown = _run_and_check(page, server, root, lab3, first, "lab3_first_cells.png")
    assert kernel == BOARD_KERNEL, f"{lab3.name} opened on kernel {kernel!r}, expected {BOARD_KERNEL!r}"
    assert any(text.strip() for text in shown), f"{lab3.name}: its first cells showed no output"
