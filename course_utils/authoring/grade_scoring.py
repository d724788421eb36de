"""Scoring: what a run obtained, compared with what the solution's run obtained, as points.

``outcome`` turns a worker's events into one part per injected check (passed or not, with the reason
shown to the student) and the problems of the student's own cells (errors, timeouts, output cut,
limits hit); each part is decided outside the kernel (``judge_part``: ``verdict.compare`` against the
solution's value, or a grader-side judge from ``judges``). ``score`` adds the points per exercise,
the total and a status. Pure functions of their inputs: no process, no file.
"""
from __future__ import annotations

from typing import Any

from course_utils.authoring import grading_notebook as gnb
from course_utils.authoring import verdict
from course_utils.authoring.grade_inputs import NotebookPlan
from course_utils.authoring.grading_config import LabConfig, Limits

FLAG_REFUTED = "a check reported success that the grader's own comparison refutes"
FLAG_FORGED = "forged or extra grader messages in a check cell"
FLAG_NO_RESULT = "a grader check cell published no result (the notebook interfered with it)"
FLAG_DETACHED = "left processes running outside its kernel's session (killed with its sandbox)"
FLAG_PROCESSES = "started processes until the sandbox's process limit stopped it (a fork bomb?)"

STOP_REASONS = {
    "total_timeout": "the notebook reached its total time limit of {total:g} s",
    "kernel_died": "the notebook's Python kernel stopped in {where}: the code called os._exit() or "
                   "os.kill, crashed, or was killed for using more than {memory} MB of memory",
    "kernel_stuck": "{where} ran past its {cell_timeout:g} s limit and ignored the interrupt, "
                    "so the run was stopped there",
    "grader_error": "the grader could not run the notebook: {message}",
    "interrupted": "grading was interrupted",
    "no_start": "the notebook's kernel did not start: {message}",
}


def _stop_text(reason: str, stop: dict[str, Any], limits: Limits, merged: gnb.GradingNotebook) -> str:
    index = stop.get("index", -1)
    where = merged.describe(index) if 0 <= index < len(merged.nb.cells) else "an unknown cell"
    return STOP_REASONS.get(reason, reason).format(
        total=limits.total_timeout, where=where, memory=limits.memory_mb, cell_timeout=limits.cell_timeout,
        message=stop.get("message", "see the worker log"))


def explain_error(ename: str, evalue: str, limits: Limits) -> str:
    """A student-facing sentence for a cell error, with the limit it hit when one applies."""
    text = f"{ename}: {evalue[:300]}" if evalue.strip() else ename
    if ename == "MemoryError" or "Unable to allocate" in evalue or "Cannot allocate memory" in evalue:
        return f"{text} (the notebook may use at most {limits.memory_mb} MB of memory)"
    if "File too large" in evalue:
        return f"{text} (files written by the notebook may be at most {limits.file_mb} MB)"
    return text


def judge_part(part: dict[str, Any], res: dict[str, Any], key: str, expected: dict[str, Any] | None,
           rule: dict[str, Any], values: dict[str, Any], flags: set[str]) -> None:
    """Decide one part from the harness's message: compare the probe's value with the solution's
    (outside the kernel); the course's check gives only the feedback text."""
    check = res.get("check") if isinstance(res.get("check"), dict) else None
    said = str(check.get("message", "")) if check and not check.get("passed") else ""
    if res.get("probe_error"):
        part["reason"] = said or f"the grader's test of your code raised {res['probe_error']}"
        if res.get("harness_error") and not said:
            flags.add(FLAG_NO_RESULT)
        return
    judge = None
    if rule.get("judge"):
        from course_utils.authoring.judges import JUDGES
        judge = JUDGES[rule["judge"]]
    if expected is None:  # the solution's own run: record its value
        values[key] = res.get("value")
        part["passed"] = check is None or bool(check.get("passed"))
        if not part["passed"]:
            part["reason"] = said or "the course's check failed on the solution"
        elif judge is not None:
            verdict_text = judge(res.get("value"), None)
            if verdict_text:
                part["passed"] = False
                part["reason"] = f"the judge {rule['judge']} rejects the solution: {verdict_text}"
        return
    if key not in expected:
        part["reason"] = "the grader has no expected value for this part (a grader error)"
        return
    if judge is not None:
        try:
            diff = judge(res.get("value"), expected[key])
        except Exception as err:  # noqa: BLE001 - a malformed answer is a wrong answer
            diff = f"your answer could not be checked: {type(err).__name__}: {err}"
    else:
        diff = verdict.compare(expected[key], res.get("value"), rule.get("rtol", 1e-6),
                               rule.get("atol", 1e-9))
    if diff is None:
        part["passed"] = True
        return
    part["reason"] = said or rule.get("hint") or f"your results differ from the expected ones: {diff}"
    if check and check.get("passed"):
        flags.add(FLAG_REFUTED)


