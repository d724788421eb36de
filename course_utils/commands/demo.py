"""``course demo``: the whole course pipeline headless, from data to (virtual) board inference, one report.

Stages: data -> float baseline -> QAT -> QONNX export -> FINN -> [stitched IP] -> deploy package ->
[bitstream] -> board -> bit-width sweep -> report (``build/demo/<run>/report.html`` and ``report.md``).
A re-run resumes after the last good stage; ``--fresh`` starts over. See docs/demo.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

STAGE_HELP = "data, float, qat, export, finn, stitched_ip, deploy, bitstream, board, sweep"


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``course demo``."""
    from course_utils.demo.config import BOARD_ALIASES, MODELS, DemoConfig

    d = DemoConfig()
    parser.add_argument("--dataset", default=d.dataset, choices=("mnist", "fashion-mnist"),
                        help="dataset to train and test on (default: %(default)s)")
    parser.add_argument("--bits", default=d.tag, metavar="WxAy",
                        help="weight and activation bits of the network that goes to hardware (e.g. w4a4; "
                             "2..8 bits are all-RTL; a binary (w1a1) layer stays HLS: verified in Python, "
                             "not RTL-simulated; "
                             "default: %(default)s)")
    parser.add_argument("--model", default=d.model, choices=MODELS,
                        help="the network: the course's MLP or the CNN of docs/networks_cnn.md (stride-2 3x3 "
                             "convolutions, all-RTL at 2..8 bits; default: %(default)s)")
    parser.add_argument("--channels", default=",".join(map(str, d.channels)), metavar="LIST",
                        help="CNN only: output channels of its convolutions (default: %(default)s)")
    parser.add_argument("--side", type=int, default=d.side,
                        help="CNN only: centre crop of the 28x28 images it takes (default: %(default)s)")
    parser.add_argument("--board", default=d.board, choices=BOARD_ALIASES,
                        help="board preset, all xc7z020 (default: %(default)s)")
    parser.add_argument("--target-fps", type=float, default=d.target_fps,
                        help="throughput the folding must reach, FINN estimate (default: %(default).0f)")
    parser.add_argument("--budget", type=float, default=d.budget,
                        help="largest fraction of the board's LUT/BRAM/DSP the folding may use "
                             "(default: %(default)s)")
    parser.add_argument("--clock-mhz", type=float, default=d.clock_mhz,
                        help="accelerator clock FCLK0 in MHz (default: %(default)s)")
    parser.add_argument("--sweep", default=",".join(f"w{w}a{a}" for w, a in d.sweep), metavar="LIST",
                        help="bit widths of the accuracy-vs-bits sweep, or 'none' (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 epoch per network, 1,000 test images per stage, shortened sweep")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every training run (default: Lab 1's recipe; 1 with --quick)")
    parser.add_argument("--eval-samples", type=int, default=None,
                        help="test images checked at every stage (default: all; 1000 with --quick)")
    parser.add_argument("--seed", type=int, default=d.seed, help="training seed (default: %(default)s)")
    parser.add_argument("--run", default=None, metavar="NAME",
                        help="run folder build/demo/NAME (default: <dataset>_<bits>[_quick])")
    parser.add_argument("--fresh", action="store_true", help="start over: empty the run folder first")
    parser.add_argument("--from", dest="from_stage", default=None, metavar="STAGE",
                        help=f"run again from this stage on ({STAGE_HELP})")
    parser.add_argument("--board-python", type=Path, default=None, metavar="PATH",
                        help="Python of the board environment (default: $COURSE_BOARD_PYTHON or .venv/board)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars: one line per stage (for CI logs)")


def config_from_args(args: argparse.Namespace):  # -> DemoConfig (import kept lazy)
    """The DemoConfig the options describe (validated)."""
    from course_utils.demo.config import DemoConfig, DemoError, parse_bits, parse_sweep

    w, a = parse_bits(args.bits)
    try:
        channels = tuple(int(c) for c in str(args.channels).replace(" ", "").split(",") if c)
    except ValueError:
        raise DemoError(f"--channels {args.channels!r}: write the channels as numbers, e.g. 16,32.") from None
    return DemoConfig(dataset=args.dataset, weight_bits=w, act_bits=a, board=args.board,
                      target_fps=args.target_fps, budget=args.budget, clock_mhz=args.clock_mhz,
                      sweep=parse_sweep(args.sweep), quick=args.quick, seed=args.seed, epochs=args.epochs,
                      eval_samples=args.eval_samples, model=args.model, channels=channels,
                      side=args.side).validate()


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every stage finished, 1 when a stage failed, 2 for bad options."""
    # Before torch loads: idle OpenMP threads sleep instead of spinning. On a shared or busy machine
    # spinning threads slow CPU training 5-30x (measured on 2 cores); the numbers do not change.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from course_utils.demo.config import DemoError
    from course_utils.demo.runner import run_demo

    try:
        cfg = config_from_args(args)
        outcome = run_demo(cfg, run=args.run, fresh=args.fresh, from_stage=args.from_stage, quiet=args.quiet,
                           board_python=args.board_python)
    except DemoError as err:
        print(f"course demo: {err}", file=sys.stderr)
        return 2
    return 0 if outcome.ok else 1
