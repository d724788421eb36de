"""Benchmark: grade a class folder of N submissions of a whole lab with W workers, on this machine.

    .venv/host/bin/python bench/grading.py [--lab 3] [--students 30] [--workers 2] [--sandbox auto]

The class folder is derived from the current notebooks by the grading corpus (``write_lab``: correct,
untouched, first notebook only and the hostile cases, in turn), graded by the real grader (one sandboxed
kernel per notebook, the solution's expected values first). The script checks every total against the
corpus's expectation and prints: wall time (with the expected-values run), time per notebook, and the
peak memory (PSS: shared pages split) of the grader with all its workers and kernels (sampled
every 0.2 s).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = {"1": "lab1_qat", "2": "lab2_finn", "3": "lab3_zynq"}


def _pss(pid: int, rss: int) -> int:
    """Proportional set size of ``pid`` (shared pages split between their users: a fork bomb's 128 copies
    of one kernel count once, not 128 times), else its resident size."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss


def _tree_rss(root: int) -> int:
    """Memory (PSS, else RSS) of ``root`` and all its descendants (Linux /proc; 0 elsewhere)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid in rss:
            total += _pss(pid, rss[pid])
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


class PeakMemory:
    """Samples the resident memory of this process tree in a thread; ``peak`` in bytes."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, _tree_rss(os.getpid()))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    """Generate, grade, check and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="3", choices=sorted(LABS))
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "limits"))
    args = parser.parse_args()
    os.environ.setdefault("COURSE_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))
    sys.path.insert(0, str(ROOT / "tests" / "grading_corpus"))
    import corpus
    from tqdm.auto import tqdm

    from course_utils.authoring.grade import Grader, Options, discover

    lab = LABS[args.lab]
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    os.environ.setdefault("COURSE_GRADER_KEY_FILE", str(work / "hmac.key"))
    try:
        start = time.perf_counter()
        expected = corpus.write_lab(work / "corpus", lab)
        cases = sorted(expected)
        subs = work / "submissions"
        want = {}
        for i in tqdm(range(args.students), desc="class folder", unit="student"):
            case = cases[i % len(cases)]
            shutil.copytree(work / "corpus" / case, subs / f"student{i:02d}")
            want[f"student{i:02d}"] = expected[case].points
        made = time.perf_counter() - start
        notebooks = sorted((ROOT / "solutions" / lab).glob("*.ipynb"))
        grader = Grader(ROOT, notebooks, work / "out", Options(workers=args.workers, sandbox=args.sandbox))
        submissions = discover(subs, grader.stems)
        with PeakMemory() as memory:
            start = time.perf_counter()
            results = grader.grade(submissions)
            seconds = time.perf_counter() - start
        wrong = [f"{r['student']} {r['total']:g} != {want[r['student']]:g}" for r in results
                 if abs(r["total"] - want[r["student"]]) > 1e-9]
        per_nb: dict[str, list[float]] = {}
        slowest: dict[str, list] = {}
        for r in results:
            for n in r["notebooks"]:
                if n.get("seconds"):
                    per_nb.setdefault(n["notebook"], []).append(n["seconds"])
                if n.get("slowest_cells") and n["notebook"] not in slowest and r["total"] == r["max"]:
                    slowest[n["notebook"]] = n["slowest_cells"][:3]
        values = work / "out" / "expected" / "values.json"
        expected_phase = values.stat().st_mtime - (time.time() - seconds) if values.exists() else 0.0
        students = seconds - expected_phase
        print(f"grading benchmark: {len(results)} submissions of {lab} ({len(grader.stems)} notebooks), "
              f"{args.workers} worker(s), sandbox {grader.sandbox}, {os.cpu_count()} CPU(s), "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"  class folder generated in   {made:7.1f} s")
        print(f"  graded in (wall)            {seconds:7.1f} s  ({seconds / len(results):.1f} s per student, "
              "including the solution's expected-values run)")
        print(f"  the solutions' run (expected values, build caches) {expected_phase:7.1f} s; the students "
              f"{students:7.1f} s = {students / len(results):.1f} s per student "
              f"with {args.workers} worker(s)")
        kernel = sum(statistics.median(runs) for runs in per_nb.values())
        print(f"  kernel time per student (sum of the notebooks' medians) {kernel:7.1f} s")
        for stem, runs in per_nb.items():
            print(f"  {stem:<28} {statistics.median(runs):6.1f} s median, {max(runs):6.1f} s max per run")
            for secs, where in slowest.get(stem, []):
                print(f"      {secs:6.1f} s  {where}")
        print(f"  peak memory (grader, workers, kernels) {memory.peak / 2**20:7.0f} MB")
        print(f"  totals as expected          {len(results) - len(wrong)} / {len(results)}")
        if wrong:
            print(f"  WRONG totals: {wrong}")
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
