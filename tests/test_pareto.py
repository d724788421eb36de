"""bench/pareto.py's bookkeeping (the runs themselves are minutes to hours: docs/pareto.md)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from course_utils import train
from course_utils.paths import kit_root


@pytest.fixture(scope="module")
def pareto():
    spec = importlib.util.spec_from_file_location("bench_pareto", kit_root() / "bench" / "pareto.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _row(**kw):
    row = {"point": "p", "network": "400-64-64-10 W4A4", "python_accuracy": 0.981, "estimated_fps": 1e6,
           "dsp": 148.0, "dsp_pct": 67.3, "finn_lut": 6656.0, "finn_bram": 38.0, "images": 10_000,
           "synth": None}
    return row | kw


def test_table_says_what_was_measured_and_what_was_not(pareto):
    rtl = _row(point="rtl", rtl_accuracy=0.9919, measured_fps=102_040.8, measured_latency_cycles=1500,
               measured_latency_us=15.0, bit_exact=False, bit_exact_images=9_999,
               synth={"LUT": 20_000, "FF": 30_000, "BRAM_18K": 60, "DSP": 72},
               synth_pct={"LUT": 37.6, "FF": 28.2, "BRAM_18K": 21.4, "DSP": 32.7})
    hls = _row(point="hls", python_accuracy=0.9538)
    lines = pareto.table([rtl, hls]).splitlines()
    assert len(lines) == 4 and lines[1].count("---") == lines[0].count("|") - 1
    assert "99.19%" in lines[2] and "102,041" in lines[2] and "NO (9,999/10,000)" in lines[2]
    assert "20,000 (38%)" in lines[2] and "1500 cycles (15.00 us)" in lines[2]
    assert "95.38% (Python; HLS)" in lines[3] and "n/a (HLS)" in lines[3]
    assert "not synthesized (FINN est. 6,656)" in lines[3]


def test_trained_points_use_the_default_recipe_and_are_cached_by_config(pareto):
    trained = [p for p in pareto.POINTS if p.source == "train"]
    assert trained and all(p.target_fps >= 100_000 for p in trained)
    wide = trained[0]
    assert train.recipe(pareto.config(wide)) == train.DEFAULT_RECIPE
    narrow = pareto.Point("x", "x", "train", hidden=(64, 64))
    assert pareto.train_key(wide) == pareto.train_key(wide) != pareto.train_key(narrow)
    assert pareto.train_key(wide) != pareto.train_key(pareto.Point(**{**wide.__dict__, "seed": 1}))


def test_plot_and_unknown_point(pareto, tmp_path: Path, capsys):
    path = pareto.plot([_row(measured_fps=1e6, rtl_accuracy=0.984), _row(point="w1a1")], tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pareto.main(["--only", "nope", "--out", str(tmp_path)]) == 1
    assert "choose from w1a1" in capsys.readouterr().out
    assert pareto.main(["--report", "--out", str(tmp_path / "empty")]) == 1
    assert "no rows in" in capsys.readouterr().out
