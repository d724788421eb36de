"""Shared test set-up: offline data, no network."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# tests/board/ runs in the board environment (make test-board: no torch there), never in the host run
collect_ignore = ["board"] if importlib.util.find_spec("torch") else []


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the network for data: ../shared/data is the local mirror when present.
    shared = ROOT.parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_MIRROR") and (shared / "mnist").is_dir():
        os.environ["COURSE_DATA_MIRROR"] = str(shared)
    os.environ.setdefault("COURSE_DATA_URLS", "http://127.0.0.1:9/")  # never the internet in tests
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin (2 cores)
    os.environ.setdefault("PYTHONHASHSEED", "0")


# ----------------------------------------------------------------------------- FINN-flow fixtures
@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory):
    """A private build folder for the whole module (COURSE_BUILD_DIR), FINN set up in it."""
    from course_utils import finnflow as ff

    folder = tmp_path_factory.mktemp("build")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_BUILD_DIR", str(folder))
        ff.setup()
        yield folder
    ff.setup()


@pytest.fixture(scope="module")
def golden():
    """The shipped Lab 1 golden batch (``finnflow.Golden``)."""
    from course_utils import finnflow as ff

    return ff.Golden.load(ROOT / "pretrained" / "lab1" / "golden.npz")
