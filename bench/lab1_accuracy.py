#!/usr/bin/env python3
"""Lab 1 accuracy and training time on this machine: float baseline, QAT sweep W1A1/W2A2/W4A4/W8A8.

    .venv/host/bin/python bench/lab1_accuracy.py [--datasets mnist fashion-mnist] [--seed 0] [--epochs N]

Prints one table per dataset (test accuracy, epochs, seconds of training per run) and checks the
course targets on MNIST: W4A4 >= 97.5%, W2A2 >= 96.6%, W1A1 >= 93.2%, one QAT run <= 90 s.
Exit status 1 if a target is missed. Training uses 2 CPU threads (``train.THREADS``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

TARGETS = {"w4a4": 0.975, "w2a2": 0.966, "w1a1": 0.932}
MAX_SECONDS = 90.0


def run(dataset: str, seed: int, n_epochs: int | None) -> list[tuple[str, float, int, float]]:
    """``[(name, accuracy, epochs, seconds)]`` for the float baseline and the QAT sweep on ``dataset``."""
    from course_utils import train

    rows = []
    _, hist = train.fit(None, dataset, seed=seed, n_epochs=n_epochs, progress=False)
    rows.append(("float", hist.final_test_acc, len(hist.epoch), hist.seconds))
    for tag, r in train.sweep(dataset=dataset, seed=seed, n_epochs=n_epochs, progress=False).items():
        rows.append((tag.upper(), r["accuracy"], r["epochs"], r["seconds"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables, return 1 if an MNIST target is missed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None,
                    help="override the recipe's epochs (the targets assume the recipe)")
    args = ap.parse_args(argv)
    import torch

    from course_utils import train

    train.seed_everything(args.seed)
    print(f"# Lab 1 accuracy benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} on {torch.get_num_threads()} threads, seed {args.seed}")
    missed = []
    for dataset in args.datasets:
        t0 = time.perf_counter()
        rows = run(dataset, args.seed, args.epochs)
        print(f"\n## {dataset}\n")
        print("| network | test accuracy | epochs | training s |")
        print("|---|---|---|---|")
        for name, acc, epochs, secs in rows:
            print(f"| {name} | {100 * acc:.2f}% | {epochs} | {secs:.1f} |")
        print(f"\n(total {time.perf_counter() - t0:.0f} s including data loading and evaluation)")
        if dataset == "mnist" and args.epochs is None:
            for name, acc, _, secs in rows:
                target = TARGETS.get(name.lower())
                if target is not None and acc < target:
                    missed.append(f"{name} {100 * acc:.2f}% < {100 * target:.1f}%")
                if name != "float" and secs > MAX_SECONDS:
                    missed.append(f"{name} trained in {secs:.0f} s > {MAX_SECONDS:.0f} s")
    print("\ntargets (MNIST):", "all met" if not missed else "MISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
