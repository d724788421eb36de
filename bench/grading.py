"""Benchmark: seconds to grade N Lab 1 submissions (notebook 02) with W workers, on this machine.

    .venv/host/bin/python bench/grading.py [--students 30] [--workers 2] [--notebook lab1_qat/02_...]

The submissions are derived from the current notebooks by the grading corpus (correct, partly
correct, untouched, partial credit, a crashing answer, deleted checkpoints, in turn), graded by the
real grader (one sandboxed kernel per submission); the script checks every score against the
corpus's expectation and prints the timings.
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
MIX = ("correct", "partly_correct", "untouched", "partial_credit", "exception", "deleted_checkpoints")


def main() -> int:
    """Generate, grade, check and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--notebook", default="lab1_qat/02_quantization_maths")
    args = parser.parse_args()
    os.environ.setdefault("COURSE_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))
    sys.path.insert(0, str(ROOT / "tests" / "grading_corpus"))
    import corpus

    from course_utils.authoring.grade import Grader, Options, discover

    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        start = time.perf_counter()
        expected = corpus.write(work / "corpus", args.notebook)
        subs = work / "submissions"
        want = {}
        for i in range(args.students):
            case = [c for c in MIX if c in expected][i % len([c for c in MIX if c in expected])]
            shutil.copytree(work / "corpus" / case, subs / f"student{i:02d}")
            want[f"student{i:02d}"] = expected[case].points
        made = time.perf_counter() - start
        solution = ROOT / "solutions" / f"{args.notebook}.ipynb"
        grader = Grader(ROOT, [solution], work / "out", Options(workers=args.workers, progress=False))
        submissions = discover(subs, grader.stems)
        start = time.perf_counter()
        results = grader.grade(submissions)
        seconds = time.perf_counter() - start
        wrong = [r["student"] for r in results if abs(r["total"] - want[r["student"]]) > 1e-9]
        runs = [n["seconds"] for r in results for n in r["notebooks"] if "seconds" in n]
        print(f"grading benchmark: {len(results)} submissions of {args.notebook}, {args.workers} worker(s), "
              f"{os.cpu_count()} CPU(s)")
        print(f"  corpus generated in        {made:6.1f} s")
        rate = 3600 * len(results) / seconds
        each = seconds / len(results)
        print(f"  graded in                  {seconds:6.1f} s  ({each:.2f} s each, {rate:.0f} per hour)")
        print(f"  one submission (worker)    {statistics.median(runs):6.1f} s median, {max(runs):.1f} s max "
              "(kernel start + notebook + checks)")
        print(f"  scores as expected         {len(results) - len(wrong)} / {len(results)}")
        if wrong:
            print(f"  WRONG scores: {wrong}")
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
