"""Benchmark: the kit's CNN (issue 18's accuracy/throughput point) from training to RTL.

    .venv/host/bin/python bench/cnn.py [--epochs 24] [--retrain] [--target-fps 100000] [--n-rtl 1000]

Trains the W4A4 ``QuantCNN`` (1->16->32 channels, 3x3 stride-2 convolutions, 28x28 input; seed 0, the
``train.recipe`` of ``CNNConfig``) with ``train.fit`` and prints its MNIST test accuracy and training time
(the checkpoint is cached in ``build/bench/cnn/``: ``--retrain`` trains again); exports it
(``save_lab1_artifacts``), runs the kit's FINN flow with the folding search at ``--target-fps``, prints
the layers, estimated FPS and resources (DSPs as the RTL instantiates them), whether every stage was
verified bit-exact and all-RTL; then simulates the stitched RTL with Verilator on ``--n-rtl`` test images
(measured cycles per image, FPS at 100 MHz, agreement with FINN's Python execution) when Verilator works.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def trained(out: Path, epochs: int | None, retrain: bool):
    from course_utils import train
    from course_utils.models import CNNConfig, load_checkpoint, save_checkpoint

    ckpt = out / "qnn_cnn_w4a4.pt"
    if ckpt.is_file() and not retrain:
        qnn = load_checkpoint(ckpt)
        print(f"trained CNN: {ckpt} (cached; --retrain to train again): {qnn.info}")
        return qnn, qnn.info
    t0 = time.perf_counter()
    qnn, hist = train.fit(CNNConfig(), "mnist", seed=0, n_epochs=epochs)
    info = {"test_accuracy": hist.final_test_acc, "epochs": len(hist.epoch), "seed": 0,
            "train_seconds": round(hist.seconds, 1), "wall_seconds": round(time.perf_counter() - t0, 1)}
    save_checkpoint(qnn, ckpt, info)
    print(f"trained CNN: {info}")
    return qnn, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's 24)")
    ap.add_argument("--retrain", action="store_true", help="train again even if a checkpoint is cached")
    ap.add_argument("--target-fps", type=float, default=100_000, help="folding target (default 100,000)")
    ap.add_argument("--n-rtl", type=int, default=1000, help="test images simulated in RTL (0: skip)")
    args = ap.parse_args()

    from course_utils import export
    from course_utils.paths import build_dir

    out = build_dir("bench") / "cnn"
    out.mkdir(parents=True, exist_ok=True)
    qnn, info = trained(out, args.epochs, args.retrain)
    paths = export.save_lab1_artifacts(qnn, out / "lab1", test_accuracy=info.get("test_accuracy"),
                                       epochs=info.get("epochs"), seed=0)

    from course_utils import finnflow as ff

    t0 = time.perf_counter()
    flow = ff.run_flow(paths["qonnx"], out_dir=out / "lab2", golden=paths["golden"],
                       target_fps=args.target_fps)
    t_flow = time.perf_counter() - t0
    est = flow.estimates
    ops = [n.op_type for n in flow.folded.graph.node]
    print(f"\nflow: {t_flow:.1f} s, stages verified bit-exact on the golden batch: "
          f"{len(flow.verified)}/{len(flow.stages)}, all-RTL: {all(o.endswith('_rtl') for o in ops)}")
    print(f"  {'layer':<34}{'fold':<18}{'cycles':>8}{'LUT':>8}{'BRAM18':>8}{'DSP':>6}")
    for name, row in est["layers"].items():
        fold = " ".join(f"{k}{row[k]}" for k in ("SIMD", "PE") if row[k] is not None)
        print(f"  {name:<34}{fold:<18}{row['cycles']:>8}{row['LUT']:>8.0f}{row['BRAM_18K']:>8.0f}"
              f"{row['DSP']:>6.0f}")
    res = est["resources"]
    print(f"accuracy {100 * info['test_accuracy']:.2f}% | estimated {est['fps']:,.0f} images/s "
          f"({est['cycles_per_sample']} cycles at {est['clock_mhz']:.0f} MHz) | LUT {res['LUT']:,.0f} "
          f"(FINN, RTL MVAUs count 0) | BRAM18 {res['BRAM_18K']:.0f} | DSP {res['DSP']:.0f} "
          f"({100 * est['utilization']['DSP']:.0f}% of the xc7z020; FINN's estimate {est['finn_dsp']:.0f})")
    if args.n_rtl:
        rtl_measure(flow, args.n_rtl, out)


def rtl_measure(flow, n: int, out: Path) -> None:
    """Stitched RTL of the folded model on ``n`` test images: bit-exact against FINN's Python execution,
    and the measured interval, latency and throughput next to FINN's estimates."""
    import numpy as np

    from course_utils import data, rtl
    from course_utils.finnflow.verify import execute, stream_inputs
    from course_utils.models import fit_to_inputs
    from course_utils.rtl.verify import cycle_report, execute_rtl

    images, labels = data.load("mnist", "test")
    per = int(np.prod(flow.folded.get_tensor_shape(flow.folded.graph.input[0].name)[1:]))
    x = fit_to_inputs(images[:n].reshape(n, -1), per)
    xs, _ = stream_inputs(x, flow.folded)
    t0 = time.perf_counter()
    try:
        design = rtl.build(flow.folded, out / "rtl", quiet=True)
    except rtl.VerilatorError as err:
        print(f"RTL: skipped ({err})")
        return
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    y, run, _ = execute_rtl(flow.folded, xs, design)
    t_run = time.perf_counter() - t0
    ref = execute(flow.folded, xs)
    same = int(np.sum(np.all(np.rint(y) == np.rint(ref), axis=1)))
    rep = cycle_report(run, flow.folded)
    acc = float(np.mean(np.argmax(y, axis=1) == labels[:n]))  # argmax: the output scale is positive
    m, e = rep["measured"], rep["estimated"]
    print(f"RTL (Verilator): {same}/{n} test images identical to FINN's Python execution, accuracy "
          f"{100 * acc:.2f}% on them; interval "
          f"{m['interval_cycles']:g} cycles measured vs {e['interval_cycles']} estimated -> "
          f"{m['fps']:,.0f} images/s at {m['clock_mhz']:.0f} MHz; latency {m['latency_cycles']} cycles "
          f"(estimate {e['latency_cycles']}); build {t_build:.0f} s"
          f"{' (cached)' if design.build_seconds == 0 else ''}, run {t_run:.1f} s")


if __name__ == "__main__":
    main()
