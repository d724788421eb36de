"""The student bundle carries no reference implementation of an exercise: a top-level definition named like
a helper an exercise asks students to write stops the release (``release.reference_leaks``)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import release as rel

ROOT = Path(__file__).resolve().parent.parent


def _kit(tmp_path: Path) -> Path:
    kit = tmp_path / "kit"
    (kit / "course_utils").mkdir(parents=True)
    (kit / "course_utils" / "__init__.py").write_text("")
    (kit / "lectures").mkdir()
    (kit / "pyproject.toml").write_text("")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Lab 9.1: tiny"), nbformat.v4.new_code_cell(
        "# Exercise 1.1: the mean of squares\ndef msq(values):\n"
        "    return sum(v * v for v in values) / len(values)  # SOLUTION\n")]
    (kit / "solutions" / "lab9_tiny").mkdir(parents=True)
    nbformat.write(nb, kit / "solutions" / "lab9_tiny" / "01_tiny.ipynb")
    return kit


def test_the_exercise_helpers_are_read_from_the_solutions(tmp_path):
    assert rel.exercise_helpers(_kit(tmp_path)) == {"msq": "solutions/lab9_tiny/01_tiny.ipynb, Exercise 1.1"}
    helpers = rel.exercise_helpers(ROOT)
    for name in ("quantize_symmetric", "dequantize", "sqnr_db", "int_linear", "quantize_weights",
                 "weight_memory_bits", "run_qonnx", "pack_image", "unpack_output", "MyQNN"):
        assert name in helpers, name
    assert len(helpers) >= 36


@pytest.mark.parametrize("code", [
    "def msq(xs):\n    return sum(x * x for x in xs) / len(xs)\n",        # the answer, same name
    "import numpy as np\n\n\ndef _msq(xs):\n    return float(np.mean(np.square(xs)))\n",  # private, rewritten
    "msq = lambda xs: sum(x * x for x in xs) / len(xs)\n",               # an assignment
])
def test_a_reference_implementation_stops_the_release(tmp_path, code):
    kit = _kit(tmp_path)
    (kit / "course_utils" / "maths.py").write_text(code)
    what = "reference implementation of solutions/lab9_tiny/01_tiny.ipynb, Exercise 1.1"
    with pytest.raises(rel.ReleaseError, match=re.escape(what)) as e:
        rel.release(kit, tmp_path / "out")
    assert "course_utils/maths.py:" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_other_names_and_nested_definitions_are_fine(tmp_path):
    kit = _kit(tmp_path)
    (kit / "course_utils" / "maths.py").write_text(
        "def mean_square_error(a, b):\n    def msq(xs):\n        return xs\n    return msq(a)\n")
    rel.release(kit, tmp_path / "out")
    assert (tmp_path / "out" / "course_utils" / "maths.py").exists()


def test_the_kit_itself_ships_no_exercise_helper():
    """What the real bundle would fail on, without building it (test_release builds it and scans it all)."""
    helpers = rel.exercise_helpers(ROOT)
    files = [p for d in ("course_utils", "scripts", "tests/board") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 50
    leaks = rel.reference_leaks(ROOT, helpers, files)
    assert not leaks, "\n".join(map(str, leaks))
