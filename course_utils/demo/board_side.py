"""The demo's board-side step: run test images through a deploy package on a PYNQ board (real or virtual).

Runs in the BOARD environment (numpy + pynq + ``course_utils.board`` only; never torch or FINN), as
a subprocess of ``course demo``, with Lab 3's own helpers: ``load_package`` -> ``check_environment``
-> ``pynq.Overlay`` -> ``runtime.infer`` (pack, DMA send/receive, unpack) timed by ``runtime.Stopwatch``.
It first checks the package's golden batch bit-exactly, then runs all given images, and hands the
results back through files (written atomically)::

    python -m course_utils.demo.board_side PACKAGE INPUTS.npz OUTPUTS.npz RESULT.json [--no-progress]

``INPUTS.npz`` holds ``x`` uint8 ``(N, 400)`` (what the package's input stream takes);
``OUTPUTS.npz`` gets ``y_int`` int64 ``(N, classes)``;
``RESULT.json`` gets the board, timings and the environment's versions. Exit status 0 on success,
1 with one line on stderr saying what went wrong.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from course_utils import fileio
from course_utils.versions import dist_versions


def _versions() -> dict[str, str]:
    """Python, numpy, pynq and the kit's versions in this (board) environment."""
    dists = ("pynq", "pynqmetadata", "numpy", "course-utils")
    return {"python": platform.python_version(), **dist_versions(dists)}


def run_on_board(package: str | Path, x: np.ndarray, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Golden check, then ``runtime.infer`` of all of ``x`` on the overlay; ``(y_int, facts)``."""
    from pynq import Overlay

    from course_utils.board import runtime
    from course_utils.board.package import load_package

    pkg = load_package(package, source="course demo")
    where = runtime.check_environment(pkg)
    t0 = time.perf_counter()
    overlay = Overlay(str(pkg.bitfile))
    load_s = time.perf_counter() - t0
    golden = pkg.golden()
    y_golden = runtime.infer(overlay, pkg, golden["x"], progress=False)
    if not np.array_equal(y_golden, golden["y_int"]):
        bad = int(np.argwhere((y_golden != golden["y_int"]).any(axis=1))[0][0])
        raise RuntimeError(f"the board's outputs differ from the package's golden batch (first at sample "
                           f"{bad}: board {y_golden[bad].tolist()}, golden {golden['y_int'][bad].tolist()}): "
                           "the bitstream does not match accelerator.json. Rebuild the package (Lab 2).")
    with runtime.Stopwatch(overlay, samples=len(x)) as sw:
        y = runtime.infer(overlay, pkg, x, progress=progress)
    timing = sw.timing
    if timing is None:  # the Stopwatch sets it on leaving its block
        raise RuntimeError("the board's stopwatch recorded no timing: report this as a kit bug.")
    facts = {
        "board": runtime.board_kind(), "where": where, "package": str(pkg.path),
        "placeholder_bitstream": pkg.placeholder_bitstream, "overlay_load_s": load_s,
        "golden_samples": int(len(golden["x"])), "golden_identical": True,
        "samples": int(len(x)), "max_batch": int(pkg.max_batch),
        "seconds": timing.seconds, "wall_s": timing.wall_s, "modelled_s": timing.modelled_s,
        "fps": timing.fps, "timing_label": timing.label, "timing": str(timing),
        "versions": _versions(),
    }
    return y, facts


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (see the module docstring); return the exit status."""
    ap = argparse.ArgumentParser(prog="python -m course_utils.demo.board_side",
                                 description="course demo: inference on a (virtual) PYNQ board")
    ap.add_argument("package", type=Path)
    ap.add_argument("inputs", type=Path)
    ap.add_argument("outputs", type=Path)
    ap.add_argument("result", type=Path)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        with np.load(args.inputs) as data:
            x = data["x"]
        if x.dtype != np.uint8 or x.ndim != 2:
            raise ValueError(f"{args.inputs}: expected x uint8 (N, features), got {x.dtype} {x.shape}.")
        y, facts = run_on_board(args.package, x, progress=not args.no_progress)
    except Exception as err:  # noqa: BLE001 - one clear line for the host side
        print(f"board side failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    with fileio.atomic_file(args.outputs) as f:
        np.savez(f, y_int=y.astype(np.int64))
    fileio.write_text_atomic(args.result, json.dumps(facts, indent=1) + "\n")
    print(facts["timing"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
