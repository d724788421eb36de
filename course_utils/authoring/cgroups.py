"""Per-kernel control groups of the grader (Linux): a process-count and a memory limit for a whole sandbox.

Why a cgroup: ``RLIMIT_NPROC`` is not enforced for processes whose real uid outside every user
namespace is root, and a bubblewrap sandbox started by root maps its uid 1000 to root outside; so a
fork bomb in a notebook graded by root is bounded only by a ``pids`` cgroup. ``RLIMIT_AS`` bounds
each process's address space, not the sum of a kernel's children; the ``memory`` cgroup bounds the
sum (tmpfs pages the sandbox writes count too).

The grader makes one folder per run under its own cgroup (``course-grade-<pid>-<random>``) in each
controller it can write (cgroup v1 hierarchies, or cgroup v2 with the controller enabled), one
folder per notebook run in it; the sandbox's launcher moves itself into the notebook's folders
before it starts bubblewrap, so every process of the sandbox is counted. Where no controller can be
written (an unprivileged grader without delegation, most containers), ``RunGroups.create`` returns
None and the sandbox falls back to ``RLIMIT_NPROC`` inside its own user namespace (see sandbox.py).
Standard library only.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path

MB = 1024 * 1024


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount (from /proc/self/mountinfo)."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((fields[4], rest[0], set(rest[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """controller (or "" for cgroup v2) -> this process's cgroup path (from /proc/self/cgroup)."""
    paths = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(",") if parts[1] else [""]:
                paths[name] = parts[2]
    return paths


def controller_dir(controller: str) -> Path | None:
    """The folder of this process's cgroup for ``controller`` ("pids", "memory"), or None."""
    own = _own_paths()
    for point, fstype, options in _mounts():
        if fstype == "cgroup" and controller in options and controller in own:
            return Path(point) / own[controller].lstrip("/")
    for point, fstype, _options in _mounts():
        if fstype == "cgroup2" and "" in own:
            base = Path(point) / own[""].lstrip("/")
            try:
                if controller in (Path(point) / "cgroup.controllers").read_text().split():
                    return base
            except OSError:
                continue
    return None


def _write(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


class RunGroups:
    """The grader's cgroup folders of one run: ``job()`` makes one notebook's, ``close()`` removes them."""

    FILES = {"pids": "pids.max", "memory": "memory.limit_in_bytes"}

    def __init__(self, bases: dict[str, Path]) -> None:
        self.bases = bases  # controller -> this run's folder

    @classmethod
    def create(cls, controllers: tuple[str, ...] = ("pids", "memory")) -> RunGroups | None:
        """Make this run's folder in every controller the grader may write; None when there is none
        for ``pids`` (the process limit is the one a sandbox cannot do without)."""
        name = f"course-grade-{os.getpid()}-{secrets.token_hex(3)}"
        bases: dict[str, Path] = {}
        for controller in controllers:
            parent = controller_dir(controller)
            if parent is None:
                continue
            base = parent / name
            try:
                base.mkdir()
            except OSError:
                continue
            if cls._limit_file(base, controller) is None:
                with contextlib.suppress(OSError):  # cgroup v2: enable the controller below our cgroup
                    _write(parent / "cgroup.subtree_control", f"+{controller}")
                    _write(base / "cgroup.subtree_control", f"+{controller}")
            if cls._limit_file(base, controller) is None:
                with contextlib.suppress(OSError):
                    base.rmdir()
                continue
            bases[controller] = base
        if "pids" not in bases:
            cls._remove(list(bases.values()))
            return None
        return cls(bases)

    @staticmethod
    def _limit_file(folder: Path, controller: str) -> Path | None:
        for name in ("pids.max",) if controller == "pids" else ("memory.limit_in_bytes", "memory.max"):
            if (folder / name).exists():
                return folder / name
        return None

    def describe(self) -> str:
        return " and ".join(f"{c} cgroup" for c in self.bases)

    def job(self, name: str, processes: int, memory_mb: int) -> list[Path]:
        """One notebook's folders with its limits: at most ``processes`` tasks (processes and threads),
        ``memory_mb`` of memory for everything in the sandbox together."""
        folders = []
        for controller, base in self.bases.items():
            folder = base / name
            folder.mkdir()
            folders.append(folder)
            limit_file = self._limit_file(folder, controller)
            assert limit_file is not None
            value = str(int(processes)) if controller == "pids" else str(int(memory_mb) * MB)
            _write(limit_file, value)
        return folders

    @staticmethod
    def refused(folders: list[Path]) -> dict[str, int]:
        """How often each limit refused or killed something: {"processes": forks refused at the limit,
        "memory": OOM kills}."""
        out = {"processes": 0, "memory": 0}
        for folder in folders:
            for name, key, word in (("pids.events", "processes", "max"),
                                    ("memory.events", "memory", "oom_kill"),
                                    ("memory.oom_control", "memory", "oom_kill")):
                try:
                    text = (folder / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    fields = line.split()
                    if len(fields) == 2 and fields[0] == word and fields[1].isdigit():
                        out[key] = max(out[key], int(fields[1]))
        return out

    @staticmethod
    def release(folders: list[Path], wait: float = 10.0) -> None:
        """Kill whatever is still in the folders, then remove them."""
        for folder in folders:
            with contextlib.suppress(OSError, ValueError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
        RunGroups._remove(folders, wait)

    @staticmethod
    def _remove(folders: list[Path], wait: float = 10.0) -> None:
        deadline = time.monotonic() + wait
        for folder in folders:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)

    def close(self) -> None:
        """Remove this run's folders (their notebook folders first)."""
        for base in self.bases.values():
            with contextlib.suppress(OSError):
                self.release([p for p in base.iterdir() if p.is_dir()])
        self._remove(list(self.bases.values()))
