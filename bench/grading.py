"""Benchmark: grade a class folder of N submissions of a whole lab with W workers, on this machine.

    .venv/host/bin/python bench/grading.py [--lab 3] [--students 30] [--workers 2] [--sandbox auto]

The class folder is derived from the current notebooks by the grading corpus (``write_lab``: correct,
untouched, first notebook only and the hostile cases, in turn), graded by the real grader (one sandboxed
kernel per notebook, the solution's expected values first). The script checks every total against the
corpus's expectation and prints: wall time (with the expected-values run), time per notebook and per
student, the peak memory of each notebook's sandbox (as the grader records it: its memory cgroup's
high-water mark, else sampled PSS; median and largest per notebook, largest per student), and the
peak memory (PSS: shared pages split) of the whole class run: the grader with all its workers and
kernels, sampled every 0.2 s. ``uptime`` before and after tells how loaded the machine was.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = {"1": "lab1_qat", "2": "lab2_finn", "3": "lab3_zynq"}


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
    from course_utils.authoring.memory import TreeSampler

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
        load_before = os.getloadavg()
        with TreeSampler(os.getpid(), every=0.2) as memory:
            start = time.perf_counter()
            results = grader.grade(submissions)
            seconds = time.perf_counter() - start
        wrong = [f"{r['student']} {r['total']:g} != {want[r['student']]:g}" for r in results
                 if abs(r["total"] - want[r["student"]]) > 1e-9]
        per_nb: dict[str, list[float]] = {}
        nb_peaks: dict[str, list[float]] = {}
        slowest: dict[str, list] = {}
        sources = set()
        for r in results:
            for n in r["notebooks"]:
                if n.get("seconds"):
                    per_nb.setdefault(n["notebook"], []).append(n["seconds"])
                if n.get("peak_memory_mb"):
                    nb_peaks.setdefault(n["notebook"], []).append(n["peak_memory_mb"])
                    sources.add(n["peak_memory_from"])
                if n.get("slowest_cells") and n["notebook"] not in slowest and r["total"] == r["max"]:
                    slowest[n["notebook"]] = n["slowest_cells"][:3]
        values = work / "out" / "expected" / "values.json"
        expected_phase = values.stat().st_mtime - (time.time() - seconds) if values.exists() else 0.0
        students = seconds - expected_phase
        load_after = os.getloadavg()
        print(f"grading benchmark: {len(results)} submissions of {lab} ({len(grader.stems)} notebooks), "
              f"{args.workers} worker(s), sandbox {grader.sandbox}, {os.cpu_count()} CPU(s)")
        print(f"  load average (1, 5, 15 min) before {' '.join(f'{v:.1f}' for v in load_before)}, "
              f"after {' '.join(f'{v:.1f}' for v in load_after)}")
        print(f"  class folder generated in   {made:7.1f} s")
        print(f"  graded in (wall)            {seconds:7.1f} s  ({seconds / len(results):.1f} s per student, "
              "including the solution's expected-values run)")
        print(f"  the solutions' run (expected values, build caches) {expected_phase:7.1f} s; the students "
              f"{students:7.1f} s = {students / len(results):.1f} s per student "
              f"with {args.workers} worker(s)")
        kernel = sum(statistics.median(runs) for runs in per_nb.values())
        print(f"  kernel time per student (sum of the notebooks' medians) {kernel:7.1f} s")
        for stem, runs in per_nb.items():
            mem = nb_peaks.get(stem, [])
            mem_text = (f"; peak memory {statistics.median(mem):5.0f} MB median, {max(mem):5.0f} MB max"
                        if mem else "; peak memory not measured")
            print(f"  {stem:<28} {statistics.median(runs):6.1f} s median, {max(runs):6.1f} s max per run"
                  + mem_text)
            for secs, where in slowest.get(stem, []):
                print(f"      {secs:6.1f} s  {where}")
        students_mem = [r["peak_memory_mb"] for r in results if r.get("peak_memory_mb")]
        if students_mem:
            print(f"  peak memory per student (largest sandbox) {statistics.median(students_mem):5.0f} MB "
                  f"median, {max(students_mem):5.0f} MB max; measured by {'; '.join(sorted(sources))}")
        print(f"  peak memory of the class run (grader, {args.workers} workers, their kernels; PSS) "
              f"{memory.peak / 2**20:7.0f} MB")
        print(f"  totals as expected          {len(results) - len(wrong)} / {len(results)}")
        if wrong:
            print(f"  WRONG totals: {wrong}")
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
