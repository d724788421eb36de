"""Grade a folder of submitted notebooks: sandboxed runs, the solution's checks, gradebook and feedback.

For each student (a sub-folder ``SUBMISSIONS/<student>/`` holding the lab's notebooks, or a file
``SUBMISSIONS/<student>.ipynb`` when one notebook is graded) and each graded notebook:

1. a scratch copy: the kit's package and ``pretrained/`` (no ``solutions/``), the datasets
   (hard links to the grader's verified cache), a home folder; the submission is copied there,
   the submissions folder is never written;
2. the notebook the grader runs: the student's cells, every checkpoint replaced by the solution's
   (``grading_notebook``), plus hidden tests from ``grading.toml``;
3. one worker process per notebook (``grade_worker``) runs it in a kernel started under limits
   (``sandbox``): per-cell and total timeouts, memory, file size, output size;
4. the results are scored (points per exercise, partial credit per part) and written at once:
   ``results/<student>.json``, ``feedback/<student>.md``, ``executed/<student>/<notebook>.ipynb``
   and the rewritten ``gradebook.csv``. ``resume=True`` skips students already graded with the
   same submission and configuration.

This module tells that story with ``Grader``; each step has a module of its own:

- ``grade_inputs``: the options, the students (``discover``) and the graded notebooks' plans;
- ``grading_config`` / ``grading_notebook``: ``grading.toml`` and the notebook the grader runs;
- ``grade_runner``: process supervision (sandbox, scratch copies, build caches, worker, time limits);
- ``grade_worker`` / ``sandbox`` / ``cgroups`` / ``memory``: the worker process, the limits, the measures;
- ``grade_scoring``: a run's events compared with the solution's values, as points (``verdict``, ``judges``);
- ``grade_results``: signed result files (``--resume``), ``gradebook.csv`` and the feedback.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from course_utils.authoring import grade_results as results
from course_utils.authoring import grade_scoring as scoring
from course_utils.authoring import grading_notebook as gnb
from course_utils.authoring import verdict
from course_utils.authoring.grade_inputs import (
    GradingError,
    NotebookPlan,
    Options,
    Submission,
    discover,
    find_notebook,
    lab_folder,
    plan_notebook,
    safe_name,
)
from course_utils.authoring.grade_results import FLAG_TAMPERED, gradebook_csv
from course_utils.authoring.grade_runner import RTL_CACHE, Runner, bwrap_problem, kernel_user_problem
from course_utils.authoring.grade_scoring import (
    FLAG_DETACHED,
    FLAG_FORGED,
    FLAG_NO_RESULT,
    FLAG_PROCESSES,
    FLAG_REFUTED,
)
from course_utils.authoring.grading_config import LabConfig, load_config

__all__ = ["FLAG_DETACHED", "FLAG_FORGED", "FLAG_NO_RESULT", "FLAG_PROCESSES", "FLAG_REFUTED",
           "FLAG_TAMPERED", "GRADER_VERSION", "RTL_CACHE", "Grader", "GradingError", "NotebookPlan",
           "Options", "Submission", "bwrap_problem", "discover", "find_notebook", "gradebook_csv",
           "kernel_user_problem", "lab_folder"]

GRADER_VERSION = "2"
SOLUTION_SLACK = 3   # the solution's run gets 3x the time limits: it compiles what the submissions reuse


class Grader:
    """Grades submissions of one lab (or one notebook) into an output folder.

    Parameters
    ----------
    kit_root : Path
        The course kit (its ``course_utils`` and ``pretrained/`` go into every sandbox).
    solution_notebooks : list of Path
        The solution notebooks to grade, all from one lab folder (its ``grading.toml`` applies).
    out_dir : Path
        Where results, feedback, executed notebooks and ``gradebook.csv`` are written.
    options : Options, optional
        Workers, sandbox, limits, ``resume``... (the command line's settings).
    package_dir : Path, optional
        The ``course_utils`` copied into the sandboxes (default: the kit's own).
    """

    def __init__(self, kit_root: Path, solution_notebooks: list[Path], out_dir: Path,
                 options: Options | None = None, package_dir: Path | None = None) -> None:
        self.kit_root = kit_root.resolve()
        self.options = options or Options()
        self.out = out_dir.resolve()
        self.package_dir = (package_dir or self._package_dir()).resolve()
        if not solution_notebooks:
            raise GradingError("nothing to grade: no solution notebooks selected")
        lab_dir = solution_notebooks[0].parent
        self.lab = lab_dir.name
        self.config: LabConfig = load_config(lab_dir)
        unknown_nb = sorted(set(self.config.notebooks) - {p.stem for p in lab_dir.glob("*.ipynb")})
        if unknown_nb:
            raise GradingError(f"{self.config.path} names notebook(s) {unknown_nb} that {lab_dir} "
                               "does not have")
        self.plans = [plan_notebook(p, self.config, self.options.limits) for p in solution_notebooks
                      if self.config.notebook(p.stem).graded]
        if not self.plans:
            raise GradingError(f"every selected notebook has `graded = false` in {self.config.path}")
        names = {p.stem for p in solution_notebooks}
        self.stems = [p.spec.stem for p in self.plans if p.spec.stem in names]
        self.key = verdict.load_key(self.options.key_file)
        self.expected: dict[str, dict[str, Any]] = {}
        self.tampered: set[str] = set()
        self.skipped: list[str] = []
        self.runner = Runner(self.kit_root, self.package_dir, self.config, self.options,
                             cache_root=self.out / "expected" / "caches",
                             kernels=sorted({p.spec.kernel for p in self.plans}))
        self.modules = {p.spec.stem: gnb.check_sources(self.package_dir, p.spec.check_modules)
                        for p in self.plans}
        self.fingerprint_base = self._fingerprint_base()
        self.lock = threading.Lock()

    # ----------------------------------------------------------------------- how the sandboxes run

    @property
    def sandbox(self) -> str:
        """"bwrap" (a bubblewrap sandbox per notebook) or "limits" (resource limits only)."""
        return self.runner.sandbox

    @property
    def sandbox_problem(self) -> str | None:
        """Why bubblewrap could not be used (``--sandbox auto`` fell back to limits), or None."""
        return self.runner.sandbox_problem

    @property
    def process_limit(self) -> str | None:
        """How a sandbox's process count is bounded: "cgroup", "rlimit", "rlimit-user" or None."""
        return self.runner.process_limit

    def describe_process_limit(self) -> str:
        """One line for the instructor: how processes and memory are bounded in each sandbox."""
        return self.runner.describe_process_limit()

    def _package_dir(self) -> Path:
        local = self.kit_root / "course_utils"
        if (local / "checks").is_dir():
            return local
        import course_utils
        return Path(course_utils.__file__).parent

    # ----------------------------------------------------------------------- what a result depends on

    def _fingerprint_base(self) -> str:
        h = hashlib.sha256(f"v{GRADER_VERSION}|{self.config.fingerprint()}".encode())
        for plan in self.plans:
            h.update(plan.spec.path.read_bytes())
            h.update(json.dumps(self.modules[plan.spec.stem], sort_keys=True).encode())
            h.update(json.dumps(plan.limits.__dict__, sort_keys=True).encode())
        h.update(gnb.HARNESS_PATH.read_bytes())
        return h.hexdigest()

    def fingerprint(self, sub: Submission) -> str:
        """What a result depends on: grader, configuration, solutions, checks and the submitted files."""
        h = hashlib.sha256(self.fingerprint_base.encode())
        for stem in self.stems:
            path = sub.notebooks.get(stem)
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path and path.is_file() else "missing"
            h.update(f"{stem}:{digest}".encode())
        return h.hexdigest()[:32]

    # ----------------------------------------------------------------------- columns

    def columns(self) -> list[tuple[str, str, str]]:
        """(notebook stem, exercise id, column name) for every graded exercise, in order."""
        ids = [ex for stem in self.stems for ex in self._plan_of(stem).spec.exercises]
        dup = {ex for ex in ids if ids.count(ex) > 1}
        return [(stem, ex, f"{stem}:{ex}" if ex in dup else f"Exercise {ex}")
                for stem in self.stems for ex in self._plan_of(stem).spec.exercises]

    def _plan_of(self, stem: str) -> NotebookPlan:
        return next(p for p in self.plans if p.spec.stem == stem)

    def max_points(self) -> float:
        """The most a student can earn."""
        return sum(self.config.exercise(stem, ex).max_points for stem, ex, _ in self.columns())

    def result_path(self, student: str) -> Path:
        """Where a student's result JSON goes."""
        return results.result_path(self.out, student)

    def _score(self, result: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        return scoring.score(result, self.columns(), self.max_points(), status)

    # ----------------------------------------------------------------------- one notebook

    def prepare(self) -> None:
        """Make the run folder: the kernels' kit template (no solutions) and the datasets cache."""
        self.runner.prepare()

    def run_notebook(self, student: str, plan: NotebookPlan, path: Path, scratch: Path,
                     expected: dict[str, Any] | None = None, executed: Path | None = None) -> dict[str, Any]:
        """Grade one submitted notebook; returns its result record (never raises for student errors).

        ``expected``: the solution's probe values (``expectations()``); None runs the solution itself
        and returns the raw values in ``record["values"]``."""
        stem = plan.spec.stem
        if expected is None:   # the solution's own run: trusted, once, and it fills the build caches
            lim = plan.limits
            plan = replace(plan, limits=replace(lim, cell_timeout=lim.cell_timeout * SOLUTION_SLACK,
                                                total_timeout=lim.total_timeout * SOLUTION_SLACK))
        record: dict[str, Any] = {"notebook": stem, "file": str(path), "parts": [], "problems": [],
                                  "notes": [], "stopped": None, "seconds": 0.0}
        start = time.monotonic()
        try:
            submission = gnb.read_submission(path)
            merged = gnb.build(submission, plan.spec, self.config, self.modules[stem])
        except gnb.SubmissionError as err:
            record["invalid"] = str(err)
            record["parts"] = scoring.unreached(plan, self.config, f"not graded: {err}")
            return record
        record["notes"] += merged.notes
        record["flags"] = []
        executed = executed or self.out / "executed" / safe_name(student) / f"{stem}.ipynb"
        run = self.runner.execute(plan, path, merged.nb, merged.nonce, scratch, executed,
                                  solution=expected is None)
        record.update(scoring.outcome(run.events, merged, plan, run.killed, run.kernel_said,
                                      expected=expected, rules=scoring.part_rules(plan, self.config),
                                      refused=run.refused))
        record["seconds"] = round(time.monotonic() - start, 2)
        if run.peak_memory_mb is not None:
            record["peak_memory_mb"] = run.peak_memory_mb
            record["peak_memory_from"] = run.peak_memory_from
        ran = [e for e in run.events if e.get("event") == "cell"]
        record["cell_seconds"] = round(sum(float(e.get("seconds", 0)) for e in ran), 2)
        record["slowest_cells"] = [[round(float(e.get("seconds", 0)), 1), merged.describe(int(e["index"]))]
                                   for e in sorted(ran, key=lambda e: -float(e.get("seconds", 0)))[:5]]
        return record

    def part_rules(self, plan: NotebookPlan) -> dict[str, dict[str, Any]]:
        """"exercise|part" -> tolerance and hint of every graded part of a notebook."""
        return scoring.part_rules(plan, self.config)

    def expectations(self) -> dict[str, dict[str, Any]]:
        """The value of every probe on the solution notebooks (run in the same sandbox, once; cached
        in the output folder, authenticated, keyed by the grader's fingerprint)."""
        cache = self.out / "expected" / "values.json"
        old = results.load_expected(cache, self.key, self.fingerprint_base)
        if old is not None:
            return old
        values: dict[str, dict[str, Any]] = {}

        def run(plan: NotebookPlan) -> dict[str, Any]:
            scratch = self.runner.fresh_scratch()
            try:
                return self.run_notebook("solution", plan, plan.spec.path, scratch, expected=None,
                                         executed=self.out / "expected" / f"{plan.spec.stem}.ipynb")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

        plans = [p for p in self.plans if p.spec.stem in self.stems]
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            records = list(pool.map(run, plans))
        for plan, record in zip(plans, records, strict=True):
            broken = [f"Exercise {p['exercise']} ({p['part']}): {p.get('reason', 'no value')}"
                      for p in record["parts"] if not p.get("passed")]
            if broken or record.get("stopped"):
                raise GradingError(f"the solution notebook {plan.spec.path} does not pass its own grading "
                                   f"(fix the probe in {self.config.path} or the notebook): "
                                   + "; ".join(broken[:5] or [str(record.get('stop_text'))])
                                   + f"; see {self.out / 'expected' / (plan.spec.stem + '.ipynb')}")
            values[plan.spec.stem] = record["values"]
        results.save_expected(cache, values, self.key, self.fingerprint_base)
        return values

    # ----------------------------------------------------------------------- one student

    def grade_student(self, sub: Submission) -> dict[str, Any]:
        """Run each graded notebook of one student in a fresh scratch copy; return the scored result.

        Every notebook starts cold (as the labs are designed to), so one notebook's failure or
        tampering cannot reach the next, and the grader never writes where student code ran."""
        result: dict[str, Any] = {"student": sub.student, "fingerprint": self.fingerprint(sub),
                                  "notebooks": [], "notes": list(sub.notes), "graded_at": time.time()}
        for plan in [self._plan_of(s) for s in self.stems]:
            if self.runner.stopping.is_set():
                raise KeyboardInterrupt
            path = sub.notebooks.get(plan.spec.stem)
            if path is None:
                why = f"not graded: {plan.spec.stem}.ipynb was not submitted"
                result["notebooks"].append({"notebook": plan.spec.stem, "missing": True, "problems": [],
                                            "notes": [], "parts": scoring.unreached(plan, self.config, why)})
                continue
            scratch = self.runner.fresh_scratch()
            try:
                result["notebooks"].append(self.run_notebook(sub.student, plan, path, scratch,
                                                             expected=self.expected.get(plan.spec.stem, {})))
            finally:
                if not self.options.keep_scratch:
                    shutil.rmtree(scratch, ignore_errors=True)
        peaks = [n["peak_memory_mb"] for n in result["notebooks"] if n.get("peak_memory_mb")]
        if peaks:   # the notebooks run one after the other: the student's peak is the largest
            result["peak_memory_mb"] = max(peaks)
        return self._score(result)

    # ----------------------------------------------------------------------- all students

    def grade(self, submissions: list[Submission],
              on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Grade every submission in parallel; write each result as it comes; return all results.

        Parameters
        ----------
        submissions : list of Submission
            The students, from ``discover``.
        on_result : callable, optional
            Called with each student's scored result as soon as it is written.

        Returns
        -------
        list of dict
            The result of every student, in the order of ``submissions`` (stored ones with ``resume``).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        for sub in ("results", "feedback", "executed"):
            (self.out / sub).mkdir(exist_ok=True)
        todo, done, self.tampered = results.triage(submissions, self.out, self.key, self.options.resume,
                                                   self.fingerprint)
        self.skipped = sorted(done)
        self.prepare()
        try:
            self.expected = self.expectations() if todo else {}
            self._write_gradebook(submissions, done)
            self._grade_parallel(todo, submissions, done, on_result)
        finally:
            self.runner.close()
        return [done[s.student] for s in submissions if s.student in done]

    def _grade_parallel(self, todo: list[Submission], everyone: list[Submission],
                        done: dict[str, dict[str, Any]],
                        on_result: Callable[[dict[str, Any]], None] | None) -> None:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc=f"grading {self.lab}", unit="student",
                   disable=not self.options.progress)
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.workers))
        futures = {pool.submit(self._safe_grade, sub): sub for sub in todo}
        try:
            for fut in as_completed(futures):
                res = fut.result()
                results.save_result(self.out, res, self.key, self.lab)
                done[res["student"]] = res
                self._write_gradebook(everyone, done)
                got, most = results.fmt(res["total"]), results.fmt(res["max"])
                bar.set_postfix_str(f"{res['student']}: {got}/{most}")
                bar.update(1)
                if on_result:
                    on_result(res)
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()

    def _safe_grade(self, sub: Submission) -> dict[str, Any]:
        """grade_student, turning a grader bug into a recorded 'grader_error' (the others go on)."""
        try:
            res = self.grade_student(sub)
            if sub.student in self.tampered:
                results.mark_tampered(res)
            return res
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - one broken submission must not stop the rest
            res = {"student": sub.student, "fingerprint": self.fingerprint(sub), "notebooks": [],
                   "notes": [f"The grader failed on this submission: {type(err).__name__}: {err}. "
                             "It will be graded again by the next run with --resume."]}
            return self._score(res, status="grader_error")

    def stop(self) -> None:
        """Stop everything now (Ctrl-C): kill running workers and their kernels."""
        self.runner.stop()

    def _write_gradebook(self, everyone: list[Submission], done: dict[str, dict[str, Any]]) -> None:
        with self.lock:
            results.write_gradebook(self.out, [done[s.student] for s in everyone if s.student in done],
                                    self.columns())
