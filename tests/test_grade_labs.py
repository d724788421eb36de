"""Class folders of Labs 2 and 3 graded end to end in the bubblewrap sandbox (slow): ordinary and hostile
submissions (derived from the current notebooks by tests/grading_corpus) get exactly their expected points,
status, feedback, executed outputs and flags. Lab 2 runs FINN without Vivado; Lab 3 runs on the virtual
board, in the board environment's kernel."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
import test_grade

from course_utils.authoring.grade import RTL_CACHE, Grader, Options, discover
from course_utils.board import rtlsim

ROOT = Path(__file__).resolve().parent.parent
_grader_key = test_grade._grader_key

# "missing_then_fork_bomb": the first notebook not submitted and a fork bomb in the second (Lab 1's fork bomb
# is in tests/test_grade_sandbox.py); one student covers both, so the class tests take no longer.
CASES = {
    "lab3_zynq": ("correct", "untouched", "first_notebook_only", "tampered_checkpoints", "shadowed_builtins",
                  "detached_process", "neighbour_kernels", "overreach", "disk_flood",
                  "missing_then_fork_bomb"),
    "lab2_finn": ("correct", "untouched", "shadowed_builtins", "missing_then_fork_bomb"),
}


def _corpus():
    sys.path.insert(0, str(Path(__file__).parent / "grading_corpus"))
    try:
        import corpus
    finally:
        sys.path.pop(0)
    return corpus


@pytest.mark.slow
@pytest.mark.parametrize("lab", sorted(CASES))
def test_a_class_folder_of_the_lab_is_graded_with_the_expected_scores(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "the grader's own secret")
    expected = _corpus().write_lab(tmp_path / "class", lab, names=CASES[lab])
    notebooks = sorted((ROOT / "solutions" / lab).glob("*.ipynb"))
    out = tmp_path / "out"
    grader = Grader(ROOT, notebooks, out, Options(workers=2, progress=False, sandbox="bwrap"))
    results = {r["student"]: r for r in grader.grade(discover(tmp_path / "class", grader.stems))}
    lines, wrong = [], []
    for name, exp in expected.items():
        res = results[name]
        per_ex = {f"{nb['notebook']}:{p['exercise']}": 0.0 for nb in res["notebooks"] for p in nb["parts"]}
        for nb in res["notebooks"]:
            for p in nb["parts"]:
                per_ex[f"{nb['notebook']}:{p['exercise']}"] += p["points"]
        feedback = (out / "feedback" / f"{name}.md").read_text()
        executed = out / "executed" / name / f"{exp.output_notebook or grader.stems[0]}.ipynb"
        outputs = json.dumps([c.get("outputs", []) for c in nbformat.read(executed, as_version=4).cells]) \
            if executed.exists() else ""
        ok = (per_ex == exp.per_exercise and res["status"] == exp.status
              and (not exp.feedback or re.search(exp.feedback, feedback))
              and (not exp.output or re.search(exp.output, outputs))
              and sorted(res["flags"]) == sorted(exp.flags))
        lines.append(f"{'ok ' if ok else 'BAD'} {lab} {name:<22} {res['total']:>4g} / {res['max']:g} "
                     "expected "
                     f"{exp.points:g} ({exp.status}) flags={res['flags']}")
        if not ok:
            wrong.append(f"{name}: got {per_ex} {res['status']} {res['flags']}, expected {exp.per_exercise} "
                         f"{exp.status} /{exp.feedback}/ /{exp.output}/ {exp.flags}\n{feedback}")
    print("\n".join(lines))
    assert not wrong, "\n\n".join(wrong)
    assert results["correct"]["total"] == results["correct"]["max"] > 0


# Lab 2's notebooks that compile Verilator models (00: the hand-built unit, 05: the accelerator): graded
# with the models the solution's run compiled into the grader's cache, bound read-only into each sandbox.
NOTEBOOK_CASES = {
    "lab2_finn/00_layer_by_hand": ("correct", "untouched", "exception"),
    "lab2_finn/05_rtl_simulation": ("correct", "untouched", "exception"),
}


@pytest.mark.slow
@pytest.mark.timeout(3600)   # the solution's run compiles the accelerator's designs (minutes when loaded)
@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_CASES))
def test_notebooks_compiling_verilator_are_graded_from_the_grader_cache(notebook, tmp_path):
    expected = _corpus().write_cases(tmp_path / "class", notebook, NOTEBOOK_CASES[notebook])
    out = tmp_path / "out"
    grader = Grader(ROOT, [ROOT / "solutions" / f"{notebook}.ipynb"], out,
                    Options(workers=2, progress=False, sandbox="bwrap"))
    results = {r["student"]: r for r in grader.grade(discover(tmp_path / "class", grader.stems))}
    caches = list((out / "expected" / "caches").rglob("*"))
    assert caches, "the solution's run left nothing in the grader's cache"
    wrong = []
    for name, exp in expected.items():
        res = results[name]
        per_ex = {p["exercise"]: 0.0 for nb in res["notebooks"] for p in nb["parts"]}
        for nb in res["notebooks"]:
            for p in nb["parts"]:
                per_ex[p["exercise"]] += p["points"]
        feedback = (out / "feedback" / f"{name}.md").read_text()
        seconds = [nb["seconds"] for nb in res["notebooks"]]
        print(f"{notebook} {name:<10} {res['total']:g} / {res['max']:g} expected {exp.points:g} "
              f"({seconds} s)")
        if (per_ex != exp.per_exercise or res["status"] != exp.status or res["flags"]
                or (exp.feedback and not re.search(exp.feedback, feedback))):
            wrong.append(f"{name}: {per_ex} {res['status']} {res['flags']}, expected {exp.per_exercise}\n"
                         f"{feedback}")
    assert not wrong, "\n\n".join(wrong)
    # nothing was compiled in a submission's sandbox: every Verilator build came from the cache
    executed = nbformat.read(out / "executed" / "correct" / f"{Path(notebook).name}.ipynb", as_version=4)
    printed = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "Verilator: compiling" not in printed and "compiled in " not in printed, printed[:2000]
    # and the kit's own caches got what the solution's run compiled: the next class is not compiled again
    for folder in (out / "expected" / "caches").iterdir():
        rel = folder.name.replace("__", "/")
        kit_cache = rtlsim.cache_dir() if rel == RTL_CACHE else ROOT / rel
        entries = [e.name for e in folder.iterdir() if e.is_dir() and not e.name.startswith(".")]
        missing = [e for e in entries if not (kit_cache / e).is_dir()]
        assert not missing, f"{rel}: the kit's cache lacks {missing}"
