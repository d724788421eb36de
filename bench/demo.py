"""Benchmark of ``course demo``: the full default demo from scratch, per-stage and total wall time.

Run: .venv/host/bin/python bench/demo.py [--quick] [extra course-demo options...]
Runs ``course demo --fresh --quiet`` (the real command, as a subprocess) with
COURSE_BUILD_DIR=build/bench-demo (kept for inspection; started over every time), then prints the
seconds of every stage from the run's state.json, the total wall time, the number of CPUs and the
load average before and after (the machine may be shared: judge the figures by the load).
Targets: full <= 600 s, quick <= 120 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    """The 1/5/15-minute load average as text."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> int:
    """Run the demo once and print its timings; return its exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="benchmark `course demo --quick` instead")
    args, extra = ap.parse_known_args()
    shared = ROOT.parent / "shared" / "data"
    env = dict(os.environ)
    if not env.get("COURSE_DATA_MIRROR") and (shared / "mnist").is_dir():
        env["COURSE_DATA_MIRROR"] = str(shared)
    build = ROOT / "build" / "bench-demo"
    env["COURSE_BUILD_DIR"] = str(build)
    for var in ("PYNQ_REMOTE_DEVICES", "PYNQ_VIRTUAL_BOARD", "FINN_BUILD_DIR"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "course_utils.cli", "demo", "--fresh", "--quiet",
           *(["--quick"] if args.quick else []), *extra]
    print(f"$ {' '.join(cmd[1:])}   (COURSE_BUILD_DIR={build})")
    print(f"CPUs {os.cpu_count()}, load average before {_load()}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    print(f"load average after {_load()}")
    runs = sorted((build / "demo").glob("*/state.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        print(f"no run folder was written (exit {proc.returncode})")
        return proc.returncode or 1
    state = json.loads(runs[-1].read_text())
    print(f"\n{'stage':<12} {'status':<8} {'seconds':>8}")
    total = 0.0
    for name, rec in state["stages"].items():
        secs = float(rec.get("seconds") or 0.0)
        total += secs
        print(f"{name:<12} {rec.get('status', '?'):<8} {secs:8.1f}")
        for sub, s in (rec.get("result") or {}).get("sub_seconds", {}).items():
            print(f"  finn.{sub:<16} {s:8.2f}")
    target = 120 if args.quick else 600
    print(f"{'stages':<21} {total:8.1f}")
    verdict = "met" if wall <= target else "MISSED"
    print(f"{'total wall time':<21} {wall:8.1f}   (target <= {target} s: {verdict})")
    print(f"report: {runs[-1].parent / 'report.html'}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
