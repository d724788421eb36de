#!/usr/bin/env python3
"""Train the shipped Lab 1 fallback models, seeded, and write them to ``pretrained/lab1/``.

Writes (see docs/ARCHITECTURE.md, "Lab 1 -> Lab 2"): ``qnn_w4a4.pt``, ``model_qonnx.onnx``,
``golden.npz``, ``meta.json`` (via ``export.save_lab1_artifacts``), ``float_mlp.pt`` (the float
baseline that Lab 1 notebook 03 quantizes) and ``sweep.json`` (W1A1, W2A2, W4A4, W8A8).

    .venv/host/bin/python scripts/pretrained_lab1.py [--out DIR] [--dataset mnist] [--seed 0] [--no-sweep]
    .venv/host/bin/python scripts/pretrained_lab1.py --sweep-only [--lab2 DIR]

``--sweep-only`` keeps the float and W4A4 artifacts (their sweep entries come from the shipped
``sweep.json``), trains W1A1, W2A2 and W8A8 once and writes both ``sweep.json`` here and Lab 2's sweep
models (``pretrained/lab2/sweep``, as ``scripts/pretrained_lab2.py --only sweep`` would) from that run.

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
    ap.add_argument("--sweep-only", action="store_true",
                    help="retrain only W1A1/W2A2/W8A8: sweep.json here and Lab 2's sweep models")
    ap.add_argument("--lab2", type=Path, default=None,
                    help="with --sweep-only: Lab 2's folder for the sweep models (default: pretrained/lab2)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    out = args.out or pretrained_dir("lab1")
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    t0 = time.perf_counter()
    if args.sweep_only:
        return sweep_only(out, args.lab2 or pretrained_dir("lab2"), args.dataset, args.seed, progress)

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


def sweep_only(out: Path, lab2: Path, dataset: str, seed: int, progress: bool) -> int:
    """Retrain the sweep's other bit widths once; write ``out/sweep.json`` and ``lab2/sweep``."""
    from course_utils import export, train

    if dataset != "mnist":
        raise SystemExit("--sweep-only writes the shipped MNIST sweep: use --dataset mnist")
    shipped = out / export.SWEEP_FILE
    if not shipped.is_file():
        raise SystemExit(f"--sweep-only needs the W4A4 entry of {shipped}: run without --sweep-only first")
    old = export.load_sweep(shipped)
    if old.get("seed") != seed or "w4a4" not in old["results"]:
        raise SystemExit(f"{shipped} has no W4A4 entry for seed {seed}: run without --sweep-only")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pretrained_lab2

    t0 = time.perf_counter()
    runs = pretrained_lab2.train_sweep(progress, seed)
    results = {cfg.tag: train.sweep_entry(cfg, hist) for cfg, _, hist in runs}
    results["w4a4"] = old["results"]["w4a4"]
    results = {tag: results[tag] for tag in ("w1a1", "w2a2", "w4a4", "w8a8")}
    export.save_sweep(results, out, dataset=dataset, seed=seed, float_accuracy=old.get("float_accuracy"))
    print(f"lab 2 sweep models: {pretrained_lab2.export_sweep(lab2, runs, seed)}")
    for tag, r in results.items():
        print(f"  {tag.upper()}: {100 * r['accuracy']:.2f}% ({r['seconds']:.1f} s, {r['epochs']} epochs)")
    print(f"wrote {out / export.SWEEP_FILE} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
