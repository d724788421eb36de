"""Build the notebook the grader executes: the student's cells, with the solution's checks injected.

Every checkpoint cell of the submission is dropped and replaced by the solution's checkpoint of
the same exercise (placed after the student's last answer cell of that exercise, found by its
``exercise-N.k`` tag or its ``# Exercise N.k:`` header), followed by the exercise's hidden tests.
An exercise whose answer cell was deleted gets its checks after the previous exercise's, so a
student editing or deleting checkpoint cells cannot change what is checked.
"""
from __future__ import annotations

import ast
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from course_utils.authoring.grading_config import ExerciseRule, LabConfig
from course_utils.authoring.notebooks import BANNER_TAG, exercise_header

GRADER_MIME = "application/vnd.course-grader.result+json"
GRADER_META = "course_grader"
CHECKPOINT_TAG = "checkpoint"
SKIP_TAGS = ("nbval-skip",)
_CHECKS_RE = re.compile(r"\bchecks\.(\w+)\.")
_TAG_RE = re.compile(r"^exercise-(\d+\.\d+[a-z]?)$")
HARNESS_PATH = Path(__file__).with_name("_harness.py")
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024

class SubmissionError(ValueError):
    """The submission cannot be graded at all (not a notebook); the message says why."""


@dataclass
class SolutionSpec:
    """What the grader takes from one solution notebook."""

    path: Path
    stem: str
    kernel: str
    exercises: list[str]
    checkpoints: dict[str, list[str]]
    check_modules: list[str]
    answer_sources: dict[str, str] = field(default_factory=dict)


@dataclass
class InjectedCell:
    """One check the grader injected: which exercise and part, and its points."""

    exercise: str
    part: str
    points: float
    index: int = -1


@dataclass
class GradingNotebook:
    """The merged notebook, its injected checks, and notes about the submission."""

    nb: nbformat.NotebookNode
    injected: list[InjectedCell]
    nonce: str
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    origin: dict[int, int] = field(default_factory=dict)

    def describe(self, index: int) -> str:
        """How to name merged cell ``index`` to the student: their cell number, or the injected check."""
        if index in self.origin:
            cell = self.nb.cells[index]
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")[:60]
            return f"cell {self.origin[index]} of your notebook (`{first}`)"
        inj = next((i for i in self.injected if i.index == index), None)
        return f"the grader's check of Exercise {inj.exercise} ({inj.part})" if inj else f"cell {index + 1}"


def _metadata(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {})
    return meta if isinstance(meta, dict) else {}


def _tags(cell: Any) -> list[str]:
    tags = _metadata(cell).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def cell_exercise(cell: Any) -> str | None:
    """The exercise an answer cell belongs to: its ``exercise-N.k`` tag, else its header line."""
    for tag in _tags(cell):
        m = _TAG_RE.match(tag)
        if m:
            return m.group(1)
    if cell.get("cell_type") == "code" and isinstance(cell.get("source"), str):
        header = exercise_header(cell["source"])
        if header:
            return header[0]
    return None


def read_solution(path: Path, default_kernel: str | None = None) -> SolutionSpec:
    """Exercises (in order), checkpoint sources per exercise and kernel of a solution notebook."""
    nb = nbformat.read(path, as_version=4)
    exercises: list[str] = []
    checkpoints: dict[str, list[str]] = {}
    answers: dict[str, list[str]] = {}
    current: str | None = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if CHECKPOINT_TAG in _tags(cell):
            if current is None:
                raise ValueError(f"{path}, cell {i}: checkpoint cell before any '# Exercise N.k:' cell")
            checkpoints.setdefault(current, []).append(cell.source)
            continue
        header = exercise_header(cell.source)
        if header:
            current = header[0]
            if current not in exercises:
                exercises.append(current)
            answers.setdefault(current, []).append(cell.source)
    kernel = default_kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    modules = sorted({m for srcs in checkpoints.values() for s in srcs for m in _CHECKS_RE.findall(s)})
    return SolutionSpec(path=path, stem=path.stem, kernel=kernel, exercises=exercises,
                        checkpoints=checkpoints, check_modules=modules,
                        answer_sources={k: "\n\n".join(v) for k, v in answers.items()})


