"""Peak memory of a grading sandbox: from its memory cgroup, else sampled from /proc (Linux).

Two ways, in order of preference (``Grader.run_notebook`` uses the first one available):

1. the sandbox's memory cgroup (cgroups.py): ``memory.max_usage_in_bytes`` (cgroup v1) or
   ``memory.peak`` (cgroup v2, Linux 5.19 and later) is the kernel's own high-water mark of
   everything the sandbox's processes hold, tmpfs files it wrote included (what ``memory_mb +
   disk_mb`` bounds). Exact, no sampling.
2. otherwise ``TreeSampler``: a thread that sums the proportional set size (PSS:
   ``/proc/<pid>/smaps_rollup``; pages shared between processes are split between them, so a
   fork bomb's copies of one kernel count once) of the sandbox's process tree every ``every``
   seconds and keeps the largest sum. A peak shorter than the interval can be missed; tmpfs
   files are not counted. Without /proc (not Linux) it measures nothing (0: "not measured").

Standard library only.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

MB = 1024 * 1024


def cgroup_peak(folders: list[Path]) -> tuple[int, str] | None:
    """(bytes, file name) of the high-water mark of the first memory cgroup in ``folders``, or None."""
    for folder in folders:
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                text = (folder / name).read_text().strip()
            except OSError:
                continue
            if text.isdigit():
                return int(text), name
    return None


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (its resident size where smaps_rollup is missing)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (Linux /proc; empty elsewhere or when ``root`` is gone)."""
    children: dict[int, list[int]] = {}
    alive = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        alive.add(int(entry.name))
        children.setdefault(parent, []).append(int(entry.name))
    if root not in alive:
        return []
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def tree_pss(root: int) -> int:
    """Memory (PSS) of ``root`` and all its descendants, in bytes."""
    return sum(pss(pid) for pid in descendants(root))


class TreeSampler:
    """Samples the PSS of a process tree in a thread; ``peak`` in bytes (0: nothing measured).

    ``root`` is a pid, or a callable returning the pid once it is known (e.g. read from a pidfile the
    sandbox writes) or None before."""

    def __init__(self, root: int | Callable[[], int | None], every: float = 0.5) -> None:
        self.root, self.every, self.peak = root, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-sampler")

    def _pid(self) -> int | None:
        return self.root() if callable(self.root) else int(self.root)

    def sample(self) -> None:
        """Take one sample now."""
        pid = self._pid()
        if pid:
            self.peak = max(self.peak, tree_pss(pid))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pid_from_file(path: Path):  # noqa: ANN201 - a callable for TreeSampler
    """A callable returning the pid written in ``path`` (None until it is there)."""
    def read() -> int | None:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None
    return read
