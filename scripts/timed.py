#!/usr/bin/env python3
"""Wall time of each phase of `make test` (stdlib only).

    timed.py start                 begin a new record (build/make-test-phases.tsv)
    timed.py run NAME -- CMD ...   run CMD, record NAME's wall time and status; on failure print the table
    timed.py summary               print the table of phases and the total
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

RECORD = Path(__file__).resolve().parent.parent / "build" / "make-test-phases.tsv"


def _rows() -> list[tuple[str, float, str]]:
    if not RECORD.is_file():
        return []
    rows = []
    for line in RECORD.read_text().splitlines():
        name, secs, status = line.split("\t")
        rows.append((name, float(secs), status))
    return rows


def summary() -> None:
    rows = _rows()
    if not rows:
        return
    total = sum(r[1] for r in rows)
    print("\nmake test, wall time per phase:")
    for name, secs, status in rows:
        print(f"  {name:<12} {secs:8.1f} s  {status}")
    print(f"  {'total':<12} {total:8.1f} s  ({total / 60:.1f} min)", flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text("")
        return 0
    if argv[:1] == ["summary"]:
        summary()
        return 0
    if len(argv) < 4 or argv[0] != "run" or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    name, cmd = argv[1], argv[3:]
    print(f"\n== make test: {name}", flush=True)
    t0 = time.monotonic()
    try:
        code = subprocess.call(cmd)
    except KeyboardInterrupt:
        code = 130
    secs = time.monotonic() - t0
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    with RECORD.open("a") as fh:
        fh.write(f"{name}\t{secs:.1f}\t{'ok' if code == 0 else f'FAILED ({code})'}\n")
    if code != 0:
        summary()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
