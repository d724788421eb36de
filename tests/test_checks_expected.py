"""The Lab 1.2 checkpoints' precomputed expectations: built from the solution notebook, and not stale."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from course_utils.checks import _expected

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_expectations_equal_what_the_solution_computes_now():
    built = _expected.build(ROOT)
    stored = _expected.load()
    assert set(built) == set(stored), "stale: run `python -m course_utils.checks._expected`"
    for key, value in built.items():
        assert value.shape == stored[key].shape and value.dtype.kind == stored[key].dtype.kind, key
        if value.dtype.kind in "fc":
            assert np.allclose(value, stored[key], rtol=1e-12, atol=0), key
        else:
            assert np.array_equal(value, stored[key]), key


def test_expectations_come_from_the_solution_cells(tmp_path):
    nb = tmp_path / _expected.NOTEBOOK
    nb.parent.mkdir(parents=True)
    nb.write_text((ROOT / _expected.NOTEBOOK).read_text(encoding="utf-8").replace(
        "scale = np.abs(x).max() / qmax", "scale = 2 * np.abs(x).max() / qmax"), encoding="utf-8")
    built = _expected.build(tmp_path)
    assert np.allclose(built["2.1/scale1"], 2 * _expected.load()["2.1/scale1"])
    out = _expected.write(tmp_path, tmp_path / "e.npz")
    with np.load(out) as data:
        assert np.array_equal(data["2.2/q1"], built["2.2/q1"])


def test_missing_solution_or_file_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(_expected.ExpectationsMissing, match="built from the solutions"):
        _expected.build(tmp_path)
    monkeypatch.setattr(_expected, "FILE", tmp_path / "none.npz")
    _expected.load.cache_clear()
    try:
        with pytest.raises(_expected.ExpectationsMissing, match="python -m course_utils.checks._expected"):
            _expected.load()
    finally:
        monkeypatch.undo()
        _expected.load.cache_clear()


def test_lab2_00_expectations_equal_what_the_solution_computes_now():
    from course_utils.checks import _expected_lab2

    built, stored = _expected_lab2.build(ROOT), _expected_lab2.load()
    assert set(built) == set(stored), "stale: run `python -m course_utils.checks._expected_lab2`"
    for key, value in built.items():
        assert np.array_equal(value, stored[key]), f"{key} is stale: rebuild _expected_lab2"
