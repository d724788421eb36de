"""The student-notebook generator: placeholders, tags, banner, determinism, and labs/ up to date."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from course_utils.authoring.notebooks import (
    AuthoringError,
    find_exercises,
    generate,
    strip_code,
    student_version,
)

ROOT = Path(__file__).resolve().parent.parent


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, src, *tags in cells:
        cell = nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
        if tags:
            cell.metadata["tags"] = list(tags)
        cell.id = f"c{len(nb.cells)}"
        nb.cells.append(cell)
    return nb


BLOCK = """# Exercise 2.1: implement symmetric quantization
def quantize(x, bits):
    \"\"\"doc\"\"\"
    # BEGIN SOLUTION
    qmax = 2 ** (bits - 1) - 1
    return qmax
    # END SOLUTION

bits = 4  # SOLUTION
layer = make(
    bits=4,  # SOLUTION
    name="fc")
"""


def test_block_and_line_placeholders_are_valid_python_and_name_the_exercise():
    out = strip_code(BLOCK, "2.1", "implement symmetric quantization", "t")
    ast.parse(out)
    assert "qmax" not in out
    assert "raise NotImplementedError('Exercise 2.1: implement symmetric quantization')" in out
    assert "bits = ...  # Exercise 2.1" in out
    assert "    bits=...,  # Exercise 2.1" in out
    ns: dict = {}
    exec(out.replace("layer = make", "layer = dict"), ns)
    with pytest.raises(NotImplementedError, match="Exercise 2.1"):
        ns["quantize"](1.0, 4)


def test_return_line_becomes_raise():
    src = "# Exercise 1.1: scale\ndef scale(x):\n    return x / 2  # SOLUTION\n"
    out = strip_code(src, "1.1", "scale", "t")
    assert "raise NotImplementedError('Exercise 1.1: scale')" in out
    ast.parse(out)


@pytest.mark.parametrize("src, msg", [
    ("# Exercise 1.1: a\n# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("# Exercise 1.1: a\n# END SOLUTION\n", "without BEGIN"),
    ("# Exercise 1.1: a\n# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "nested"),
])
def test_bad_markers_are_reported(src, msg):
    with pytest.raises(AuthoringError, match=msg):
        strip_code(src, "1.1", "a", "nb.ipynb, cell 3")


def test_markers_without_header_are_rejected():
    nb = _nb(("code", "x = 1  # SOLUTION"))
    with pytest.raises(AuthoringError, match="# Exercise N.k"):
        find_exercises(nb, "solutions/x.ipynb")


def test_student_version_tags_banner_outputs_and_solution_only():
    nb = _nb(("markdown", "# Lab 1.2"), ("code", BLOCK),
             ("code", "checks.lab1.ex_2_1(quantize)", "checkpoint"),
             ("code", "secret = 42", "solution-only"),
             ("markdown", "**Exercise 2.2 (question).** Why?\n"
                          "<!-- BEGIN SOLUTION -->Because.<!-- END SOLUTION -->"))
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nb.cells[1].execution_count = 3
    nb.metadata["widgets"] = {"state": {}}
    st = student_version(nb, "solutions/lab1_qat/02_x.ipynb")
    assert st.cells[0].metadata["tags"] == ["generated-banner"]
    assert "solutions/lab1_qat/02_x.ipynb" in st.cells[0].source
    assert all("secret" not in c.source for c in st.cells)
    code = st.cells[2]
    assert code.outputs == [] and code.execution_count is None
    assert "exercise-2.1" in code.metadata["tags"]
    assert st.cells[3].metadata["tags"] == ["checkpoint"]
    assert "Because" not in st.cells[-1].source
    assert st.cells[-1].source.endswith("*Your answer here (Exercise 2.2).*")
    assert "widgets" not in st.metadata


def test_markdown_answers_carry_their_own_exercise_number():
    """A written answer after code exercise 4.3 is Exercise 4.4, not "4.3" (the Lab 1.4 bug)."""
    nb = _nb(("code", BLOCK.replace("2.1", "4.3")),
             ("markdown", "**Exercise 4.4 (question).** Which bit width?\n\n<!-- BEGIN SOLUTION -->\nW4A4.\n"
                          "<!-- END SOLUTION -->"),
             ("code", "y = 2"),
             ("markdown", "**Exercise 4.5 (question).** And why?\n"
                          "<!-- BEGIN SOLUTION -->DSPs.<!-- END SOLUTION -->"))
    assert [ex.id for ex in find_exercises(nb, "x.ipynb")] == ["4.3"]
    st = student_version(nb, "solutions/lab1_qat/04_x.ipynb")
    answers = [c.source for c in st.cells if c.cell_type == "markdown" and "Your answer" in c.source]
    assert answers == ["**Exercise 4.4 (question).** Which bit width?\n\n*Your answer here (Exercise 4.4).*",
                       "**Exercise 4.5 (question).** And why?\n*Your answer here (Exercise 4.5).*"]
    assert "W4A4" not in str(st.cells) and "DSPs" not in str(st.cells)


@pytest.mark.parametrize("md, msg", [
    ("**Question.** Why?\n<!-- BEGIN SOLUTION -->x<!-- END SOLUTION -->", "its own exercise number"),
    ("**Exercise 4.3 (question).** Why?\n<!-- BEGIN SOLUTION -->x<!-- END SOLUTION -->",
     "give it its own number"),
])
def test_markdown_answer_without_its_own_number_is_rejected(md, msg):
    nb = _nb(("code", BLOCK.replace("2.1", "4.3")), ("markdown", md))
    with pytest.raises(AuthoringError, match=msg):
        find_exercises(nb, "solutions/x.ipynb")


def test_two_markdown_answers_with_one_number_are_rejected():
    md = "**Exercise 1.5 (question).** Why?\n<!-- BEGIN SOLUTION -->x<!-- END SOLUTION -->"
    with pytest.raises(AuthoringError, match="already the markdown answer of cell 0"):
        find_exercises(_nb(("markdown", md), ("markdown", md)), "solutions/x.ipynb")


def test_shipped_lab1_written_answers_are_numbered_by_their_own_exercise():
    for name, ex in (("03_post_training_quantization", "3.4"), ("04_qat_with_brevitas", "4.4")):
        nb = nbformat.read(ROOT / "labs" / "lab1_qat" / f"{name}.ipynb", as_version=4)
        prompts = [c.source for c in nb.cells if "*Your answer here" in c.source]
        assert len(prompts) == 1 and prompts[0].startswith(f"**Exercise {ex} (question).**"), prompts
        assert prompts[0].endswith(f"*Your answer here (Exercise {ex}).*"), prompts


def test_generate_is_deterministic_and_removes_orphans(tmp_path):
    (tmp_path / "solutions" / "lab9").mkdir(parents=True)
    nb = _nb(("code", BLOCK))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="x")]
    nbformat.write(nb, tmp_path / "solutions" / "lab9" / "01_a.ipynb")
    orphan = tmp_path / "labs" / "lab9" / "99_old.ipynb"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("{}")
    first = generate(tmp_path)
    assert first["stripped"] == ["solutions/lab9/01_a.ipynb"]
    assert first["removed"] == ["labs/lab9/99_old.ipynb"]
    text = (tmp_path / "labs" / "lab9" / "01_a.ipynb").read_bytes()
    again = generate(tmp_path)
    assert again["written"] == [] and again["stripped"] == []
    assert (tmp_path / "labs" / "lab9" / "01_a.ipynb").read_bytes() == text


def test_labs_folder_matches_solutions():
    res = subprocess.run([sys.executable, "-m", "course_utils.cli", "labs", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _notebooks(folder: str):
    return sorted((ROOT / folder).rglob("*.ipynb"))


@pytest.mark.parametrize("path", _notebooks("labs"), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_student_code_cell_parses(path):
    nb = nbformat.read(path, as_version=4)
    tm = TransformerManager()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                ast.parse(tm.transform_cell(cell.source))
            except SyntaxError as err:
                pytest.fail(f"{path.name} cell {i} does not parse: {err}")


@pytest.mark.parametrize("path", _notebooks("solutions") + _notebooks("lectures"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebooks_have_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `course labs` (it strips them)"