def check_sources(package_dir: Path, modules: list[str]) -> dict[str, str]:
    """Source text of the checks modules (``_common`` first) from the kit's trusted package folder."""
    names = ["_common", *[m for m in modules if m != "_common"]]
    out = {}
    for name in names:
        path = package_dir / "checks" / f"{name}.py"
        if not path.exists():
            raise FileNotFoundError(f"checks module {path} not found: the solution's checkpoints call "
                                    f"checks.{name}; write course_utils/checks/{name}.py")
        out[f"course_utils.checks.{name}"] = path.read_text(encoding="utf-8")
    return out


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Parse a submitted notebook; raise SubmissionError saying why it cannot be graded."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SubmissionError(f"cannot read the file: {err.strerror}") from None
    if size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"the file is {size / 1e6:.0f} MB (limit {MAX_SUBMISSION_BYTES / 1e6:.0f} MB): "
                              "clear the outputs (Edit > Clear Outputs of All Cells) and submit again")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        nb = nbformat.from_dict(data)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no 'cells' list")
        nb = nbformat.convert(nb, 4) if nb.get("nbformat", 4) != 4 else nb
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError) as err:
        raise SubmissionError(f"not a Jupyter notebook ({type(err).__name__}: {str(err)[:200]}); "
                              "submit the .ipynb file saved by JupyterLab") from None
    return nb


def _harness_cell(args: dict[str, Any], meta: dict[str, Any]) -> nbformat.NotebookNode:
    """One injected cell: runs the harness source with ``args``."""
    header = (f"# Course grader: {meta['part']} of Exercise {meta['exercise']}, taken from the solutions.\n"
              "# (It replaced the checkpoint cell of the submission, if there was one.)\n")
    body = (f"exec(compile({HARNESS_PATH.read_text(encoding='utf-8')!r}, '<course-grader>', 'exec'), "
            f"{{'__name__': '__course_grader__', 'ARGS': {args!r}}})\n")
    cell = nbformat.v4.new_code_cell(header + body)
    cell.metadata = {GRADER_META: meta}
    cell.id = f"course-grader-{meta['exercise'].replace('.', '-')}-{meta['slot']}"
    return cell


def exercise_parts(spec: SolutionSpec, ex: str, rule: ExerciseRule) -> list[tuple[str, str, str, float]]:
    """(part, solution checkpoint source, probe code, points) of one exercise: the checkpoint part
    (feedback from the solution's checkpoint, points from the probe), then each hidden test."""
    sources = spec.checkpoints.get(ex, [])
    parts: list[tuple[str, str, str, float]] = []
    if sources or rule.probe:
        parts.append(("checkpoint", "\n".join(sources), rule.probe, rule.checkpoint))
    for h in rule.hidden:
        parts.append((f"hidden: {h.name}", "", h.code, h.points))
    return parts


def _injected_for(spec: SolutionSpec, ex: str, rule: ExerciseRule, nonce: str,
                  modules: dict[str, str]) -> list[tuple[nbformat.NotebookNode, InjectedCell]]:
    """The injected cells of one exercise: its checkpoint(s), then its hidden tests."""
    cells = []
    for slot, (part, check, probe, points) in enumerate(exercise_parts(spec, ex, rule)):
        args = {"nonce": nonce, "mime": GRADER_MIME, "exercise": ex, "part": part, "check": check,
                "probe": probe, "modules": modules}
        meta = {"exercise": ex, "part": part, "points": points, "slot": slot}
        cells.append((_harness_cell(args, meta), InjectedCell(ex, part, points)))
    return cells


