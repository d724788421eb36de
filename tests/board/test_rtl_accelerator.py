"""The virtual board's accelerator is the deploy package's stitched RTL (Verilator), not the numpy model.

Uses the kit's deploy package (pretrained/lab2/deploy/mnist_w4a4, which carries ``rtl/``). The compiled
library comes from the content-keyed cache (build/rtl/cache, filled by Lab 2's RTL tests), or is compiled
here once with the board environment's Verilator (1-3 minutes).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from course_utils.board import package, runtime

# the first test compiles the shipped design (2-4 minutes on a quiet 2-core machine, over 20 under heavy load;
# cached by content key afterwards): the bound is for a hang, not for speed
pytestmark = pytest.mark.timeout(3000)


@pytest.fixture(scope="module")
def rtl_pkg():
    from course_utils.board.rtlsim import has_rtl, load_package_rtl
    from course_utils.paths import pretrained_dir

    # the shipped package (a student's own build/lab2 package may have been written without rtl/)
    pkg = package.load_package(pretrained_dir("lab2", "deploy", "mnist_w4a4"), source="pretrained")
    assert has_rtl(pkg.path), f"{pkg.path} carries no rtl/ (write it with hw.deploy.add_rtl_to_package)"
    load_package_rtl(pkg.path)              # compile once (cached by content key) before any timing
    return pkg


@pytest.fixture()
def rtl_mode(monkeypatch):
    monkeypatch.setenv("PYNQ_VIRTUAL_ACCEL", "rtl")


def test_golden_batch_through_the_rtl_equals_lab2(rtl_pkg, rtl_mode):
    from pynq import Overlay

    ol = Overlay(str(rtl_pkg.bitfile))
    assert runtime.accelerator_source(ol).startswith("RTL-simulated")
    g = rtl_pkg.golden()
    with runtime.Stopwatch(ol) as sw:
        y = runtime.infer(ol, rtl_pkg, g["x"], batch=len(g["x"]), progress=False)
    np.testing.assert_array_equal(y, g["y_int"])
    t = sw.timing
    assert t.accelerator == "RTL-simulated" and t.label.startswith("RTL-simulated (")
    ep = ol.device.dmas[rtl_pkg.dma_name].endpoint
    assert ep.mode == "rtl" and ep.cycles_run > 0           # the RTL really ran
    # what Lab 2's stitched RTL simulation measured for this package (the default: 400 bytes / 4 per cycle)
    lab2 = rtl_pkg.spec["rtl_verification"]["measured"]["interval_cycles"]
    assert ep.cycles_per_sample == pytest.approx(lab2, abs=2)
    assert t.cycles == pytest.approx(30 + ep.latency_cycles + (len(g["x"]) - 1) * ep.cycles_per_sample)


def test_the_rtl_is_not_the_model_a_corrupted_weight_file_shows(rtl_pkg, rtl_mode, tmp_path, monkeypatch):
    """Change one weight file of the RTL (not the numpy model's): the board's outputs change with it."""
    from pynq import Overlay

    copy = tmp_path / "mnist_w4a4"
    shutil.copytree(rtl_pkg.path, copy)
    dat = sorted((copy / "rtl" / "hdl").glob("*MVAU_rtl_2*memblock*.dat"))
    assert dat, "no weight file of the last layer in rtl/hdl"
    lines = dat[0].read_text().splitlines()
    lines[0] = "0" * len(lines[0]) if lines[0].strip("0") else "1".rjust(len(lines[0]), "0")
    dat[0].write_text("\n".join(lines) + "\n")
    pkg = package.load_package(copy)
    ol = Overlay(str(pkg.bitfile))
    g = pkg.golden()
    y = runtime.infer(ol, pkg, g["x"], progress=False)
    assert not np.array_equal(y, g["y_int"])
    monkeypatch.setenv("PYNQ_VIRTUAL_ACCEL", "model")       # the numpy model does not read the RTL's files
    ol = Overlay(str(pkg.bitfile))
    assert runtime.accelerator_source(ol).startswith("model")
    np.testing.assert_array_equal(runtime.infer(ol, pkg, g["x"], progress=False), g["y_int"])


def test_rtl_mode_without_rtl_says_what_to_do(tiny_pkg_dir, rtl_mode):
    from pynq import Overlay

    from course_utils.board.virtual import VirtualBoardError

    with pytest.raises(VirtualBoardError, match="carries no RTL.*PYNQ_VIRTUAL_ACCEL=model"):
        Overlay(str(next(tiny_pkg_dir.glob("*.bit"))))


def test_package_rtl_describes_the_packaged_streams(rtl_pkg):
    meta = json.loads((rtl_pkg.path / "rtl" / "design.json").read_text())
    assert meta["in_bits"] == rtl_pkg.input.stream_width_bits
    assert meta["in_words"] * meta["in_bits"] // 8 == rtl_pkg.input.bytes_per_sample
    assert meta["out_words"] * meta["out_bits"] // 8 == rtl_pkg.output.bytes_per_sample
