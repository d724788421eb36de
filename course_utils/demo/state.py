"""The run folder's ``state.json``: which stages finished, with what inputs, artifacts and results.

A stage is resumed (not run again) only when it finished (``done`` or ``skipped``) with the same
inputs and all its artifacts are still there, unchanged (sha256). Before a stage runs, everything
downstream of it is marked ``stale``, so an interrupted run can never pair new and old artifacts.
Every write is atomic (temporary file + rename).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from course_utils.demo.config import DemoError
from course_utils.fileio import sha256_file, write_text_atomic

STATE_FILE = "state.json"
LOCK_FILE = ".lock"
SCHEMA = 1
FINISHED = ("done", "skipped")


def now() -> str:
    """The local time as an ISO string (seconds)."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


sha256 = sha256_file


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return write_text_atomic(path, text)


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=1, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays and paths as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


class RunState:
    """``state.json`` of one run folder: config, one record per stage, one entry per invocation."""

    def __init__(self, run_dir: Path, data: dict[str, Any]):
        self.run_dir = run_dir
        self.data = data

    @property
    def path(self) -> Path:
        """Where the state is saved."""
        return self.run_dir / STATE_FILE

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        """The state of ``run_dir`` (empty when it has none); DemoError if it is unreadable."""
        path = run_dir / STATE_FILE
        if not path.is_file():
            return cls(run_dir, {"schema": SCHEMA, "config": None, "stages": {}, "invocations": []})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DemoError(f"{path} is unreadable ({err}): start over with `course demo --fresh` "
                            "(or delete the folder).") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA \
                or not isinstance(data.get("stages"), dict):
            raise DemoError(f"{path} was written by another version of the kit: start over with "
                            "`course demo --fresh`.")
        data.setdefault("invocations", [])
        return cls(run_dir, data)

    def save(self) -> None:
        """Write the state atomically."""
        write_json(self.path, self.data)

    def record(self, stage: str) -> dict[str, Any]:
        """The record of ``stage`` (empty dict when it never ran)."""
        return self.data["stages"].get(stage, {})

    def set_record(self, stage: str, record: dict[str, Any]) -> None:
        """Replace the record of ``stage`` and save."""
        self.data["stages"][stage] = record
        self.save()

    def mark_stale(self, stages: list[str], because: str) -> None:
        """Mark finished ``stages`` stale (their inputs are about to change) and save."""
        changed = False
        for name in stages:
            rec = self.data["stages"].get(name)
            if rec and rec.get("status") in FINISHED:
                rec["status"] = "stale"
                rec["stale_because"] = because
                changed = True
        if changed:
            self.save()

    def result(self, stage: str) -> dict[str, Any]:
        """The result dict of a finished stage (empty otherwise)."""
        rec = self.record(stage)
        return rec.get("result", {}) if rec.get("status") in FINISHED else {}

    def artifacts_problem(self, stage: str) -> str | None:
        """Why the recorded artifacts of ``stage`` cannot be trusted (missing/changed), or None."""
        for rel, digest in (self.record(stage).get("artifacts") or {}).items():
            path = self.run_dir / rel
            if not path.is_file():
                return f"{rel} is missing"
            if sha256(path) != digest:
                return f"{rel} changed since the stage wrote it"
        return None

    def hash_artifacts(self, paths: list[Path]) -> dict[str, str]:
        """``{path relative to the run folder: sha256}`` of ``paths`` (files; folders: every file in them)."""
        out: dict[str, str] = {}
        for p in paths:
            files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
            for f in files:
                if not f.is_file():
                    raise FileNotFoundError(f"the stage did not write {f}")
                out[str(f.resolve().relative_to(self.run_dir.resolve()))] = sha256(f)
        return out


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` (DemoError if another ``course demo`` uses it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; run without
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise DemoError(f"{run_dir} is in use by another `course demo` ({holder}): wait for it "
                                "to finish, or use another run folder with --run NAME.") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {now()}")
        f.flush()
        yield
    finally:
        f.close()
