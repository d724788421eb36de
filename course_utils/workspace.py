"""The student's own copies of the course notebooks: ``work/`` (never generated, never overwritten).

``labs/`` is generated from ``solutions/`` by ``course labs`` and checked by the tests, so a student who ran
and saved a notebook there would lose the work at the next regeneration. Students work in ``work/`` instead:

* ``course lab`` (and ``course work``) copy every notebook of ``labs/`` that ``work/`` lacks;
* a copy the student has not changed since it was copied is refreshed when ``labs/`` has a newer version (its
  hash is recorded in ``work/.course/seeded.json``), so course updates reach untouched notebooks;
* a copy the student changed is never touched: the new version is reported, and ``course work --fresh PATH``
  keeps the student's file as ``<name>.mine-<time>.ipynb`` beside the new one.

Standard library only (the container's entry point and the board reuse it).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.fileio import publish, write_bytes_atomic, write_text_atomic
from course_utils.paths import kit_root

SEEDED = ("labs",)
SKIP_PARTS = {".ipynb_checkpoints", "__pycache__", "node_modules"}
STATE = Path(".course") / "seeded.json"


def work_dir() -> Path:
    """The student's folder: ``$COURSE_WORK`` or ``work/`` in the kit."""
    env = os.environ.get("COURSE_WORK")
    return Path(env).expanduser().resolve() if env else kit_root() / "work"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class SyncReport:
    """What a sync did: files copied (new), refreshed (unchanged by the student), kept (edited by the student,
    with a newer version in labs/), all paths relative to the work folder."""

    copied: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.copied:
            out.append(f"copied {len(self.copied)} new course file(s) into your work folder")
        if self.refreshed:
            out.append(f"updated {len(self.refreshed)} notebook(s) you had not changed: "
                       + ", ".join(self.refreshed))
        for rel in self.kept:
            out.append(f"{rel}: the course has a newer version; yours is kept. To take the new one (yours is "
                       f"saved beside it): course work --fresh {rel}")
        return out


def _sources(root: Path) -> dict[str, Path]:
    found = {}
    for sub in SEEDED:
        base = root / sub
        if not base.is_dir():
            continue
        for src in sorted(base.rglob("*")):
            rel = src.relative_to(root)
            if src.is_file() and not SKIP_PARTS.intersection(rel.parts):
                found[rel.as_posix()] = src
    return found


def _load_state(work: Path) -> dict[str, str]:
    try:
        data = json.loads((work / STATE).read_text())
        return {str(k): str(v) for k, v in data.get("seeded", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def sync(root: Path | None = None, work: Path | None = None) -> SyncReport:
    """Copy what ``work`` lacks from ``labs/``; refresh untouched copies; never overwrite an edited one."""
    root = root or kit_root()
    work = work or work_dir()
    work.mkdir(parents=True, exist_ok=True)
    if not os.access(work, os.W_OK):
        raise PermissionError(f"the work folder {work} is not writable: fix its ownership or set COURSE_WORK "
                              "to a folder of yours.")
    state = _load_state(work)
    report = SyncReport()
    for rel, src in _sources(root).items():
        dst = work / rel
        new = src.read_bytes()
        new_sha = hashlib.sha256(new).hexdigest()
        if not dst.exists():
            write_bytes_atomic(dst, new)
            state[rel] = new_sha
            report.copied.append(rel)
            continue
        mine = _sha(dst)
        if mine == new_sha:
            state[rel] = new_sha
        elif state.get(rel) == mine:  # still exactly what we copied: the student never changed it
            write_bytes_atomic(dst, new)
            state[rel] = new_sha
            report.refreshed.append(rel)
        else:
            report.kept.append(rel)
    write_text_atomic(work / STATE, json.dumps({"seeded": dict(sorted(state.items()))}, indent=1) + "\n")
    return report


def fresh(rel: str, root: Path | None = None, work: Path | None = None) -> Path:
    """Take the course's current version of ``rel``; the student's file is kept as ``<stem>.mine-<time>``.

    Returns the path of the kept copy."""
    root = root or kit_root()
    work = work or work_dir()
    rel = Path(rel).as_posix()
    if rel.startswith("work/"):
        rel = rel[len("work/"):]
    src = _sources(root).get(rel)
    if src is None:
        raise FileNotFoundError(f"{rel} is not a course file (expected a path such as "
                                "labs/lab1_qat/02_quantization_maths.ipynb)")
    dst = work / rel
    kept = dst.with_name(f"{dst.stem}.mine-{time.strftime('%Y%m%d-%H%M%S')}{dst.suffix}")
    if dst.exists():
        publish(dst, kept)
    data = src.read_bytes()
    write_bytes_atomic(dst, data)
    state = _load_state(work)
    state[rel] = hashlib.sha256(data).hexdigest()
    write_text_atomic(work / STATE, json.dumps({"seeded": dict(sorted(state.items()))}, indent=1) + "\n")
    return kept
