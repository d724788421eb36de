"""A student notebook with every exercise answered wrong in its most common way: each checkpoint names the
mistake (no generic fallback). Uses bench/wrong_answers.py on Lab 1.2 (the whole table: `make bench`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("wrong_answers", ROOT / "bench" / "wrong_answers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_lab1_2_wrong_answers_are_all_named():
    bench = _bench()
    rows = bench.run_notebook("lab1_qat/02_quantization_maths")
    assert sorted(r["exercise"] for r in rows) == ["2.1", "2.2", "2.3", "2.4", "2.5"], rows
    assert all(r["result"] == "named" for r in rows), rows
    assert rows[0]["message"] == "Exercise 2.1: truncation instead of rounding."


def test_every_wrong_answer_targets_an_exercise_of_its_notebook():
    import nbformat

    bench = _bench()
    for name, answers in bench.WRONG.items():
        nb = nbformat.read(ROOT / "labs" / f"{name}.ipynb", as_version=4)
        tags = {t.removeprefix("exercise-") for c in nb.cells for t in c.metadata.get("tags", [])
                if t.startswith("exercise-")}
        assert set(answers) <= tags, (name, sorted(set(answers) - tags))
        for code in answers.values():
            compile(code, name, "exec")
