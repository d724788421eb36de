"""The grader's records: authenticated result files (``--resume``), the gradebook and the feedback.

Each student's result is written at once, as it comes: ``results/<student>.json`` (signed with the
grader's HMAC key, ``verdict.sign``), ``feedback/<student>.md`` (Markdown for the student) and the
rewritten ``gradebook.csv`` (one row per student). ``triage`` decides, for ``--resume``, which
students keep their stored result: same submission and configuration (the fingerprint), a valid
signature (a result changed after grading is regraded and flagged), no grader error. The solution's
probe values are cached the same way (``load_expected`` / ``save_expected``).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from course_utils.authoring import verdict
from course_utils.authoring.grade_inputs import Submission, safe_name
from course_utils.fileio import write_text_atomic

FLAG_TAMPERED = "its stored result was changed after grading (regraded)"
TAMPERED_NOTE = ("The stored result of this submission had been changed after grading (its signature did "
                 "not match); it was graded again.")


def fmt(points: float) -> str:
    """Points as the gradebook and the feedback print them (no trailing zeros)."""
    return f"{points:g}"


def load_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def result_path(out: Path, student: str) -> Path:
    """Where a student's result JSON goes in the output folder ``out``."""
    return out / "results" / f"{safe_name(student)}.json"


def triage(submissions: list[Submission], out: Path, key: bytes, resume: bool,
           fingerprint: Callable[[Submission], str],
           ) -> tuple[list[Submission], dict[str, dict[str, Any]], set[str]]:
    """(to grade, stored results kept by student, students whose stored result was tampered with)."""
    done: dict[str, dict[str, Any]] = {}
    todo = []
    tampered: set[str] = set()
    for sub in submissions:
        old = load_json(result_path(out, sub.student))
        if not resume or old is None:
            todo.append(sub)
        elif not verdict.verify(old, key):
            tampered.add(sub.student)  # changed after grading: regrade, and say so
            todo.append(sub)
        elif old.get("fingerprint") == fingerprint(sub) and old.get("status") != "grader_error":
            done[sub.student] = old
        else:
            todo.append(sub)
    return todo, done, tampered


def mark_tampered(res: dict[str, Any]) -> None:
    """Flag a fresh result whose stored predecessor had been changed after grading."""
    res["flags"] = sorted({*res["flags"], FLAG_TAMPERED})
    res["notes"].append(TAMPERED_NOTE)


def save_result(out: Path, res: dict[str, Any], key: bytes, lab: str) -> None:
    """Write a student's signed result and feedback (each file complete or absent)."""
    signed = verdict.sign(json.loads(json.dumps(res, default=str)), key)
    res["hmac"] = signed["hmac"]
    write_text_atomic(result_path(out, res["student"]), json.dumps(signed, indent=1, default=str))
    write_text_atomic(out / "feedback" / f"{safe_name(res['student'])}.md", feedback(res, lab))


def load_expected(cache: Path, key: bytes, fingerprint: str) -> dict[str, dict[str, Any]] | None:
    """The solution's cached probe values when signed with ``key`` for this ``fingerprint``, else None."""
    old = load_json(cache)
    if old and verdict.verify(old, key) and old.get("fingerprint") == fingerprint:
        return old["values"]
    return None


def save_expected(cache: Path, values: dict[str, dict[str, Any]], key: bytes, fingerprint: str) -> None:
    """Cache the solution's probe values, signed, for the grader with this ``fingerprint``."""
    write_text_atomic(cache, json.dumps(verdict.sign({"fingerprint": fingerprint, "values": values}, key),
                                        default=str))


def write_gradebook(out: Path, results: Iterable[dict[str, Any]],
                    columns: list[tuple[str, str, str]]) -> None:
    """Rewrite ``gradebook.csv`` in ``out`` (complete or absent)."""
    write_text_atomic(out / "gradebook.csv", gradebook_csv(results, columns))


def gradebook_csv(results: Iterable[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """The gradebook: one row per student, one column per exercise, then total, max, status, flags and the
    student's peak memory in MB (the largest of their notebooks' sandboxes; empty when not measured)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *[name for _, _, name in columns], "total", "max", "status", "flags",
                     "peak_memory_mb"])
    for res in sorted(results, key=lambda r: r["student"]):
        ex = res.get("exercises", {})
        peak = res.get("peak_memory_mb")
        writer.writerow([_cell_text(res["student"]), *[fmt(ex.get(name, 0.0)) for _, _, name in columns],
                         fmt(res.get("total", 0.0)), fmt(res.get("max", 0.0)), res.get("status", ""),
                         "; ".join(res.get("flags", [])), f"{peak:.0f}" if peak else ""])
    return buf.getvalue()


def _cell_text(text: str) -> str:
    """A CSV cell that spreadsheets will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def feedback(res: dict[str, Any], lab: str) -> str:
    """The student's feedback in Markdown: score, each exercise, hints, problems and notes."""
    lines = [f"# Feedback: {lab}, {res['student']}", "",
             f"**Total: {fmt(res['total'])} / {fmt(res['max'])} points** (status: {res['status']})", ""]
    for nb in res["notebooks"]:
        parts = nb.get("parts", [])
        got, most = sum(p["points"] for p in parts), sum(p["max"] for p in parts)
        lines += [f"## {nb['notebook']}.ipynb: {fmt(got)} / {fmt(most)}", ""]
        if nb.get("invalid"):
            lines += [f"Your file could not be graded: {nb['invalid']}", ""]
        if nb.get("missing"):
            lines += ["Not submitted.", ""]
        lines += ["| exercise | part | points | result |", "|---|---|---|---|"]
        for p in parts:
            said = "passed" if p["passed"] else "not passed"
            points = f"{fmt(p['points'])} / {fmt(p['max'])}"
            lines.append(f"| {p['exercise']} | {p['part']} | {points} | {said} |")
        lines.append("")
        failed = [p for p in parts if not p["passed"]]
        if failed and not nb.get("missing") and not nb.get("invalid"):
            lines += ["### What to fix", ""]
            lines += [f"- Exercise {p['exercise']} ({p['part']}): {_one_line(p.get('reason', ''))}"
                      for p in failed]
            lines.append("")
        if nb.get("stop_text"):
            lines += ["### The run stopped early", "", f"- {nb['stop_text']}; later checks were not run.", ""]
        if nb.get("problems"):
            lines += ["### Problems while running your notebook", ""]
            lines += [f"- {_one_line(p)}" for p in nb["problems"]]
            lines.append("")
        if nb.get("notes"):
            lines += ["### Notes", ""] + [f"- {n}" for n in nb["notes"]] + [""]
    if res.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:1200]
