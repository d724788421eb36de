"""Benchmark of the lectures: both notebooks under nbval (target: <= 3 minutes in total), then the export.

Run: .venv/host/bin/python bench/lectures.py [--no-export]
Prints wall seconds per notebook as `make test` runs them (pytest --nbval-lax, one kernel each), the
total against the 3-minute target, the time of `course lectures` (execute + export to offline HTML)
and the machine's load average (other work on a 2-core machine slows everything down).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 180.0


def _env() -> dict[str, str]:
    """The test environment: offline data mirror, Agg backend."""
    env = dict(os.environ, MPLBACKEND="Agg")
    shared = ROOT.parent / "shared" / "data"
    if not env.get("COURSE_DATA_MIRROR") and (shared / "mnist").is_dir():
        env["COURSE_DATA_MIRROR"] = str(shared)
    return env


def time_nbval(notebook: Path) -> float:
    """Wall seconds of ``pytest --nbval-lax <notebook>``; raises if a cell fails."""
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          str(notebook)], cwd=ROOT, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{notebook.name} failed under nbval:\n{res.stdout[-3000:]}")
    return seconds


def time_export(out: Path) -> float:
    """Wall seconds of ``course lectures --out <out>`` (assets already installed in build/lectures)."""
    from course_utils.commands.lectures import ensure_assets
    from course_utils.paths import build_dir

    assets = ensure_assets(build_dir("lectures")).parent
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "course_utils.cli", "lectures", "--out", str(out),
                          "--assets", str(assets)], cwd=ROOT, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"course lectures failed:\n{res.stderr[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-export", action="store_true", help="only time the nbval runs")
    args = parser.parse_args()
    from course_utils.commands.lectures import lecture_notebooks

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) before: {load:.2f} on {os.cpu_count()} CPUs")
    total = 0.0
    for nb in lecture_notebooks():
        seconds = time_nbval(nb)
        total += seconds
        print(f"nbval {nb.name:32s} {seconds:6.1f} s")
    verdict = "within" if total <= TARGET_S else "OVER"
    print(f"nbval both lectures              {total:6.1f} s ({verdict} the {TARGET_S:.0f} s target)")
    if not args.no_export:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = time_export(Path(tmp) / "slides")
            sizes = sum(p.stat().st_size for p in (Path(tmp) / "slides").glob("*.html"))
            print(f"course lectures (execute + export) {seconds:6.1f} s, {sizes / 1e6:.1f} MB of HTML")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) after: {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