def build(submission: nbformat.NotebookNode, spec: SolutionSpec, config: LabConfig,
          modules: dict[str, str], nonce: str | None = None) -> GradingNotebook:
    """Merge a submission with the solution's checks (see the module docstring)."""
    nonce = nonce or secrets.token_hex(16)
    notes: list[str] = []
    kept: list[Any] = []
    numbers: list[int] = []
    last_answer: dict[str, int] = {}
    solution_checks = {ex: "\n".join(s).strip() for ex, s in spec.checkpoints.items()}
    expected_checks = sum(len(v) for v in spec.checkpoints.values())
    seen_checks = 0
    settings = config.notebook(spec.stem).settings
    applied: set[str] = set()
    for number, cell in enumerate(submission.cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        if not isinstance(cell.get("source"), str):
            continue
        tags = _tags(cell)
        if cell["cell_type"] == "code" and (CHECKPOINT_TAG in tags or GRADER_META in _metadata(cell)):
            seen_checks += 1
            if cell["source"].strip() not in solution_checks.values():
                notes.append("A checkpoint cell was edited; the course's own check was used instead.")
            continue
        if cell["cell_type"] == "code" and any(t in tags for t in SKIP_TAGS):
            continue
        if BANNER_TAG in tags:
            continue
        clean = nbformat.from_dict({"cell_type": cell["cell_type"], "source": cell["source"],
                                    "metadata": {"tags": tags} if tags else {}, "id": f"student-{number}"})
        if clean.cell_type == "code":
            clean.outputs, clean.execution_count = [], None
            clean.source, changed = apply_settings(clean.source, settings)
            applied |= changed
        ex = cell_exercise(cell) if cell["cell_type"] == "code" else None
        kept.append(clean)
        numbers.append(number)
        if ex in spec.exercises:
            last_answer[ex] = len(kept) - 1
    if applied:
        notes.append("Graded with the notebook's own setting(s) "
                     + ", ".join(f"{k} = {settings[k]!r}" for k in sorted(applied))
                     + " (the shipped results are loaded instead of recomputed: the checks test your "
                     "functions, not a training run).")
    if seen_checks < expected_checks:
        notes.append(f"{expected_checks - seen_checks} checkpoint cell(s) were deleted; the course's checks "
                     "ran anyway.")
    missing = [ex for ex in spec.exercises if ex not in last_answer]
    if missing:
        notes.append("No answer cell found for exercise(s) " + ", ".join(missing)
                     + " (the cell starting '# Exercise N.k:' was deleted or renamed); "
                     "their checks ran anyway.")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": spec.kernel, "display_name": spec.kernel, "language": "python"},
                   "language_info": {"name": "python"}}
    inserts: dict[int, list[Any]] = {}
    position = -1
    for ex in spec.exercises:
        position = max(position, last_answer.get(ex, position))
        position = _after_needed_cells(kept, position, _used_names(solution_checks.get(ex, "")), spec)
        rule = config.exercise(spec.stem, ex)
        inserts.setdefault(position, []).extend(_injected_for(spec, ex, rule, nonce, modules))
    cells: list[Any] = []
    injected: list[InjectedCell] = []
    origin: dict[int, Any] = {}
    for pos in range(-1, len(kept)):
        if pos >= 0:
            origin[len(cells)] = numbers[pos]
            cells.append(kept[pos])
        for cell, inj in inserts.get(pos, []):
            inj.index = len(cells)
            cells.append(cell)
            injected.append(inj)
    nb.cells = cells
    sub_kernel = submission.get("metadata", {}).get("kernelspec", {})
    if isinstance(sub_kernel, dict) and sub_kernel.get("name") not in (None, spec.kernel):
        notes.append(f"The notebook asked for kernel '{sub_kernel.get('name')}'; "
                     f"it was graded with the course kernel '{spec.kernel}'.")
    return GradingNotebook(nb=nb, injected=injected, nonce=nonce, notes=notes, origin=origin)


def _used_names(source: str) -> set[str]:
    """Names a checkpoint reads (``checks.lab2.ex_0_4(unit_cycles, measured, ...)``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _assigned_names(source: str) -> set[str]:
    """Names a cell binds at its top level (assignments, loops, defs, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            single = (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, single) else [])
            for target in targets:
                found |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return found


def _after_needed_cells(kept: list[Any], position: int, names: set[str], spec: SolutionSpec) -> int:
    """Where an exercise's checks go: after its answer cell (``position``), or later, after the last cell
    before the next exercise's answer that binds a name the course's checkpoint reads (a measurement the
    notebook makes between the answer and its check, as ``measured`` in Lab 2.0's Exercise 0.4)."""
    best = position
    for j in range(position + 1, len(kept)):
        cell = kept[j]
        if cell.cell_type != "code":
            continue
        if cell_exercise(cell) in spec.exercises:
            break
        if names & _assigned_names(cell.source):
            best = j
    return best


def apply_settings(source: str, settings: dict[str, Any]) -> tuple[str, set[str]]:
    """Set the notebook's documented switches (``TRAIN = True`` ...) to the grading values: every
    top-level line assigning one of ``settings`` is replaced; returns the source and the names set."""
    if not settings:
        return source, set()
    lines, changed = source.split("\n"), set()
    for i, line in enumerate(lines):
        match = _SETTING_LINE.match(line)
        if match and match.group(1) in settings:
            name = match.group(1)
            lines[i] = f"{name} = {settings[name]!r}  # set by the grader (was: {line.strip()[:60]})"
            changed.add(name)
    return "\n".join(lines), changed


_SETTING_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


def unknown_exercises(spec: SolutionSpec, config: LabConfig) -> list[str]:
    """Exercise ids named in grading.toml for this notebook that the solution does not have."""
    return sorted(set(config.notebook(spec.stem).exercises) - set(spec.exercises))


def read_result(cell: Any, nonce: str, exercise: str, part: str) -> tuple[dict[str, Any] | None, str | None]:
    """The harness's message in an injected cell's outputs (the check's feedback and the probe's
    value, never a verdict), or (None, why none was accepted)."""
    found = []
    for out in cell.get("outputs", []):
        data = out.get("data", {}) if isinstance(out, dict) else {}
        payload = data.get(GRADER_MIME)
        if isinstance(payload, dict) and payload.get("nonce") == nonce:
            found.append(payload)
    if len(found) > 1:
        return None, "more than one grader result in one check cell (the notebook interfered with the grader)"
    if not found:
        return None, None
    res = found[0]
    if res.get("exercise") != exercise or res.get("part") != part:
        return None, "the grader result does not match its cell (the notebook interfered with the grader)"
    return res, None
