"""Shared test set-up: offline data, isolated build folders, notebooks grouped per folder for xdist."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the network for data: ../shared/data is the local mirror when present.
    shared = ROOT.parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_MIRROR") and (shared / "mnist").is_dir():
        os.environ["COURSE_DATA_MIRROR"] = str(shared)
    os.environ.setdefault("COURSE_DATA_URLS", "http://127.0.0.1:9/")  # never the internet in tests
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYTHONHASHSEED", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the notebooks of one folder on one xdist worker, in file order (they hand artifacts on)."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(name=f"nb-{path.parent.name}"))
