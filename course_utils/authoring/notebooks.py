"""Generate the student notebooks (``labs/``) from the reference solutions (``solutions/``).

Conventions (see docs/AUTHORING.md):

* An answer cell starts with a header line ``# Exercise 2.3: <what to do>`` and marks its answer
  code with ``# BEGIN SOLUTION`` / ``# END SOLUTION`` around a block, or ``# SOLUTION`` at the end
  of a line. A block becomes ``raise NotImplementedError("Exercise 2.3: <what to do>")`` at the
  block's indentation; a marked line ``x = <answer>`` becomes ``x = ...``.
* Markdown answers sit between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` in a cell whose
  first line names its own exercise (``**Exercise 4.4 (question).** Which bit width ...``); the student
  sees ``*Your answer here (Exercise 4.4).*``. Its number must not be a code exercise's.
* Cells tagged ``solution-only`` are dropped from the student version.
* Every answer cell gets the tag ``exercise-2.3`` (the grader finds answers by tag).
* Checkpoint cells are tagged ``checkpoint`` and stay as they are.
* Outputs and volatile metadata are stripped; a banner cell says the file is generated.

Only ``nbformat`` is needed; the output is byte-for-byte deterministic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.fileio import write_text_atomic

EXERCISE_RE = re.compile(r"^\s*#\s*Exercise\s+(\d+\.\d+[a-z]?)\s*:\s*(.+?)\s*$")
BEGIN_RE = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\b")
END_RE = re.compile(r"^\s*#\s*END SOLUTION\b")
LINE_RE = re.compile(r"\s*#\s*SOLUTION\s*$")
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
MD_EXERCISE_RE = re.compile(r"\bExercise\s+(\d+\.\d+[a-z]?)\b")
BANNER_TAG = "generated-banner"
KEEP_CELL_METADATA = ("tags", "slideshow", "editable", "deletable", "jupyter")
KEEP_NB_METADATA = ("kernelspec", "language_info", "course")


class AuthoringError(ValueError):
    """A solution notebook breaks the authoring conventions; the message names file and cell."""


@dataclass
class Exercise:
    """One exercise found in a solution notebook."""

    id: str
    title: str
    cells: list[int] = field(default_factory=list)


def exercise_header(source: str) -> tuple[str, str] | None:
    """``("2.3", "title")`` from the cell's first non-empty line ``# Exercise 2.3: title``."""
    for line in source.splitlines():
        if line.strip():
            m = EXERCISE_RE.match(line)
            return (m.group(1), m.group(2)) if m else None
    return None


def markdown_exercise(source: str, where: str) -> str | None:
    """The exercise a markdown answer cell names in its first non-empty line (``4.4``); None if the cell
    has no ``<!-- BEGIN SOLUTION -->``. Raises AuthoringError for an answer cell that names none."""
    if MD_BEGIN not in source:
        return None
    first = next((line for line in source.splitlines() if line.strip()), "")
    m = MD_EXERCISE_RE.search(first)
    if m is None:
        raise AuthoringError(f"{where}: a markdown answer (<!-- BEGIN SOLUTION -->) needs its own exercise "
                             "number in its first line, e.g. '**Exercise 4.4 (question).** ...'")
    return m.group(1)


def has_markers(source: str) -> bool:
    """True if a code cell contains solution markers."""
    return any(BEGIN_RE.match(line) or LINE_RE.search(line) for line in source.splitlines())


def _placeholder_line(line: str, ex_id: str, title: str) -> str:
    """``x = <answer>  # SOLUTION`` -> ``x = ...``; ``return <answer>`` -> ``raise NotImplementedError``.

    A keyword-argument line keeps its trailing comma (``bits=4,`` -> ``bits=...,``).
    """
    code = LINE_RE.sub("", line)
    indent = code[: len(code) - len(code.lstrip())]
    body = code.strip()
    note = f"  # Exercise {ex_id}: your code here"
    if body == "return" or body.startswith("return "):
        return f"{indent}raise NotImplementedError({_message(ex_id, title)})"
    m = re.match(r"^([A-Za-z_][\w\.\[\]'\", ]*?\s*(?:[+\-*/]?=)(?!=)\s*)(.*?)(,?)$", body)
    if m:
        return f"{indent}{m.group(1)}...{m.group(3)}{note}"
    return f"{indent}...{note}"


def _message(ex_id: str, title: str) -> str:
    """The Python literal of the NotImplementedError message naming the exercise."""
    return repr(f"Exercise {ex_id}: {title}")


def strip_code(source: str, ex_id: str, title: str, where: str) -> str:
    """Replace the solution parts of one answer cell with valid-Python placeholders."""
    out: list[str] = []
    inside: str | None = None
    for n, line in enumerate(source.splitlines(), 1):
        begin = BEGIN_RE.match(line)
        if inside is not None:
            if begin:
                raise AuthoringError(f"{where}: nested '# BEGIN SOLUTION' at line {n}")
            if END_RE.match(line):
                inside = None
            continue
        if begin:
            inside = begin.group(1)
            out.append(f"{inside}# YOUR CODE HERE (Exercise {ex_id})")
            out.append(f"{inside}raise NotImplementedError({_message(ex_id, title)})")
            continue
        if END_RE.match(line):
            raise AuthoringError(f"{where}: '# END SOLUTION' without BEGIN at line {n}")
        out.append(_placeholder_line(line, ex_id, title) if LINE_RE.search(line) else line)
    if inside is not None:
        raise AuthoringError(f"{where}: '# BEGIN SOLUTION' is never closed")
    return "\n".join(out)


