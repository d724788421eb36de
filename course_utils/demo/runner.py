"""Run the demo's stages in order: resume finished ones, stop at the first failure, always write the report.

Each stage's printed output goes to ``<run>/logs/<stage>.log``; the console shows one timing line per
stage (and the helpers' progress bars unless ``quiet``). A failed stage keeps everything written so
far, is recorded in ``state.json`` with its error and log, and the next run starts again from it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from course_utils.demo.config import DemoConfig, DemoError
from course_utils.demo.stages import STAGES, Context, Stage, downstream, get_stage
from course_utils.demo.state import FINISHED, LOCK_FILE, STATE_FILE, RunState, now, run_lock, write_text

LOGS_DIR = "logs"


@dataclass
class RunOutcome:
    """How a ``run_demo`` call ended."""

    run_dir: Path
    status: str
    ran: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed_stage: str | None = None
    error: str | None = None
    log: Path | None = None
    report_md: Path | None = None
    report_html: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every stage finished (done or skipped with a reason)."""
        return self.status == "complete"


class Display:
    """The console side: one line per stage with its time; an overall tqdm bar on a terminal."""

    def __init__(self, n: int, quiet: bool, stream: TextIO | None = None):
        self.n, self.quiet, self.stream = n, quiet, stream or sys.stdout
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n, desc="course demo", unit="stage", leave=False, position=0)

    def line(self, text: str) -> None:
        """Print one line (above the bar, if any)."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def stage(self, i: int, stage: Stage, status: str, seconds: float | None, text: str) -> None:
        """The timing line of a stage."""
        secs = f"{seconds:7.1f} s" if seconds is not None else " " * 9
        self.line(f"[{i:2d}/{self.n}] {stage.name:<11} {status:<8} {secs}  {text}")
        if self.bar is not None and status != "running":
            self.bar.update(1)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def captured(log_path: Path) -> Iterator[TextIO]:
    """Send ``print`` output, Python warnings and log records of the block to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with open(log_path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
            warnings.catch_warnings():
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        warnings.simplefilter("default")
        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            log.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show
        try:
            yield log
        finally:
            root.removeHandler(handler)


def _normalise(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(obj, default=str))


def why_run(state: RunState, stage: Stage, inputs: dict[str, Any], forced: set[str]) -> str | None:
    """Why ``stage`` must run now, or None when its finished result can be reused."""
    rec = state.record(stage.name)
    if stage.name in forced:
        return "asked to (--from)"
    if not rec:
        return "not run yet"
    status = rec.get("status")
    if status == "stale":
        return rec.get("stale_because", "an earlier stage re-ran")
    if status not in FINISHED:
        return f"its last run {status}"
    old = rec.get("inputs") or {}
    changed = sorted(k for k in set(old) | set(inputs) if old.get(k) != inputs.get(k))
    if changed:
        return "changed: " + ", ".join(f"{k} {old.get(k)!r} -> {inputs.get(k)!r}" for k in changed)
    return state.artifacts_problem(stage.name)


def _prepare_run_dir(run_dir: Path, fresh: bool) -> None:
    """With ``fresh``, empty ``run_dir`` (only if it is a demo run folder); the lock file stays."""
    if not fresh or not run_dir.exists():
        return
    entries = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
    if entries and not (run_dir / STATE_FILE).is_file():
        raise DemoError(f"{run_dir} is not a demo run folder (no {STATE_FILE}): refusing to empty it for "
                        "--fresh. Choose another --run name.")
    for p in entries:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _host_facts() -> dict[str, Any]:
    """CPU count and load, for judging the timings."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "load_avg": [round(v, 2) for v in load] if load else None,
            "machine": platform.machine(), "python": platform.python_version(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}


def run_stage(ctx: Context, stage: Stage, inputs: dict[str, Any], invocation: int) -> dict[str, Any]:
    """Run one stage with its output captured; record and return its state record (raise on failure)."""
    state = ctx.state
    log_rel = f"{LOGS_DIR}/{stage.name}.log"
    log_path = ctx.run_dir / log_rel
    log_path.unlink(missing_ok=True)
    state.mark_stale(downstream(stage.name), because=f"{stage.name} re-ran")
    rec: dict[str, Any] = {"status": "running", "started": now(), "inputs": inputs, "invocation": invocation,
                           "log": log_rel}
    state.set_record(stage.name, rec)
    t0 = time.perf_counter()
    try:
        with captured(log_path):
            outcome = stage.run(ctx)
            artifacts = state.hash_artifacts(outcome.artifacts)
    except BaseException as err:
        rec.update(seconds=round(time.perf_counter() - t0, 3), finished=now(),
                   status="interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                   error=f"{type(err).__name__}: {err}")
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"\n--- stage {stage.name} {rec['status']} ---\n")
            traceback.print_exception(type(err), err, err.__traceback__, file=log)
        state.set_record(stage.name, rec)
        raise
    rec.update(status="skipped" if outcome.skipped else "done", finished=now(),
               seconds=round(time.perf_counter() - t0, 3), summary=outcome.summary,
               result=_normalise(outcome.result), artifacts=artifacts)
    if outcome.skipped:
        rec["skip_reason"] = outcome.skipped
    state.set_record(stage.name, rec)
    return rec


def _run_stages(ctx: Context, display: Display, inv: dict[str, Any], forced: set[str],
                outcome: RunOutcome, quiet: bool) -> None:
    """Resume or run every stage in order; stop at the first failure (recorded in ``outcome``)."""
    state = ctx.state
    for i, stage in enumerate(STAGES, 1):
        inputs = _normalise(stage.inputs(ctx))
        reason = why_run(state, stage, inputs, forced)
        if reason is None:
            rec = state.record(stage.name)
            inv["resumed"].append(stage.name)
            outcome.resumed.append(stage.name)
            display.stage(i, stage, "resumed", rec.get("seconds"),
                          f"(from run {rec.get('invocation')}) {rec.get('summary', '')}")
            continue
        if not quiet:
            display.stage(i, stage, "running", None, f"{stage.title} [{reason}]")
        try:
            rec = run_stage(ctx, stage, inputs, inv["n"])
        except KeyboardInterrupt:
            inv.update(status="interrupted", finished=now())
            state.save()
            raise
        except Exception as err:  # noqa: BLE001 - reported with the stage named
            rec = state.record(stage.name)
            first = (str(err).strip().splitlines() or [""])[0]
            display.stage(i, stage, "FAILED", rec.get("seconds"), f"{type(err).__name__}: {first}")
            outcome.status, outcome.failed_stage = "failed", stage.name
            outcome.error, outcome.log = f"{type(err).__name__}: {err}", ctx.run_dir / rec["log"]
            return
        inv["ran"].append(stage.name)
        outcome.ran.append(stage.name)
        display.stage(i, stage, rec["status"], rec["seconds"],
                      str(rec.get("skip_reason") if rec["status"] == "skipped" else rec["summary"]))
    outcome.status = "complete"


def _write_report(state: RunState, display: Display, outcome: RunOutcome) -> None:
    """Write the report; a failure here fails the run (as stage 'report') with the traceback logged."""
    from course_utils.demo import report

    t0 = time.perf_counter()
    label = f"[{display.n:2d}/{display.n}] {'report':<11}"
    try:
        outcome.report_md, outcome.report_html = report.write_report(state)
    except Exception as err:  # noqa: BLE001 - the report failing is a failure of its own stage
        log = write_text(state.run_dir / LOGS_DIR / "report.log",
                         "".join(traceback.format_exception(type(err), err, err.__traceback__)))
        if outcome.status == "complete":
            outcome.status, outcome.failed_stage, outcome.log = "failed", "report", log
            outcome.error = f"{type(err).__name__}: {err}"
        display.line(f"{label} {'FAILED':<8} {type(err).__name__}: {err} (traceback in {log})")
        return
    display.line(f"{label} {'done':<8} {time.perf_counter() - t0:7.1f} s  {outcome.report_html} "
                 "(and report.md)")


def _final_line(state: RunState, outcome: RunOutcome) -> str:
    """The closing console message: the failed stage and what to do, or the totals and the report."""
    if outcome.failed_stage:
        return (f"course demo: stage '{outcome.failed_stage}' FAILED after {outcome.seconds:.1f} s: "
                f"{outcome.error}\n  full log: {outcome.log}\n  artifacts kept in {outcome.run_dir}; fix the "
                f"cause and run the same command again: it resumes at '{outcome.failed_stage}'.")
    total = sum(float(state.record(s.name).get("seconds") or 0) for s in STAGES)
    return (f"course demo: complete in {outcome.seconds:.1f} s (ran {len(outcome.ran)}, resumed "
            f"{len(outcome.resumed)} stages; all stages as recorded: {total:.1f} s). "
            f"Report: {outcome.report_html}")


def run_demo(cfg: DemoConfig, *, run: str | None = None, fresh: bool = False, from_stage: str | None = None,
             quiet: bool = False, board_python: Path | None = None,
             stream: TextIO | None = None) -> RunOutcome:
    """Run (or resume) the demo for ``cfg`` in ``build/demo/<run>``; write the report; never raise on a
    stage failure (the outcome names it). Raises DemoError for unusable options or run folders."""
    from course_utils.paths import build_dir

    cfg = cfg.validate()
    forced = {get_stage(from_stage).name, *downstream(from_stage)} if from_stage else set()
    run_dir = build_dir("demo", run or cfg.run_name)
    t_start = time.perf_counter()
    with run_lock(run_dir):
        _prepare_run_dir(run_dir, fresh)
        state = RunState.load(run_dir)
        state.data["config"] = cfg.to_dict()
        inv: dict[str, Any] = {"n": len(state.data["invocations"]) + 1, "started": now(), "status": "running",
                               "ran": [], "resumed": [], "host_before": _host_facts(), "argv": sys.argv[1:]}
        state.data["invocations"].append(inv)
        state.save()
        ctx = Context(cfg, run_dir, state, progress=not quiet and sys.stderr.isatty(),
                      board_python=board_python)
        display = Display(len(STAGES) + 1, quiet, stream)
        display.line(f"course demo: {cfg.describe()}")
        display.line(f"  run folder {run_dir}" + (" (started over)" if fresh else ""))
        outcome = RunOutcome(run_dir, "running")
        try:
            _run_stages(ctx, display, inv, forced, outcome, quiet)
            inv.update(status=outcome.status, finished=now(), failed_stage=outcome.failed_stage,
                       seconds=round(time.perf_counter() - t_start, 3), host_after=_host_facts())
            state.save()
            _write_report(state, display, outcome)
        finally:
            display.close()
        outcome.seconds = time.perf_counter() - t_start
        inv["seconds"] = round(outcome.seconds, 3)
        state.save()
    display.line(_final_line(state, outcome))
    return outcome
