#!/usr/bin/env python3
"""Write the shipped Lab 2 fallbacks to ``pretrained/lab2/``, from the shipped Lab 1 model.

* ``deploy/mnist_w4a4/``: the deploy package for Lab 3 (docs/ARCHITECTURE.md, "the deploy package"):
  Lab 1's W4A4 MLP through the kit's FINN flow, folded for >= 1,000,000 FPS (100 cycles per image)
  within 70% of the xc7z020's LUT/BRAM/DSP at 100 MHz (DSPs as mvu.sv instantiates them; each
  Thresholding's PE matched to its MVAU's, so no wide width converter), verified bit-exactly against
  the golden batch in Python and in RTL simulation (Verilator; cycles per image measured, recorded in
  ``accelerator.json`` ``rtl_verification``); no Vivado, so a placeholder bitstream and a generated ``.hwh``;
* ``design.json``: that folding, its estimates and the output scale;
* ``sweep/model_w{1,2,8}a{1,2,8}.onnx`` + ``sweep/sweep.json``: seeded QAT runs of the other bit widths
  (QONNX), for Lab 2's design space across bit widths (W4A4 is Lab 1's model). Same recipe and seed as
  Lab 1's sweep (``train.fit``: the default's recipe, 30 epochs with shifts and dropout), hence the same
  networks and accuracies as its ``sweep.json``; ``scripts/pretrained_lab1.py --sweep-only`` writes both
  from one training run.

    .venv/host/bin/python scripts/pretrained_lab2.py [--out DIR] [--only deploy|sweep] [--quiet]

The deploy part is deterministic (tests/test_finnflow_pretrained.py re-runs it and compares); the
sweep trains three networks (30 epochs each: minutes on 2 busy cores). Re-run after pretrained/lab1
changes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from course_utils.fileio import write_text_atomic

NAME = "mnist_w4a4"
SWEEP = ((1, 1), (2, 2), (8, 8))


def _write_json(path: Path, obj: object) -> None:
    """Write JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_deploy(out: Path, rtl: bool = True) -> Path:
    """Run the flow on pretrained/lab1 and write ``out/deploy/<NAME>`` and ``out/design.json``."""
    from course_utils import finnflow as ff
    from course_utils.export import lab1_artifacts
    from course_utils.hw.deploy import write_deploy_package

    lab1 = lab1_artifacts(prefer="pretrained")
    golden = ff.Golden.load(lab1["golden"])
    result = ff.run_flow(lab1["qonnx"], golden=golden, target_fps=1_000_000, budget=0.7)
    if result.skipped:
        raise SystemExit(f"verification incomplete: {result.skipped}")
    est = result.estimates
    record = design = None
    if rtl:  # the stitched RTL in Verilator: bit-exact on the golden batch, cycles per image measured
        from course_utils import rtl as rtlsim
        from course_utils.paths import build_dir, kit_root

        # the compile cache the tests and notebooks share (build/rtl/cache), whatever COURSE_BUILD_DIR says
        design = rtlsim.build(result.folded, build_dir("rtl") / "pretrained_lab2", quiet=True,
                              cache=kit_root() / "build" / "rtl" / "cache")
        checked = ff.verify_stage(result.folded, golden, "09_rtlsim", output_scale=result.output_scale,
                                  level="rtlsim", design=design, quiet=True)
        record = rtlsim.deploy_record(checked.rtl, result.folded, design)
        print(f"RTL: {record['measured']['interval_cycles']:.0f} cycles per image measured "
              f"({record['measured']['fps']:,.0f} images/s at {record['measured']['clock_mhz']:.0f} MHz), "
              f"estimate {record['estimated']['interval_cycles']}")
    package = write_deploy_package(result.folded, out / "deploy" / NAME, name=NAME, board="pynq-z2",
                                   clock_mhz=est["clock_mhz"], golden_x=golden.x,
                                   output_scale=result.output_scale, labels=golden.labels, estimates=est,
                                   rtl_verification=record, rtl_design=design,
                                   dataset=json.loads(Path(lab1["meta"]).read_text()).get("dataset", "mnist"))
    _write_json(out / "design.json", {"name": NAME, "qonnx": "pretrained/lab1/model_qonnx.onnx",
                                      "folding": result.folding, "output_scale": result.output_scale,
                                      "estimates": est, "streams": ff.io_streams(result.folded)})
    return package


def train_sweep(progress: bool = True, seed: int = 0) -> list[tuple]:
    """Train W1A1, W2A2, W8A8 (``train.fit``: the default's recipe, seeded); ``[(cfg, qnn, history)]``."""
    # before torch loads: idle OpenMP threads sleep instead of spinning (much faster on a busy machine)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from course_utils import train
    from course_utils.models import MLPConfig

    runs = []
    for wb, ab in SWEEP:
        cfg = MLPConfig(weight_bits=wb, act_bits=ab)
        qnn, hist = train.fit(cfg, "mnist", seed=seed, progress=progress)
        print(f"{cfg.tag}: {100 * hist.final_test_acc:.2f}% ({hist.seconds:.1f} s, {len(hist.epoch)} epochs)",
              flush=True)
        runs.append((cfg, qnn, hist))
    return runs


def export_sweep(out: Path, runs: list[tuple], seed: int = 0) -> Path:
    """Export ``train_sweep``'s networks to ``out/sweep`` (QONNX + ``sweep.json``)."""
    from course_utils import export, train

    folder = out / "sweep"
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for cfg, qnn, hist in runs:
        export.export_qonnx(qnn, folder / f"model_{cfg.tag}.onnx")
        entry = train.sweep_entry(cfg, hist)
        entry.pop("seconds", None)  # machine- and load-dependent: not part of the shipped record
        results[cfg.tag] = {**entry, "qonnx": f"model_{cfg.tag}.onnx", "seed": seed}
    _write_json(folder / "sweep.json", results)
    return folder


def write_sweep(out: Path, progress: bool = True, seed: int = 0) -> Path:
    """Train W1A1, W2A2, W8A8 (the default's recipe, seeded) and export them to ``out/sweep``."""
    return export_sweep(out, train_sweep(progress, seed), seed)


def main(argv: list[str] | None = None) -> int:
    """Write the Lab 2 fallbacks; return the exit status."""
    from course_utils.paths import pretrained_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: pretrained/lab2)")
    ap.add_argument("--only", choices=("deploy", "sweep"), default=None, help="write only one part")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--no-rtl", action="store_true",
                    help="skip the RTL simulation (Verilator) that measures cycles per image for the package")
    args = ap.parse_args(argv)
    out = args.out or pretrained_dir("lab2")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.only in (None, "deploy"):
        print(f"deploy package: {write_deploy(out, rtl=not args.no_rtl)}")
    if args.only in (None, "sweep"):
        print(f"sweep models: {write_sweep(out, progress=not args.quiet)}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
