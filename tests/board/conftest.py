"""Board-environment tests (.venv/board: pynq 3.1.2, numpy 1.x, no torch/FINN): the virtual board.

Run: ``cd tests/board && ../../.venv/board/bin/python -m pytest -q .`` (``make test-board``).
The virtual board is switched on here (PYNQ_VIRTUAL_BOARD) with a short hang timeout, so a test of
a pitfall that hangs a real board finishes in well under a second.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
os.environ.setdefault("PYNQ_VIRTUAL_BOARD", "Pynq-Z2")
os.environ["PYNQ_VIRTUAL_BOARD_TIMEOUT"] = "0.3"
os.environ.setdefault("PYNQ_VIRTUAL_ACCEL", "model")  # the tiny fixture package has no RTL
os.environ.setdefault("MPLBACKEND", "Agg")
shared = HERE.parents[2] / "shared" / "data"
if not os.environ.get("COURSE_DATA_MIRROR") and (shared / "mnist").is_dir():
    os.environ["COURSE_DATA_MIRROR"] = str(shared)
sys.path.insert(0, str(HERE))

from course_utils.board.virtual import autoload  # noqa: E402

autoload.install()

import fixtures  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore:pkg_resources is deprecated:UserWarning")


@pytest.fixture(scope="session")
def tiny_pkg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture deploy package (26-bit DMA, TLAST packetizer), written once per session."""
    return fixtures.make_package(tmp_path_factory.mktemp("deploy"))


@pytest.fixture()
def pkg(tiny_pkg_dir: Path):
    """The fixture package, loaded."""
    from course_utils.board.package import load_package

    return load_package(tiny_pkg_dir)


@pytest.fixture()
def overlay(pkg):
    """A freshly loaded overlay of the fixture package on the virtual board."""
    from pynq import Overlay

    return Overlay(str(pkg.bitfile))


@pytest.fixture()
def device():
    """The virtual board device pynq found."""
    from pynq import Device

    dev = Device.active_device
    assert type(dev).__name__ == "VirtualZynqDevice"
    return dev