def strip_markdown(source: str, where: str) -> str:
    """Replace ``<!-- BEGIN SOLUTION -->...<!-- END SOLUTION -->`` with an answer prompt naming the cell's
    own exercise (:func:`markdown_exercise`)."""
    if source.count(MD_BEGIN) != source.count(MD_END):
        raise AuthoringError(f"{where}: unbalanced markdown solution markers")
    prompt = f"*Your answer here (Exercise {markdown_exercise(source, where)}).*"
    return re.sub(re.escape(MD_BEGIN) + r".*?" + re.escape(MD_END), prompt, source, flags=re.S)


def _clean_cell(cell: nbformat.NotebookNode) -> None:
    cell.metadata = {k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata}
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.pop("attachments", None) if cell.cell_type == "code" else None


def clean_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs, execution counts and volatile metadata in place; return the notebook."""
    nb.metadata = {k: nb.metadata[k] for k in KEEP_NB_METADATA if k in nb.metadata}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    for cell in nb.cells:
        _clean_cell(cell)
    return nb


def find_exercises(nb: nbformat.NotebookNode, where: str) -> list[Exercise]:
    """The code exercises of a solution notebook, in order; raise AuthoringError on bad markup.

    Markdown answers are checked too: each names its own exercise, one that is not a code exercise's.
    """
    found: dict[str, Exercise] = {}
    written: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            md_id = markdown_exercise(cell.source, f"{where}, cell {i}")
            if md_id is not None:
                if md_id in written:
                    raise AuthoringError(f"{where}, cell {i}: Exercise {md_id} is already the markdown "
                                         f"answer of cell {written[md_id]}")
                written[md_id] = i
            continue
        if cell.cell_type != "code":
            continue
        header = exercise_header(cell.source)
        if has_markers(cell.source) and header is None:
            raise AuthoringError(f"{where}, cell {i}: solution markers without a first line "
                                 "'# Exercise N.k: <what to do>'")
        if header:
            ex = found.setdefault(header[0], Exercise(header[0], header[1]))
            ex.cells.append(i)
    for md_id, i in written.items():
        if md_id in found:
            raise AuthoringError(f"{where}, cell {i}: the markdown answer says Exercise {md_id}, which is "
                                 f"the code exercise of cell {found[md_id].cells[0]}; give it its own number")
    return list(found.values())


def student_version(nb: nbformat.NotebookNode, source_rel: str) -> nbformat.NotebookNode:
    """The student notebook for a (cleaned) solution notebook."""
    nb = nbformat.from_dict(nb)
    clean_notebook(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        tags = list(cell.metadata.get("tags", []))
        where = f"{source_rel}, cell {i}"
        if "solution-only" in tags or BANNER_TAG in tags:
            continue
        if cell.cell_type == "code":
            header = exercise_header(cell.source)
            if header:
                if has_markers(cell.source):
                    cell.source = strip_code(cell.source, header[0], header[1], where)
                tag = f"exercise-{header[0]}"
                if tag not in tags:
                    tags.append(tag)
        elif cell.cell_type == "markdown" and MD_BEGIN in cell.source:
            cell.source = strip_markdown(cell.source, where)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)
    banner = nbformat.v4.new_markdown_cell(
        "> **Your notebook.** Run the cells from the top, write your code where a cell says `# Exercise`, "
        "and run the checkpoint below each exercise: it says *passed*, or what is wrong with an example and "
        "a hint. Save often (Ctrl+S). To start an exercise again, copy its cell from a fresh copy of the kit "
        f"(instructors: this file is generated from `{source_rel}` by `course labs`).")
    banner.id = "generated-banner"
    banner.metadata = {"tags": [BANNER_TAG]}
    nb.cells = [banner, *cells]
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> bool:
    """Write ``nb`` deterministically; return True if the file changed."""
    text = nbformat.writes(nb, version=4) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text)
    return True


def solution_notebooks(root: Path) -> list[Path]:
    """Every solution notebook under ``root/solutions`` (checkpoint folders excluded)."""
    return sorted(p for p in (root / "solutions").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def generate(root: Path, out_dir: Path | None = None, strip_solutions: bool = True) -> dict[str, list[str]]:
    """Regenerate ``labs/`` (or ``out_dir``) from ``solutions/``.

    Returns ``{"written": [...], "unchanged": [...], "stripped": [...], "removed": [...]}``
    (paths relative to the kit root). Solution notebooks with outputs are cleaned in place when
    ``strip_solutions`` is set. Student notebooks without a solution are removed.
    """
    out_dir = out_dir or root / "labs"
    result: dict[str, list[str]] = {"written": [], "unchanged": [], "stripped": [], "removed": []}
    expected = set()
    for src in solution_notebooks(root):
        rel = src.relative_to(root / "solutions")
        src_rel = f"solutions/{rel.as_posix()}"
        nb = nbformat.read(src, as_version=4)
        find_exercises(nb, src_rel)
        cleaned = clean_notebook(nbformat.from_dict(nb))
        if strip_solutions and write_notebook(cleaned, src):
            result["stripped"].append(src_rel)
        dest = out_dir / rel
        expected.add(dest.resolve())
        changed = write_notebook(student_version(cleaned, src_rel), dest)
        result["written" if changed else "unchanged"].append(str(dest.relative_to(out_dir.parent)))
    if out_dir.exists():
        for old in out_dir.rglob("*.ipynb"):
            if old.resolve() not in expected and ".ipynb_checkpoints" not in old.parts:
                old.unlink()
                result["removed"].append(str(old.relative_to(out_dir.parent)))
    return result
