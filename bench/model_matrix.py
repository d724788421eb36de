"""The model matrix: W1A1, W2A2, W4A4, W8A8 MLPs and a Fashion-MNIST network through the whole kit.

Run: .venv/host/bin/python bench/model_matrix.py [--rtl] [--only NAME ...] [--out DIR]
Per network: each stage ok/failed (train, export, flow with every stage verified, estimate, deploy,
board model, and with --rtl the stitched RTL built with Verilator and simulated), bit-exactness,
test accuracy (2,000 test images, seeded short QAT), FINN's estimated FPS, the RTL-measured FPS,
resources (LUT/BRAM18 estimated by FINN, DSPs as the RTL MVU instantiates them), HLS layers.
Writes the rows as JSON to --out/matrix.json and prints the Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from course_utils.fileio import write_text_atomic
from course_utils.finnflow import matrix
from course_utils.paths import build_dir


def main() -> int:
    """Run every network of the matrix and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtl", action="store_true", help="also build and simulate the RTL (minutes each)")
    parser.add_argument("--only", nargs="*", help="networks to run (default: all)")
    parser.add_argument("--out", default=None, help="output folder (default: build/bench/model_matrix)")
    args = parser.parse_args()
    os.environ.setdefault("COURSE_DATA_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    out = Path(args.out) if args.out else build_dir("bench", "model_matrix")
    nets = [n for n in matrix.MATRIX if not args.only or n.name in args.only]
    if not nets:
        print(f"no network named {args.only}: choose from {', '.join(n.name for n in matrix.MATRIX)}")
        return 1
    rows = []
    t0 = time.perf_counter()
    for net in nets:
        row = matrix.run_network(net, out / net.name, rtl=args.rtl, rtl_cache=build_dir("rtl", "cache"))
        rows.append(row)
        print(f"{net.name}: {row.get('seconds', '?')} s, stages {row['stages']}", flush=True)
    write_text_atomic(out / "matrix.json", json.dumps(rows, indent=1, default=str) + "\n")
    print()
    print(matrix.table(rows))
    print(f"\n{len(rows)} networks in {time.perf_counter() - t0:.0f} s; rows in {out / 'matrix.json'}")
    failed = [r["network"] for r in rows
              if any(v != "ok" and not v.startswith("n/a") for v in r["stages"].values())]
    if failed:
        print("FAILED:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
