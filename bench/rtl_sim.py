"""Benchmark: the default accelerator's stitched RTL (Verilator) on the full MNIST test set.

    .venv/host/bin/python bench/rtl_sim.py [--n 10000] [--fresh]

Prints: outputs of the stitched RTL vs FINN's Python execution of the same dataflow model (identical
count), cycles per image and latency measured vs FINN's estimate, throughput at 100 MHz, wall time of
the build (cached by content hash: ``--fresh`` builds in a new folder) and of the run, peak memory,
the largest FIFO occupancy, and a per-layer table of estimated vs measured cycles (node by node) for
the default design (1 M images/s) and for a second network (the same MLP folded for 80 cycles per image,
1.25 M images/s, which does not fit the DSP budget).
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEPLOY = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4"
FAST_FOLDING = {"MVAU_rtl_0": {"SIMD": 8, "PE": 64}, "MVAU_rtl_1": {"SIMD": 1, "PE": 64},
                "MVAU_rtl_2": {"SIMD": 4, "PE": 2}}
"""A faster folding of the same network: 80 cycles per image (layer 3 is the slowest), 256 DSPs in layer 1."""


def per_layer(model, x, folder: Path, label: str) -> None:
    from course_utils import rtl
    from course_utils.rtl.verify import verify_nodes

    t0 = time.perf_counter()
    design = rtl.build(model, folder / "nodes", kind="nodes")
    t_build = time.perf_counter() - t0
    report = verify_nodes(model, x, design=design, quiet=True)
    print(f"\nper layer, {label} (node by node, {len(x)} images, build {t_build:.1f} s"
          f"{' (cached)' if design.build_seconds == 0 else ''}):")
    print(f"  {'layer':<22}{'estimated':>10}{'measured':>10}{'latency':>9}")
    for name, row in report.items():
        print(f"  {name:<22}{row['exp_cycles']:>10}{row['measured_cycles']:>10g}{row['latency_cycles']:>9}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="test images (default: all 10,000)")
    ap.add_argument("--fresh", action="store_true", help="build in a new folder (measure a cold build)")
    ap.add_argument("--no-layers", action="store_true", help="skip the per-layer tables")
    args = ap.parse_args()

    from course_utils import data
    from course_utils import finnflow as ff

    ff.setup()
    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from course_utils import rtl
    from course_utils.finnflow.folding import apply_folding
    from course_utils.paths import build_dir
    from course_utils.rtl.verify import cycle_report

    folder = Path(tempfile.mkdtemp(prefix="rtl_bench_")) if args.fresh else build_dir("rtl") / "bench"
    model = ModelWrapper(str(DEPLOY / "dataflow.onnx"))
    images, labels = data.load("mnist", "test")
    from course_utils.torchdata import crop

    side = int(round(model.get_tensor_shape(model.graph.input[0].name)[-1] ** 0.5))  # 20: the centre crop
    x = crop(images[: args.n], side).astype(np.float32)
    labels = labels[: args.n]

    t0 = time.perf_counter()
    design = rtl.build(model, folder / "stitched")
    t_build = time.perf_counter() - t0
    run = design.run(x)
    t0 = time.perf_counter()
    y_py = ff.execute(model, x).astype(np.int64)
    t_py = time.perf_counter() - t0
    same = int((run.outputs == y_py).all(axis=1).sum())
    rep = cycle_report(run, model)
    m, e = rep["measured"], rep["estimated"]
    dsp = sum(float(getCustomOp(n).node_res_estimation(ff.FPGA_PART).get("DSP", 0)) for n in model.graph.node)
    print(f"default design (pretrained/lab2/deploy/mnist_w4a4), stitched: {len(design.nodes)} nodes "
          f"({sum(n.layer for n in design.nodes)} layers, {len(design.fifos)} FIFOs, "
          f"{sum('DataWidth' in n.op for n in design.nodes)} width converters), Verilator key {design.key}")
    print(f"  build: {t_build:.1f} s (Verilator {design.build_seconds:.1f} s"
          f"{', cached: stitching/PrepareIP only' if design.build_seconds == 0 else ''})")
    rate = run.cycles / max(run.cpu_seconds, 1e-9)
    print(f"  RTL run: {len(x):,} images in {run.wall_seconds:.2f} s wall, {run.cpu_seconds:.2f} s CPU "
          f"({rate:,.0f} cycles per CPU second; wall > CPU means the machine was busy); "
          f"FINN Python execution of the same model: {t_py:.2f} s")
    print(f"  outputs identical to FINN's Python execution: {same:,}/{len(x):,} images; "
          f"accuracy {(run.outputs.argmax(1) == labels).mean():.4f}; TLAST once at the end: {m['tlast_ok']}")
    print(f"  cycles/image: measured {m['interval_cycles']:g}, estimated {e['interval_cycles']}")
    print(f"  latency: measured {m['latency_cycles']} cycles ({m['latency_us']:.2f} us), estimated "
          f"{e['latency_cycles']} ({e['latency_us']:.2f} us)")
    print(f"  throughput at {m['clock_mhz']:g} MHz: measured {m['fps']:,.0f} images/s, "
          f"estimated {e['fps']:,.0f}")
    print(f"  total: {run.cycles:,} cycles for {len(x):,} images; largest FIFO occupancy "
          f"{m['max_fifo_occupancy']} ({json.dumps(m['fifo_max_occupancy'])})")
    est = ff.estimate_summary(model)
    print(f"  DSP48E1: {est['resources']['DSP']:g} as mvu.sv instantiates them "
          f"({100 * est['utilization']['DSP']:.0f}% of the xc7z020), FINN's formula: {dsp:g}")
    if not args.no_layers:
        per_layer(model, x[:64], folder / "default", "default design")
        fast = ModelWrapper(copy.deepcopy(model.model))
        apply_folding(fast, FAST_FOLDING)
        per_layer(fast, x[:64], folder / "fast",
                  "the same MLP folded for 80 cycles per image " + json.dumps(FAST_FOLDING))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak memory: this process {peak:,.0f} MB; Verilator/compiler {peak_children:,.0f} MB")
    if same != len(x):
        sys.exit(f"FAIL: {len(x) - same} images differ between the RTL and FINN's Python execution")


if __name__ == "__main__":
    main()