def outcome(events: list[dict[str, Any]], merged: gnb.GradingNotebook, plan: NotebookPlan,
             killed: str | None, kernel_said: str = "", expected: dict[str, Any] | None = None,
             rules: dict[str, dict[str, Any]] | None = None,
             refused: dict[str, int] | None = None) -> dict[str, Any]:
    """Turn the worker's events into parts (per check) and cell problems (per student cell).

    ``refused``: what the sandbox's cgroups refused (forks at the process limit, OOM kills)."""
    limits = plan.limits
    rules = rules or {}
    cells = {e["index"]: e for e in events if e.get("event") == "cell"}
    stops = [e for e in events if e.get("event") == "stopped"]
    started = any(e.get("event") == "started" for e in events)
    stop = stops[0] if stops else {}
    reason = stop.get("reason") or killed
    if not started and reason in (None, "grader_error"):
        message = stop.get("message", "see the worker log")
        if kernel_said:
            message = f"{message} (the kernel said: {kernel_said})"
        reason, stop = "no_start", {"message": message}
    if reason is None and not any(e.get("event") == "finished" for e in events):
        reason = "kernel_died"
    stop_text = _stop_text(reason, stop, limits, merged) if reason else None
    flags: set[str] = set()
    if any(e.get("event") == "detached" for e in events):
        flags.add(FLAG_DETACHED)
    refused = refused or {}
    most = max([int(e.get("count", 0)) for e in events if e.get("event") == "processes"], default=0)
    # a fork bomb: forks refused at the cgroup's limit, or (RLIMIT_NPROC, no counter) a sandbox that still
    # held half its process allowance when the notebook ended
    forked = refused.get("processes", 0) > 0 or most >= max(16, limits.processes // 2)
    if forked:
        flags.add(FLAG_PROCESSES)
    values: dict[str, Any] = {}
    parts = []
    timeout_text = (f"the check did not finish within {limits.cell_timeout:g} s and was "
                    "interrupted: look for an infinite loop or very slow code")
    for inj in merged.injected:
        ev = cells.get(inj.index)
        key = f"{inj.exercise}|{inj.part}"
        part = {"exercise": inj.exercise, "part": inj.part, "max": inj.points, "points": 0.0, "passed": False}
        if ev is None:
            part["reason"] = "not graded: the run stopped before this check (see below)"
        elif ev.get("timed_out"):
            part["reason"] = timeout_text
        elif ev.get("result") is not None:
            judge_part(part, ev["result"], key, expected, rules.get(key, {}), values, flags)
        elif ev.get("error"):
            ename, evalue = ev["error"]
            part["reason"] = f"the check could not run: {explain_error(ename, evalue, limits)}"
            flags.add(FLAG_NO_RESULT)
        else:
            part["reason"] = ev.get("problem") or ("no result was recorded (the notebook interfered with the "
                                                   "grader's output)")
            flags.add(FLAG_FORGED if ev.get("problem") else FLAG_NO_RESULT)
        if part["passed"]:
            part["points"] = inj.points
        parts.append(part)
    problems = []
    for index, ev in sorted(cells.items()):
        if ev.get("kind") != "student":
            continue
        where = merged.describe(index)
        if ev.get("timed_out"):
            problems.append(f"{where} did not finish within {limits.cell_timeout:g} s and was interrupted: "
                            "look for an infinite loop or very slow code.")
        elif ev.get("error"):
            problems.append(f"{where} raised {explain_error(ev['error'][0], ev['error'][1], limits)}")
        if ev.get("truncated"):
            problems.append(f"{where} printed more than {limits.output_kb} KB; the rest of its output "
                            "was cut.")
    if forked:
        problems.append(f"The notebook started processes until the sandbox's limit ({limits.processes} "
                        "processes and threads) refused more"
                        + (f" ({refused['processes']} refused)." if refused.get("processes") else "."))
    if refused.get("memory"):
        problems.append(f"The sandbox ran out of its memory ({limits.memory_mb + limits.disk_mb} MB for "
                        "every process and file of the notebook together) and the kernel's system killed a "
                        "process.")
    out = {"parts": parts, "problems": problems, "stopped": reason, "stop_text": stop_text,
           "executed_cells": len(cells), "flags": sorted(flags)}
    if expected is None:
        out["values"] = values
    return out




def part_rules(plan: NotebookPlan, config: LabConfig) -> dict[str, dict[str, Any]]:
    """"exercise|part" -> tolerance and hint of every graded part of a notebook."""
    rules = {}
    for ex in plan.spec.exercises:
        rule = config.exercise(plan.spec.stem, ex)
        rules[f"{ex}|checkpoint"] = {"rtol": rule.rtol, "atol": rule.atol, "hint": "",
                                     "judge": rule.judge}
        for h in rule.hidden:
            rules[f"{ex}|hidden: {h.name}"] = {"rtol": h.rtol, "atol": h.atol, "hint": h.hint}
    return rules


def unreached(plan: NotebookPlan, config: LabConfig, reason: str) -> list[dict[str, Any]]:
    """Zero-point parts for every check of a notebook that could not run."""
    parts = []
    for ex in plan.spec.exercises:
        rule = config.exercise(plan.spec.stem, ex)
        named = [("checkpoint", rule.checkpoint)] if plan.spec.checkpoints.get(ex) else []
        named += [(f"hidden: {h.name}", h.points) for h in rule.hidden]
        parts += [{"exercise": ex, "part": part, "points": 0.0, "max": points, "passed": False,
                   "reason": reason} for part, points in named]
    return parts


def score(result: dict[str, Any], columns: list[tuple[str, str, str]], max_points: float,
          status: str | None = None) -> dict[str, Any]:
    """Add per-exercise points, the total and a status to a student's result.

    ``columns``: (notebook stem, exercise id, column name) of every graded exercise (``Grader.columns``)."""
    names = {(stem, ex): name for stem, ex, name in columns}
    per_ex: dict[str, float] = {}
    for nb in result["notebooks"]:
        for part in nb.get("parts", []):
            key = names[(nb["notebook"], part["exercise"])]
            per_ex[key] = per_ex.get(key, 0.0) + float(part["points"])
    result["exercises"] = {name: per_ex.get(name, 0.0) for _, _, name in columns}
    result["total"] = round(sum(result["exercises"].values()), 6)
    result["max"] = max_points
    if status is None:
        nbs = result["notebooks"]
        if any(n.get("invalid") for n in nbs):
            status = "invalid"
        elif nbs and all(n.get("missing") for n in nbs):
            status = "not_submitted"
        elif any(n.get("stopped") for n in nbs):
            status = "incomplete"
        elif any(n.get("missing") for n in nbs):
            status = "partly_submitted"
        else:
            status = "graded"
    result["status"] = status
    result["flags"] = sorted({f for n in result["notebooks"] for f in n.get("flags", [])})
    return result

