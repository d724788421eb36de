"""What to grade: the options, the students' submissions and the graded notebooks' plans.

``discover`` finds the students of a submissions folder (one folder per student, or
``<student>.ipynb`` when one notebook is graded); ``lab_folder`` / ``find_notebook`` find the solution
notebooks; ``plan_notebook`` reads one solution notebook with its ``grading.toml`` rules and the
effective limits. Nothing here runs code: a bad folder or configuration raises ``GradingError``
with what to do, before any sandbox starts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from course_utils.authoring import grading_notebook as gnb
from course_utils.authoring.grading_config import LabConfig, Limits

_SAFE_RE = re.compile(r"[^A-Za-z0-9._@+-]+")
_INT_LIMITS = ("memory_mb", "file_mb", "output_kb", "disk_mb", "processes")


class GradingError(RuntimeError):
    """Grading cannot start (bad arguments, configuration or kit); the message says what to do."""


@dataclass
class Submission:
    """One student's files: notebook stem -> path (a stem missing from the dict was not submitted)."""

    student: str
    notebooks: dict[str, Path]
    notes: list[str] = field(default_factory=list)


@dataclass
class Options:
    """How to grade (what the command line sets)."""

    workers: int = 2
    resume: bool = False
    kernel_user: str | None = None
    keep_scratch: bool = False
    limits: dict[str, float] = field(default_factory=dict)
    scratch_root: Path | None = None
    progress: bool = True
    sandbox: str = "auto"        # "bwrap" (Linux, bubblewrap), "limits" (resource limits only), "auto"
    key_file: Path | None = None  # the HMAC key of the result files (default: verdict.default_key_file())
    cgroups: bool = True          # a pids (and memory) cgroup per notebook run where the grader may make one



@dataclass
class NotebookPlan:
    """One graded notebook: its solution spec and effective limits."""

    spec: gnb.SolutionSpec
    limits: Limits
    lab_folder: str


def safe_name(student: str) -> str:
    """A file-name-safe form of a student id."""
    return _SAFE_RE.sub("_", student).strip("._") or "student"



def lab_folder(kit_root: Path, lab: str) -> Path:
    """``solutions/lab<N>_*`` for ``lab`` = "1", "lab1" or a folder name such as "lab1_qat"."""
    sol = kit_root / "solutions"
    if (sol / lab).is_dir():
        return sol / lab
    number = lab.removeprefix("lab")
    matches = sorted(p for p in sol.glob(f"lab{number}_*") if p.is_dir())
    if len(matches) != 1:
        have = ", ".join(sorted(p.name for p in sol.iterdir() if p.is_dir())) if sol.is_dir() else "none"
        raise GradingError(f"no single solutions folder for lab {lab!r} in {sol} (found: {have}); "
                           "pass --lab with a folder name such as lab1_qat")
    return matches[0]


def find_notebook(kit_root: Path, name: str) -> Path:
    """A solution notebook from a path, ``lab1_qat/02_x``, or a unique stem such as ``02_x``."""
    direct = Path(name)
    if direct.suffix == ".ipynb" and direct.is_file() and "solutions" in direct.resolve().parts:
        return direct.resolve()
    stem = Path(name).name.removesuffix(".ipynb")
    parent = Path(name).parent.name
    hits = [p for p in (kit_root / "solutions").rglob(f"{stem}.ipynb")
            if ".ipynb_checkpoints" not in p.parts and (not parent or p.parent.name == parent)]
    if len(hits) != 1:
        raise GradingError(f"notebook {name!r}: {len(hits)} matching solution notebooks under "
                           f"{kit_root / 'solutions'}; name it as <lab folder>/<notebook>, e.g. "
                           "lab1_qat/02_quantization_maths")
    return hits[0]


def discover(submissions: Path, stems: list[str]) -> list[Submission]:
    """The students in ``submissions``: one folder per student, or ``<student>.ipynb`` for one notebook."""
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist")
    found: dict[str, Submission] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            sub = Submission(entry.name, {})
            files = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            for stem in stems:
                named = [p for p in files if p.stem == stem]
                if named:
                    sub.notebooks[stem] = min(named, key=lambda p: len(p.parts))
            if len(stems) == 1 and not sub.notebooks and len(files) == 1:
                sub.notebooks[stems[0]] = files[0]
                sub.notes.append(f"The notebook was named '{files[0].name}', not '{stems[0]}.ipynb'; "
                                 "it was graded as that notebook.")
        elif entry.suffix == ".ipynb" and len(stems) == 1:
            sub = Submission(entry.stem, {stems[0]: entry})
        else:
            continue
        key = safe_name(sub.student)
        if key in {safe_name(s) for s in found}:
            raise GradingError(f"two submissions map to the student id {key!r}: rename one of them")
        found[sub.student] = sub
    if not found:
        raise GradingError(f"no submissions in {submissions}: expected one folder per student "
                           "(<student>/<notebook>.ipynb) or <student>.ipynb files")
    return list(found.values())


# --------------------------------------------------------------------------- the grader


def plan_notebook(path: Path, config: LabConfig, limits: dict[str, float] | None = None) -> NotebookPlan:
    """The plan of one solution notebook: its exercises, checks and limits (``limits`` overrides
    ``grading.toml``'s, as ``--limit`` does); a notebook that cannot be graded raises ``GradingError``."""
    try:
        spec = gnb.read_solution(path, config.kernel)
    except (ValueError, OSError) as err:
        raise GradingError(f"cannot read the solution notebook: {err}") from None
    if not spec.exercises:
        raise GradingError(f"{path} has no '# Exercise N.k:' cells: nothing to grade")
    unknown = gnb.unknown_exercises(spec, config)
    if unknown:
        raise GradingError(f"{config.path} names exercise(s) {unknown} for {spec.stem}, which has "
                           f"only {spec.exercises}")
    no_probe = [ex for ex in spec.exercises if not config.exercise(spec.stem, ex).probe]
    if no_probe:
        where = config.path or path.parent / "grading.toml"
        raise GradingError(f"{where}: exercise(s) {no_probe} of {spec.stem} have no `probe` (code that "
                           "assigns `value`, compared with the solution's value outside the kernel): "
                           "they cannot be graded; see docs/grading.md")
    overrides: dict[str, Any] = {k: (int(v) if k in _INT_LIMITS else float(v))
                                 for k, v in (limits or {}).items() if v}
    return NotebookPlan(spec=spec, limits=replace(config.notebook(spec.stem).limits, **overrides),
                        lab_folder=path.parent.name)
