#!/usr/bin/env python3
"""Train the shipped Lab 1 fallback models, seeded, and write them to ``pretrained/lab1/``.

Writes (see docs/ARCHITECTURE.md, "Lab 1 -> Lab 2"): ``qnn_w4a4.pt``, ``model_qonnx.onnx``,
``golden.npz``, ``meta.json`` (via ``export.save_lab1_artifacts``), ``float_mlp.pt`` (the float
baseline that Lab 1 notebook 03 quantizes) and ``sweep.json`` (W1A1, W2A2, W4A4, W8A8).

    .venv/host/bin/python scripts/pretrained_lab1.py [--out DIR] [--dataset mnist] [--seed 0] [--no-sweep]

The same seed on the same machine (2 CPU threads) reproduces the same models;
tests/test_pretrained_lab1.py re-runs it and compares.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Train, export and write the Lab 1 fallback artifacts; return the exit status."""
    from course_utils import export, train
    from course_utils.models import MLPConfig, save_checkpoint
    from course_utils.paths import pretrained_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: pretrained/lab1)")
    ap.add_argument("--dataset", default="mnist", help="mnist (default) or fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-sweep", action="store_true", help="skip the W1A1/W2A2/W8A8 runs (no sweep.json)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    out = args.out or pretrained_dir("lab1")
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    t0 = time.perf_counter()

    net, float_hist = train.fit(None, args.dataset, seed=args.seed, progress=progress)
    float_acc = float_hist.final_test_acc
    save_checkpoint(net, out / export.FLOAT_FILE, {"dataset": args.dataset, "test_accuracy": float_acc,
                                                   "epochs": len(float_hist.epoch), "seed": args.seed})
    print(f"float baseline: {100 * float_acc:.2f}% ({float_hist.seconds:.1f} s)")

    cfg = MLPConfig()
    qnn, hist = train.fit(cfg, args.dataset, seed=args.seed, progress=progress)
    acc = float(hist.final_test_acc)
    paths = export.save_lab1_artifacts(qnn, out, dataset=args.dataset, test_accuracy=acc,
                                       epochs=len(hist.epoch), seed=args.seed,
                                       extra={"float_test_accuracy": float_acc,
                                              "train_seconds": round(hist.seconds, 2),
                                              "made_by": "scripts/pretrained_lab1.py"})
    names = ", ".join(p.name for p in paths.values())
    print(f"{cfg.tag}: {100 * acc:.2f}% ({hist.seconds:.1f} s) -> {names}")

    if not args.no_sweep:
        results = train.sweep(dataset=args.dataset, seed=args.seed, progress=progress,
                              done={cfg.tag: train.sweep_entry(cfg, hist)})
        export.save_sweep(results, out, dataset=args.dataset, seed=args.seed, float_accuracy=float_acc)
        for tag, r in results.items():
            print(f"  {tag.upper()}: {100 * r['accuracy']:.2f}% ({r['seconds']:.1f} s, {r['epochs']} epochs)")
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
