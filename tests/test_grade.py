"""The grader: configuration, merging the solution's checks into submissions, the result channel,
sandbox limits, gradebook/feedback, resume and interruption (on a small synthetic lab), and the
Lab 1 corpus graded with its expected scores (slow)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import grade_scoring as scoring
from course_utils.authoring import grading_notebook as gnb
from course_utils.authoring.grade import (
    FLAG_PROCESSES,
    FLAG_REFUTED,
    Grader,
    GradingError,
    Options,
    discover,
    gradebook_csv,
    kernel_user_problem,
)
from course_utils.authoring.grade_inputs import plan_notebook
from course_utils.authoring.grading_config import GradingConfigError, LabConfig, load_config, parse_config
from course_utils.authoring.notebooks import generate

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(__file__).resolve().parent / "grading_corpus"

CHECKS_LAB9 = '''
from course_utils.checks._common import call, not_done, passed, require


def ex_1_1(fn):
    got = call("1.1", fn, 3)
    require("1.1", got == 6, f"double(3) returned {got!r}, expected 6.", "multiply by 2.")
    passed("1.1", "double works")


def ex_1_2(fn):
    got = call("1.2", fn, [5, -5, 1], 0, 2)
    require("1.2", list(got) == [2, 0, 1], f"clip gave {got!r}.", "use min and max.")
    passed("1.2", "clip works")


def ex_1_3(scale):
    not_done("1.3", scale, "scale")
    require("1.3", scale == 0.5, f"scale is {scale!r}.", "half of one.")
    passed("1.3", "scale is right")
'''

GRADING_TOML = '''
datasets = []
[limits]
cell_timeout = 8
total_timeout = 60
[notebooks."01_demo".exercises."1.1"]
checkpoint = 2
probe = "value = [double(3), double(-2.5)]"
[notebooks."01_demo".exercises."1.2"]
checkpoint = 1
probe = "value = clip([5, -5, 1], 0, 2)"
[[notebooks."01_demo".exercises."1.2".hidden]]
name = "clips to the upper bound"
points = 1
hint = "clip([10], 0, 3) should give [3]"
code = """
value = clip([10], 0, 3)
"""
[notebooks."01_demo".exercises."1.3"]
probe = "value = scale"
'''

ANSWERS = {
    "1.1": "# Exercise 1.1: double a number\ndef double(x):\n    return 2 * x",
    "1.2": "# Exercise 1.2: clip a list\ndef clip(xs, lo, hi):\n    return [min(max(x, lo), hi) for x in xs]",
    "1.3": "# Exercise 1.3: the scale\nscale = 0.5",
}


@pytest.fixture(autouse=True)
def _grader_key(tmp_path_factory, monkeypatch):
    """The grader's HMAC key in a temp folder (never the user's config folder)."""
    monkeypatch.setenv("COURSE_GRADER_KEY_FILE", str(tmp_path_factory.getbasetemp() / "grader-hmac.key"))


def _cell(kind, src, *tags):
    cell = nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """A small kit: a copy of course_utils plus checks.lab9, one solution notebook, generated labs/."""
    root = tmp_path_factory.mktemp("kit")
    shutil.copytree(ROOT / "course_utils", root / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "course_utils" / "checks" / "lab9.py").write_text(CHECKS_LAB9)
    (root / "pyproject.toml").write_text("")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Lab 9.1: a demo"),
        _cell("code", "from course_utils import checks"),
        _cell("code", "# Exercise 1.1: double a number\ndef double(x):\n"
                      "    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"),
        _cell("code", "checks.lab9.ex_1_1(double)", "checkpoint"),
        _cell("code", "# Exercise 1.2: clip a list\ndef clip(xs, lo, hi):\n"
                      "    return [min(max(x, lo), hi) for x in xs]  # SOLUTION"),
        _cell("code", "checks.lab9.ex_1_2(clip)", "checkpoint"),
        _cell("code", "# Exercise 1.3: the scale\nscale = 0.5  # SOLUTION"),
        _cell("code", "checks.lab9.ex_1_3(scale)", "checkpoint"),
        _cell("markdown", "## Summary"),
    ]
    (root / "solutions" / "lab9_demo").mkdir(parents=True)
    nbformat.write(nb, root / "solutions" / "lab9_demo" / "01_demo.ipynb")
    (root / "solutions" / "lab9_demo" / "grading.toml").write_text(GRADING_TOML)
    generate(root)
    return root


def _student(kit: Path) -> nbformat.NotebookNode:
    return nbformat.read(kit / "labs" / "lab9_demo" / "01_demo.ipynb", as_version=4)


def _solved(kit: Path, exercises=("1.1", "1.2", "1.3")) -> nbformat.NotebookNode:
    nb = _student(kit)
    for cell in nb.cells:
        ex = gnb.cell_exercise(cell) if cell.cell_type == "code" else None
        if ex in exercises:
            cell.source = ANSWERS[ex]
    return nb


def _save(folder: Path, student: str, nb) -> Path:
    path = folder / student / "01_demo.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        nbformat.write(nb, path)
    return path


def _grader(kit: Path, out: Path, **options) -> Grader:
    options.setdefault("progress", False)
    return Grader(kit, [kit / "solutions" / "lab9_demo" / "01_demo.ipynb"], out, Options(**options))


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- configuration

def test_config_points_hidden_tests_limits_and_env(kit):
    cfg = load_config(kit / "solutions" / "lab9_demo")
    assert cfg.exercise("01_demo", "1.1").max_points == 2
    rule = cfg.exercise("01_demo", "1.2")
    assert rule.checkpoint == 1 and [h.name for h in rule.hidden] == ["clips to the upper bound"]
    assert rule.max_points == 2
    assert cfg.exercise("01_demo", "1.3").max_points == 1  # default_points
    assert cfg.notebook("01_demo").limits.cell_timeout == 8
    assert cfg.datasets == ()
    parsed = parse_config({"env": {"COURSE_QUICK": "1"}, "limits": {"memory_mb": 1024}}, Path("g.toml"))
    assert parsed.env == {"COURSE_QUICK": "1"} and parsed.limits.memory_mb == 1024
    assert load_config(kit / "labs").path is None  # no grading.toml: defaults


@pytest.mark.parametrize("data, message", [
    ({"limit": {}}, r"unknown top-level key\(s\) \['limit'\]"),
    ({"limits": {"cell_timeout": -1}}, r"limits.cell_timeout must be a number >= 1"),
    ({"limits": {"cell_timeout": 100, "total_timeout": 10}}, r"cell_timeout \(100 s\) is longer"),
    ({"notebooks": {"a": {"exercises": {"1.1": "two"}}}}, r"exercises.1.1 must be a number"),
    ({"notebooks": {"a": {"exercises": {"1.1": {"hidden": [{"points": 1}]}}}}}, r"needs a non-empty `code"),
    ({"notebooks": {"a": {"timeout": 3}}}, r"unknown key\(s\) \['timeout'\]"),
    ({"env": {"COURSE_ROOT": "/x"}}, r"\[env\] cannot set \['COURSE_ROOT'\]"),
    ({"env": {"X": 1}}, r"\[env\] values must be strings"),
    ({"notebooks": {"a": {"settings": {"TRAIN": [1]}}}}, r"notebooks.a.settings must map names"),
    ({"notebooks": {"a": {"settings": {"not a name": 1}}}}, r"notebooks.a.settings must map names"),
    ({"notebooks": {"a": {"processes": 0}}}, r"notebooks.a.processes must be a number >= 1"),
])
def test_config_errors_say_what_to_fix(data, message):
    with pytest.raises(GradingConfigError, match=message):
        parse_config(data, Path("solutions/lab9/grading.toml"))


def test_grader_rejects_config_naming_unknown_exercises(kit, tmp_path):
    lab = tmp_path / "solutions" / "lab9_demo"
    shutil.copytree(kit / "solutions" / "lab9_demo", lab)
    (lab / "grading.toml").write_text('[notebooks."01_demo".exercises]\n"1.9" = 3\n')
    with pytest.raises(GradingError, match=r"names exercise\(s\) \['1.9'\] for 01_demo"):
        Grader(tmp_path, [lab / "01_demo.ipynb"], tmp_path / "out", package_dir=kit / "course_utils")
    (lab / "grading.toml").write_text('[notebooks."99_nothing"]\ngraded = true\n')
    with pytest.raises(GradingError, match=r"names notebook\(s\) \['99_nothing'\]"):
        Grader(tmp_path, [lab / "01_demo.ipynb"], tmp_path / "out", package_dir=kit / "course_utils")


# --------------------------------------------------------------------------- merging the checks

def _spec_and_modules(kit):
    spec = gnb.read_solution(kit / "solutions" / "lab9_demo" / "01_demo.ipynb")
    return spec, gnb.check_sources(kit / "course_utils", spec.check_modules)


def test_read_solution_finds_exercises_checkpoints_and_kernel(kit):
    spec, modules = _spec_and_modules(kit)
    assert spec.exercises == ["1.1", "1.2", "1.3"]
    assert spec.checkpoints["1.2"] == ["checks.lab9.ex_1_2(clip)"]
    assert spec.kernel == "python3" and spec.check_modules == ["lab9"]
    assert list(modules) == ["course_utils.checks._common", "course_utils.checks.lab9"]


def test_build_replaces_edited_checkpoints_and_reinserts_deleted_ones(kit):
    spec, modules = _spec_and_modules(kit)
    cfg = load_config(kit / "solutions" / "lab9_demo")
    nb = _solved(kit)
    nb.metadata["kernelspec"] = {"name": "my-own-env", "display_name": "x", "language": "python"}
    check_cells = [i for i, c in enumerate(nb.cells) if "checkpoint" in c.metadata.get("tags", [])]
    nb.cells[check_cells[0]].source = "print('Exercise 1.1 passed')"          # edited
    nb.cells[check_cells[1]].metadata["tags"] = []                              # untagged: kept, harmless
    del nb.cells[check_cells[2]]                                                # deleted
    i13 = next(i for i, c in enumerate(nb.cells) if gnb.cell_exercise(c) == "1.3")
    del nb.cells[i13]                                                           # answer cell deleted too
    merged = gnb.build(nb, spec, cfg, modules, nonce="abc123")
    injected = [(i.exercise, i.part) for i in merged.injected]
    assert injected == [("1.1", "checkpoint"), ("1.2", "checkpoint"),
                        ("1.2", "hidden: clips to the upper bound"), ("1.3", "checkpoint")]
    sources = [c.source for c in merged.nb.cells]
    assert "print('Exercise 1.1 passed')" not in sources
    assert "generated-banner" not in json.dumps(merged.nb.cells[0].metadata)
    for inj in merged.injected:
        cell = merged.nb.cells[inj.index]
        assert cell.metadata[gnb.GRADER_META]["exercise"] == inj.exercise
        assert "'nonce': 'abc123'" in cell.source
    # 1.1's check right after its answer; 1.3's check (answer deleted) after 1.2's checks
    a11 = next(i for i, c in enumerate(merged.nb.cells) if gnb.cell_exercise(c) == "1.1")
    assert merged.injected[0].index == a11 + 1
    assert merged.injected[3].index == merged.injected[2].index + 1
    assert merged.nb.metadata["kernelspec"]["name"] == "python3"
    notes = " ".join(merged.notes)
    assert "checkpoint cell was edited" in notes and "were deleted" in notes
    assert "No answer cell found for exercise(s) 1.3" in notes and "'my-own-env'" in notes
    assert merged.describe(a11).startswith("cell ") and "# Exercise 1.1" in merged.describe(a11)


def test_settings_set_the_notebooks_own_switches_and_say_so():
    source = ("# the switch\nTRAIN = True  # False: load the shipped network\n"
              "if TRAIN == True:\n    TRAIN_X = 1")
    out, changed = gnb.apply_settings(source, {"TRAIN": False})
    lines = out.split("\n")
    assert changed == {"TRAIN"} and lines[0] == "# the switch" and lines[2:] == source.split("\n")[2:]
    assert lines[1].startswith("TRAIN = False  # set by the grader (was: TRAIN = True")
    ns: dict = {}
    exec(out, ns)  # still valid code, and the setting holds
    assert ns["TRAIN"] is False and "TRAIN_X" not in ns
    assert gnb.apply_settings("    TRAIN = True", {"TRAIN": False}) == ("    TRAIN = True", set())
    assert gnb.apply_settings(source, {}) == (source, set())


def test_checks_go_after_the_cells_that_make_what_the_checkpoint_reads(kit):
    """A notebook may compute what its checkpoint reads after the answer cell (Lab 2.0 measures cycles
    between Exercise 0.4 and its check): the check goes after that cell, never past the next answer."""
    spec, modules = _spec_and_modules(kit)
    cfg = load_config(kit / "solutions" / "lab9_demo")
    nb = _solved(kit)
    a11 = next(i for i, c in enumerate(nb.cells) if gnb.cell_exercise(c) == "1.1")
    nb.cells.insert(a11 + 1, nbformat.v4.new_code_cell("unrelated = 1"))
    nb.cells.insert(a11 + 2, nbformat.v4.new_code_cell("double = lambda x: 2 * x   # redefined after"))
    nb.cells.insert(a11 + 3, nbformat.v4.new_code_cell("print('after')"))
    merged = gnb.build(nb, spec, cfg, modules, nonce="abc123")
    cells = merged.nb.cells
    redefined = next(i for i, c in enumerate(cells) if c.source.startswith("double = lambda"))
    assert merged.injected[0].exercise == "1.1" and merged.injected[0].index == redefined + 1
    a12 = next(i for i, c in enumerate(cells) if gnb.cell_exercise(c) == "1.2")
    assert all(i.index < a12 for i in merged.injected if i.exercise == "1.1")


def test_answer_cells_are_found_by_tag_or_header(kit):
    spec, modules = _spec_and_modules(kit)
    nb = _solved(kit)
    for cell in nb.cells:  # tags lost (another editor) but headers kept
        cell.metadata.pop("tags", None) if gnb.cell_exercise(cell) else None
    nb.cells[4].metadata["tags"] = ["exercise-1.2"]
    nb.cells[4].source = "def clip(xs, lo, hi):\n    return xs"  # header removed, tag kept
    merged = gnb.build(nb, spec, LabConfig(path=None), modules)
    assert not any("No answer cell" in n for n in merged.notes)


@pytest.mark.parametrize("payloads, problem", [
    ([], None),
    ([{"nonce": "wrong", "exercise": "1.1", "part": "checkpoint", "passed": True}], None),
    ([{"nonce": "n", "exercise": "1.1", "part": "checkpoint", "passed": True}] * 2,
     "more than one grader result"),
    ([{"nonce": "n", "exercise": "1.2", "part": "checkpoint", "passed": True}], "does not match its cell"),
])
def test_results_need_the_nonce_and_exactly_one_per_cell(payloads, problem):
    cell = {"outputs": [{"output_type": "display_data", "data": {gnb.GRADER_MIME: p}} for p in payloads]}
    res, why = gnb.read_result(cell, "n", "1.1", "checkpoint")
    assert res is None and why == problem if problem is None else problem in why
    good = {"outputs": [{"output_type": "display_data", "data": {gnb.GRADER_MIME: {
        "nonce": "n", "exercise": "1.1", "part": "checkpoint", "passed": False, "message": "m"}}}]}
    assert gnb.read_result(good, "n", "1.1", "checkpoint")[0]["message"] == "m"


def test_bad_submissions_are_rejected_with_a_reason(tmp_path):
    (tmp_path / "a.ipynb").write_text("{not json")
    with pytest.raises(gnb.SubmissionError, match="not a Jupyter notebook"):
        gnb.read_submission(tmp_path / "a.ipynb")
    (tmp_path / "b.ipynb").write_text('{"cells": 3}')
    with pytest.raises(gnb.SubmissionError, match="no 'cells' list"):
        gnb.read_submission(tmp_path / "b.ipynb")


def test_discover_layouts(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice" / "work").mkdir(parents=True)
    (subs / "alice" / "work" / "01_demo.ipynb").write_text("{}")
    (subs / "bob").mkdir()
    (subs / "bob" / "01_demo (1).ipynb").write_text("{}")
    (subs / "carol.ipynb").write_text("{}")
    (subs / ".hidden").mkdir()
    found = {s.student: s for s in discover(subs, ["01_demo"])}
    assert sorted(found) == ["alice", "bob", "carol"]
    assert found["alice"].notebooks["01_demo"].parent.name == "work"
    assert "was named '01_demo (1).ipynb'" in found["bob"].notes[0]
    two = {s.student: s for s in discover(subs, ["01_demo", "02_more"])}
    assert "carol" not in two and "01_demo" not in two["bob"].notebooks
    with pytest.raises(GradingError, match="no submissions"):
        discover(subs / "bob", ["01_demo", "02_more"])
    (subs / "a b").mkdir()
    (subs / "a_b").mkdir()
    with pytest.raises(GradingError, match="map to the student id 'a_b'"):
        discover(subs, ["01_demo"])


# --------------------------------------------------------------------------- sandbox

def _sandboxed(code: str, *opts: str, tmp: Path) -> subprocess.CompletedProcess:
    sandbox = ROOT / "course_utils" / "authoring" / "sandbox.py"
    cmd = [sys.executable, "-I", "-S", str(sandbox), *opts, "--pidfile", str(tmp / "pid"), "--",
           sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=60)


def test_sandbox_limits_memory_and_file_size_and_writes_its_pid(tmp_path):
    res = _sandboxed("b = bytearray(800 * 2**20)", "--memory-mb", "300", tmp=tmp_path)
    assert res.returncode != 0 and "MemoryError" in res.stderr
    assert int((tmp_path / "pid").read_text()) > 0
    res = _sandboxed("open('f', 'wb').write(b'0' * 3 * 2**20)", "--file-mb", "1", tmp=tmp_path)
    assert "File too large" in res.stderr
    assert (tmp_path / "f").stat().st_size <= 2**20
    ok = _sandboxed("import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)",
                    "--memory-mb", "700", tmp=tmp_path)
    assert ok.returncode == 0 and ok.stdout.strip() == "700"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users")
def test_sandbox_drops_root_to_the_kernel_user():
    import pwd
    import tempfile
    nobody = pwd.getpwnam("nobody").pw_uid
    base = Path(tempfile.mkdtemp(prefix="sandbox-user-", dir="/tmp"))  # parents open to others
    try:
        os.chmod(base, 0o755)
        (base / "public.txt").write_text("public ok")
        secret = base / "secret"
        secret.mkdir(mode=0o700)
        (secret / "answers.txt").write_text("the answer")
        sandbox = ROOT / "course_utils" / "authoring" / "sandbox.py"
        script = f"id -u; cat {base / 'public.txt'}; echo; cat {secret / 'answers.txt'} || echo denied"
        cmd = [sys.executable, "-I", "-S", str(sandbox), "--user", "nobody", "--home", str(base),
               "--", "/bin/sh", "-c", script]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert res.stdout.split("\n")[:3] == [str(nobody), "public ok", "denied"], res.stdout + res.stderr
        # the kernel's connection file (root-only, like jupyter_client's) is handed over as a private copy
        conn = secret / "kernel-1.json"
        conn.write_text('{"key": "k"}')
        conn.chmod(0o600)
        home = base / "home"
        home.mkdir()
        cmd = [sys.executable, "-I", "-S", str(sandbox), "--user", "nobody", "--home", str(home),
               "--", "/bin/sh", "-c", 'cat "$2"; echo " from $2"', "sh", "-f", str(conn)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert res.stdout.strip() == f'{{"key": "k"}} from {home / ".kernel-connection.json"}', res.stderr
        assert (home / ".kernel-connection.json").stat().st_uid == nobody
    finally:
        shutil.rmtree(base)


# --------------------------------------------------------------------------- reports

def test_gradebook_csv_has_one_row_per_student_and_a_column_per_exercise():
    cols = [("01_demo", "1.1", "Exercise 1.1"), ("01_demo", "1.2", "Exercise 1.2")]
    rows = [{"student": "zed", "exercises": {"Exercise 1.1": 2.0, "Exercise 1.2": 0.5}, "total": 2.5,
             "max": 4, "status": "graded", "flags": ["touches the display machinery"],
             "peak_memory_mb": 181.4},
            {"student": "amy, jr", "exercises": {}, "total": 0, "max": 4, "status": "invalid", "flags": []}]
    table = list(csv.reader(io.StringIO(gradebook_csv(rows, cols))))
    assert table[0] == ["student", "Exercise 1.1", "Exercise 1.2", "total", "max", "status", "flags",
                        "peak_memory_mb"]
    assert table[1] == ["amy, jr", "0", "0", "0", "4", "invalid", "", ""]
    assert table[2] == ["zed", "2", "0.5", "2.5", "4", "graded", "touches the display machinery", "181"]


def test_scoring_decides_each_part_from_the_events_alone(kit):
    """grade_scoring is pure: a worker's events and the solution's values in, parts, flags and points out."""
    spec, modules = _spec_and_modules(kit)
    cfg = load_config(kit / "solutions" / "lab9_demo")
    merged = gnb.build(_solved(kit), spec, cfg, modules, nonce="n")
    plan = plan_notebook(spec.path, cfg)
    keys = [f"{i.exercise}|{i.part}" for i in merged.injected]
    assert keys == ["1.1|checkpoint", "1.2|checkpoint", "1.2|hidden: clips to the upper bound",
                    "1.3|checkpoint"]
    expected = {key: 2 for key in keys}
    cell = [i.index for i in merged.injected]
    events = [{"event": "started"},
              {"event": "cell", "index": cell[0], "result": {"value": 2, "check": {"passed": True}}},
              {"event": "cell", "index": cell[1], "result": {"value": 3, "check": {"passed": True}}},
              {"event": "cell", "index": cell[2], "timed_out": True},
              {"event": "stopped", "reason": "total_timeout", "index": cell[2]}]
    out = scoring.outcome(events, merged, plan, None, expected=expected, rules=scoring.part_rules(plan, cfg),
                          refused={"processes": 3})
    parts = out["parts"]
    assert [p["passed"] for p in parts] == [True, False, False, False]
    assert "your results differ from the expected ones" in parts[1]["reason"]
    assert "did not finish within" in parts[2]["reason"]
    assert parts[3]["reason"].startswith("not graded: the run stopped before this check")
    assert out["flags"] == sorted([FLAG_REFUTED, FLAG_PROCESSES])
    assert out["stopped"] == "total_timeout" and "total time limit" in out["stop_text"]
    assert "(3 refused)" in " ".join(out["problems"])
    columns = [(spec.stem, ex, f"Exercise {ex}") for ex in spec.exercises]
    result = scoring.score({"notebooks": [{"notebook": spec.stem, **out}]}, columns, 5.0)
    assert result["exercises"] == {"Exercise 1.1": 2.0, "Exercise 1.2": 0.0, "Exercise 1.3": 0.0}
    assert (result["total"], result["max"], result["status"]) == (2.0, 5.0, "incomplete")


# --------------------------------------------------------------------------- end to end (real kernels)

@pytest.mark.slow
def test_grading_a_small_lab_end_to_end(kit, tmp_path):
    subs = tmp_path / "submissions"
    _save(subs, "good", _solved(kit))
    _save(subs, "untouched", _student(kit))
    partial = _solved(kit)
    for cell in partial.cells:  # passes 1.2's checkpoint, fails its hidden test
        if gnb.cell_exercise(cell) == "1.2":
            cell.source = "# Exercise 1.2: clip a list\ndef clip(xs, lo, hi):\n    return [2, 0, 1]"
    _save(subs, "partial", partial)
    looping = _solved(kit)
    looping.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    _save(subs, "looping", looping)
    _save(subs, "garbage", b"\x00\x01 not a notebook")
    before = _tree_digest(subs)
    out = tmp_path / "out"
    grader = _grader(kit, out, workers=2)
    got = []
    results = {r["student"]: r for r in grader.grade(discover(subs, grader.stems), on_result=got.append)}
    assert _tree_digest(subs) == before, "the submissions folder was modified"
    assert sorted(r["student"] for r in got) == sorted(results)
    assert {s: r["total"] for s, r in results.items()} == {
        "good": 5, "untouched": 0, "partial": 4, "looping": 5, "garbage": 0}
    assert results["garbage"]["status"] == "invalid" and results["good"]["status"] == "graded"
    assert results["good"]["exercises"] == {"Exercise 1.1": 2, "Exercise 1.2": 2, "Exercise 1.3": 1}
    table = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [r["student"] for r in table] == ["garbage", "good", "looping", "partial", "untouched"]
    assert table[3]["Exercise 1.2"] == "1" and table[3]["total"] == "4" and table[3]["max"] == "5"
    fb = (out / "feedback" / "partial.md").read_text()
    assert "Total: 4 / 5 points" in fb and "clip([10], 0, 3) should give [3]" in fb
    fb = (out / "feedback" / "untouched.md").read_text()
    assert "Exercise 1.1: not done yet" in fb and "Hint: replace the `raise NotImplementedError" in fb
    assert "Exercise 1.3: scale is not done yet" in fb
    assert re.search(r"cell 4 of your notebook \(`while True:`\) did not finish within 8 s",
                     (out / "feedback" / "looping.md").read_text())
    assert "not a Jupyter notebook" in (out / "feedback" / "garbage.md").read_text()
    executed = nbformat.read(out / "executed" / "good" / "01_demo.ipynb", as_version=4)
    texts = json.dumps([c.outputs for c in executed.cells if c.cell_type == "code"])
    assert "Exercise 1.1 passed: double works" in texts
    saved = json.loads((out / "results" / "good.json").read_text())
    assert saved["total"] == 5 and saved["fingerprint"] == grader.fingerprint(discover(subs, grader.stems)[1])


@pytest.mark.slow
def test_resume_skips_graded_students_and_regrades_changed_ones(kit, tmp_path):
    subs = tmp_path / "submissions"
    _save(subs, "ann", _solved(kit))
    _save(subs, "ben", _student(kit))
    out = tmp_path / "out"
    _grader(kit, out).grade(discover(subs, ["01_demo"]))
    stamp = (out / "results" / "ann.json").read_text()
    _save(subs, "ben", _solved(kit, ("1.1",)))            # ben resubmits
    _save(subs, "cat", _solved(kit))                      # a new student
    grader = _grader(kit, out, resume=True)
    graded = []
    everyone = discover(subs, grader.stems)
    results = {r["student"]: r["total"] for r in grader.grade(everyone, on_result=graded.append)}
    assert grader.skipped == ["ann"] and sorted(r["student"] for r in graded) == ["ben", "cat"]
    assert (out / "results" / "ann.json").read_text() == stamp
    assert results == {"ann": 5, "ben": 2, "cat": 5}
    assert len(list(csv.DictReader((out / "gradebook.csv").open()))) == 3


@pytest.mark.slow
def test_resume_regrades_a_result_changed_after_grading(kit, tmp_path):
    subs = tmp_path / "submissions"
    _save(subs, "ann", _student(kit))
    _save(subs, "bob", _solved(kit))
    out = tmp_path / "out"
    first = {r["student"]: r for r in _grader(kit, out).grade(discover(subs, ["01_demo"]))}
    assert first["ann"]["total"] == 0 and first["bob"]["total"] == 5
    forged = json.loads((out / "results" / "ann.json").read_text())
    forged["total"], forged["exercises"] = 5, {k: 9.0 for k in forged["exercises"]}  # fingerprint untouched
    (out / "results" / "ann.json").write_text(json.dumps(forged))
    grader = _grader(kit, out, resume=True)
    again = {r["student"]: r for r in grader.grade(discover(subs, ["01_demo"]))}
    assert grader.skipped == ["bob"], "bob's signed result is reused, ann's forged one is not"
    assert again["ann"]["total"] == 0 and "changed after grading" in " ".join(again["ann"]["flags"])
    assert "was graded again" in (out / "feedback" / "ann.md").read_text()
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["ann"]["total"] == "0" and rows["bob"]["total"] == "5"


def test_verdict_compares_values_outside_the_kernel():
    from course_utils.authoring.verdict import compare, sign, verify
    arr = {"__array__": "int64", "shape": [2, 2], "data": [[1, 2], [3, 4]]}
    assert compare(arr, {"__array__": "float64", "shape": [2, 2], "data": [[1.0, 2.0], [3.0, 4.0]]}) is None
    assert "shape (4,)" in compare(arr, {"__array__": "int64", "shape": [4], "data": [1, 2, 3, 4]})
    assert "expected 3" in compare(arr, {"__array__": "int64", "shape": [2, 2], "data": [[1, 2], [5, 4]]})
    assert compare(1.0, 1.0 + 1e-9) is None and compare(1.0, 1.1) is not None
    assert compare({"a": [1, "x"]}, {"a": [1, "x"]}) is None and "keys differ" in compare({"a": 1}, {"b": 1})
    assert compare(None, None) is None and compare(True, 1) is not None and compare(None, 0) is not None
    key = b"k" * 32
    signed = sign({"total": 3}, key)
    assert verify(signed, key) and not verify({**signed, "total": 4}, key) and not verify(signed, b"x" * 32)


@pytest.mark.slow
def test_cli_interrupted_run_leaves_results_and_no_processes_then_resumes(kit, tmp_path):
    subs = tmp_path / "submissions"
    for i in range(4):
        slow = _solved(kit)
        slow.cells.insert(3, nbformat.v4.new_code_cell("import time\ntime.sleep(3)"))
        _save(subs, f"s{i}", slow)
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    env = {**os.environ, "COURSE_ROOT": str(kit)}
    cmd = [sys.executable, "-m", "course_utils.cli", "grade", str(subs), "--lab", "9", "--out", str(out),
           "--workers", "1", "--scratch", str(scratch), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "results").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, text
    assert "run again with --resume" in text
    done = sorted(p.stem for p in (out / "results").glob("*.json"))
    assert 1 <= len(done) < 4
    assert _gone(str(scratch), within=30) == [], "processes of the interrupted run are still alive"
    res = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(done)} already graded (--resume)" in res.stdout
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [(r["student"], r["total"]) for r in rows] == [(f"s{i}", "5") for i in range(4)]


def _gone(marker: str, within: float) -> list[int]:
    """Poll (bounded) until no process mentions ``marker`` in its command line; return those left."""
    deadline = time.monotonic() + within
    while True:
        left = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                        left.append(int(entry.name))
                except OSError:
                    continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_cli_errors_are_clear(kit, tmp_path):
    env = {**os.environ, "COURSE_ROOT": str(kit)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "course_utils.cli", "grade", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    res = run(str(tmp_path / "nowhere"), "--lab", "9")
    assert res.returncode == 1 and "does not exist" in res.stderr
    res = run(str(tmp_path), "--lab", "7")
    assert res.returncode == 1 and "no single solutions folder for lab '7'" in res.stderr
    (tmp_path / "subs").mkdir()
    res = run(str(tmp_path / "subs"), "--lab", "9", "--out", str(tmp_path / "subs" / "grades"))
    assert res.returncode == 1 and "must not be inside the submissions folder" in res.stderr


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users")
def test_kernel_user_cannot_read_protected_solutions_or_touch_shared_files(kit, tmp_path):
    import pwd
    pwd.getpwnam("nobody")
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    (secret / "answers.txt").write_text("the answer")
    probe = _solved(kit)
    probe.cells.insert(2, nbformat.v4.new_code_cell(
        f"import os\nprint('uid', os.getuid())\ntry:\n    open({str(secret / 'answers.txt')!r}).read()\n"
        "    print('READ THE SECRET')\nexcept PermissionError:\n    print('secret protected')\n"
        "open('mine.txt', 'w').write('ok')\nprint('wrote in scratch')"))
    subs = tmp_path / "subs"
    _save(subs, "probe", probe)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    os.chmod(tmp_path, 0o755)
    out = tmp_path / "out"
    problem = kernel_user_problem("nobody", ["python3"])
    if problem:  # e.g. Python installed under /root (mode 700): the grader must refuse, saying why
        with pytest.raises(GradingError, match="--kernel-user nobody: nobody cannot reach .* install Python"):
            _grader(kit, out, kernel_user="nobody", scratch_root=scratch)
        pytest.skip(f"cannot run kernels as nobody here: {problem}")
    res = _grader(kit, out, kernel_user="nobody", scratch_root=scratch).grade(discover(subs, ["01_demo"]))
    assert res[0]["total"] == 5, res[0]
    executed = nbformat.read(out / "executed" / "probe" / "01_demo.ipynb", as_version=4)
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert f"uid {pwd.getpwnam('nobody').pw_uid}" in text
    assert "secret protected" in text and "READ THE SECRET" not in text and "wrote in scratch" in text


# --------------------------------------------------------------------------- the Lab 1 corpus

def _corpus_module():
    sys.path.insert(0, str(CORPUS_DIR))
    try:
        import corpus
    finally:
        sys.path.remove(str(CORPUS_DIR))
    return corpus


@pytest.mark.slow
def test_lab1_corpus_is_graded_with_the_expected_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "the grader's own secret")
    corpus = _corpus_module()
    notebook = ROOT / "solutions" / f"{corpus.DEFAULT_NOTEBOOK}.ipynb"
    if not notebook.exists():
        pytest.fail(f"{notebook} is missing: the Lab 1 corpus is derived from it")
    subs = tmp_path / "corpus"
    expected = corpus.write(subs)
    assert len(expected) >= 20
    before = _tree_digest(subs)
    out = tmp_path / "out"
    grader = Grader(ROOT, [notebook], out, Options(workers=2, progress=False,
                                                   limits={"cell_timeout": 20, "total_timeout": 150}))
    # the fork_bomb case needs a process limit (never run one on a host without it)
    assert grader.process_limit is not None, grader.describe_process_limit()
    submissions = [s for s in discover(subs, grader.stems)]
    results = {r["student"]: r for r in grader.grade(submissions)}
    assert _tree_digest(subs) == before, "grading wrote into the submissions folder"
    lines, wrong = [], []
    for name, exp in expected.items():
        res = results[name]
        feedback = (out / "feedback" / f"{name}.md").read_text()
        per_ex = {ex: res["exercises"][f"Exercise {ex}"] for ex in exp.per_exercise}
        executed = out / "executed" / name / f"{notebook.stem}.ipynb"
        outputs = json.dumps([c.get("outputs", []) for c in nbformat.read(executed, as_version=4).cells]) \
            if executed.exists() else ""
        ok = (per_ex == exp.per_exercise and res["status"] == exp.status
              and (not exp.feedback or re.search(exp.feedback, feedback))
              and (not exp.output or re.search(exp.output, json.loads(json.dumps(outputs))))
              and sorted(res["flags"]) == sorted(exp.flags))
        lines.append(f"{'ok ' if ok else 'BAD'} {name:<24} {res['total']:>4g} / {res['max']:g} expected "
                     f"{exp.points:g} ({exp.status}) flags={res['flags']}")
        if not ok:
            wrong.append(f"{name}: got {per_ex} {res['status']} flags={res['flags']}, expected "
                         f"{exp.per_exercise} {exp.status} /{exp.feedback}/ flags={exp.flags}\n{feedback}")
    print("\n".join(lines))
    assert not wrong, "\n\n".join(wrong)
    assert results["correct"]["total"] == results["correct"]["max"] > 0
    assert 0 < results["partial_credit"]["total"] < results["correct"]["total"]
    # the hunting submission looked where the environment points and found no solutions
    hunt = json.dumps(nbformat.read(out / "executed" / "reads_solutions" / f"{notebook.stem}.ipynb",
                                    as_version=4).cells)
    assert "found 0 solution notebooks" in hunt


def test_cli_warns_about_solutions_a_kernel_could_read():
    import tempfile

    from course_utils.commands.grade import _warnings
    base = Path(tempfile.mkdtemp(prefix="grade-warn-", dir="/tmp"))  # parents open to others, unlike tmp_path
    try:
        _check_warnings(base, _warnings)
    finally:
        shutil.rmtree(base)


def _check_warnings(tmp_path, _warnings):
    (tmp_path / "private").mkdir(mode=0o700)
    (tmp_path / "private" / "solutions").mkdir(mode=0o755)
    (tmp_path / "kit").mkdir()
    os.chmod(tmp_path, 0o755)
    (tmp_path / "kit" / "solutions").symlink_to(tmp_path / "private" / "solutions")
    assert _warnings(tmp_path / "kit", "nobody") == []  # behind a closed folder, as in the container
    os.chmod(tmp_path / "private", 0o755)
    assert "readable by other users, so also by nobody" in _warnings(tmp_path / "kit", "nobody")[0]
    assert "a submission can read" in _warnings(tmp_path / "kit", None)[0]


# --------------------------------------------------------------------------- peak memory

HOLD_300MB = ("import time\nheld = bytearray(300 * 2**20)\nheld[::4096] = b'x' * len(held[::4096])\n"
              "time.sleep(2)")


@pytest.mark.slow
@pytest.mark.parametrize("use_cgroups", [True, False], ids=["cgroup", "sampled"])
def test_peak_memory_of_each_sandbox_is_recorded(kit, tmp_path, use_cgroups):
    """Each notebook's peak memory is in the result and the gradebook: from the sandbox's memory cgroup
    where the grader has one, else sampled (PSS of the sandbox's processes); at least the 300 MB a cell
    held, below the sandbox's memory limit."""
    subs = tmp_path / "submissions"
    hog = _solved(kit)
    hog.cells.insert(3, nbformat.v4.new_code_cell(HOLD_300MB))
    _save(subs, "hog", hog)
    out = tmp_path / "out"
    grader = _grader(kit, out, cgroups=use_cgroups)
    if use_cgroups:
        from course_utils.authoring.cgroups import RunGroups
        probe = RunGroups.create()
        if probe is None or "memory" not in probe.bases:
            pytest.skip("no writable memory cgroup here (the sampled path is tested)")
        probe.close()
    [res] = grader.grade(discover(subs, grader.stems))
    assert res["total"] == 5
    limits = grader.plans[0].limits
    [nb] = res["notebooks"]
    print(f"peak memory {nb['peak_memory_mb']} MB ({nb['peak_memory_from']})")
    want = "memory cgroup" if use_cgroups else "PSS"
    assert want in nb["peak_memory_from"], nb
    assert 250 <= nb["peak_memory_mb"] < limits.memory_mb + limits.disk_mb, nb
    assert res["peak_memory_mb"] == nb["peak_memory_mb"]
    [row] = list(csv.DictReader((out / "gradebook.csv").open()))
    assert float(row["peak_memory_mb"]) == pytest.approx(nb["peak_memory_mb"], abs=1)
    # the signed result file carries it
    assert json.loads((out / "results" / "hog.json").read_text())["peak_memory_mb"] == res["peak_memory_mb"]


def test_tree_pss_counts_this_process_and_its_children():
    from course_utils.authoring import memory
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(80 * 2**20); b[::4096] = "
                              "b'x' * len(b[::4096]); print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        alone = memory.tree_pss(child.pid)
        assert alone >= 80 * memory.MB
        assert child.pid in memory.descendants(os.getpid())
        assert memory.tree_pss(os.getpid()) >= alone
        with memory.TreeSampler(child.pid, every=0.05) as sampler:
            pass
        assert sampler.peak >= 80 * memory.MB
    finally:
        child.kill()
        child.wait()
    assert memory.descendants(child.pid) == [] and memory.TreeSampler(lambda: None).peak == 0
