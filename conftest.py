"""pytest hooks for the whole repo (tests/, and the notebooks in solutions/ and lectures/ run by nbval).

nbval skips a cell tagged ``nbval-skip`` with an empty reason; this says why: the cell's first comment line
and, for known tags, what the cell needs (e.g. ``vivado``: a real Vivado build).
"""
from __future__ import annotations

import pytest

TAG_REASONS = {
    "vivado": "needs a real Vivado/Vitis HLS build (run it by hand on a Vivado host)",
    "board": "needs a real PYNQ board",
}


def skip_reason(cell: dict) -> str:
    """Why an ``nbval-skip`` cell is skipped, from its tags and its first comment line."""
    tags = cell.get("metadata", {}).get("tags", [])
    parts = [TAG_REASONS[t] for t in tags if t in TAG_REASONS]
    source = cell.get("source", "")
    first = ("".join(source) if isinstance(source, list) else source).lstrip().splitlines()[:1]
    if first and first[0].startswith("#"):
        parts.append(first[0].lstrip("# ").strip())
    return "; ".join(parts) or "tagged nbval-skip (add a first comment line saying why)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cell = getattr(item, "cell", None)
    if report.skipped and isinstance(cell, dict) and isinstance(report.longrepr, tuple):
        path, lineno, message = report.longrepr
        if message.strip() in ("", "Skipped", "Skipped:"):
            where = (str(item.path), int(getattr(item, "cell_num", lineno)))
            report.longrepr = (*where, f"Skipped: nbval-skip cell: {skip_reason(cell)}")
