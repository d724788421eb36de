"""Benchmark of the hardware side: block-design dry run, .hwh, deploy package, numpy executor vs FINN.

Run: .venv/host/bin/python bench/bench_hw.py [--repeat N]. Builds the course's dataflow model from
pretrained/lab1 with FINN (scratch files in a temporary folder), then prints one line per figure:
dry run of the Tcl per board, .hwh generation, deploy package write, and the full MNIST test set
(10,000 images) through the numpy executor and through FINN's Python execution (batched, and one
sample at a time on a subset, extrapolated). Best of --repeat runs for the fast steps.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOLDING = {
    "MVAU_rtl_0": {"SIMD": 16, "PE": 16},
    "Thresholding_rtl_0": {"PE": 16},
    "MVAU_rtl_1": {"SIMD": 16, "PE": 16},
    "Thresholding_rtl_1": {"PE": 16},
    "MVAU_rtl_2": {"SIMD": 16, "PE": 10},
}


def _best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Time each step and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shared = ROOT.parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_MIRROR") and (shared / "mnist").is_dir():
        os.environ["COURSE_DATA_MIRROR"] = str(shared)
    work = Path(tempfile.mkdtemp(prefix="bench_hw_"))
    os.environ["COURSE_BUILD_DIR"] = str(work / "build")

    from course_utils import data
    from course_utils.board.accel import AcceleratorModel
    from course_utils.finnflow.flow import run_flow
    from course_utils.finnflow.verify import execute
    from course_utils.hw import blockdesign as bd
    from course_utils.hw.boards import BOARDS
    from course_utils.hw.deploy import finn_outputs, write_deploy_package
    from course_utils.hw.hwh import generate_hwh

    t0 = time.perf_counter()
    flow = run_flow(
        ROOT / "pretrained" / "lab1" / "model_qonnx.onnx", verify=False, folding=FOLDING, target_fps=None
    )
    print(f"FINN flow QONNX -> folded dataflow model (no verification): {time.perf_counter() - t0:.2f} s")
    golden = np.load(ROOT / "pretrained" / "lab1" / "golden.npz")
    pkg = work / "deploy" / "mnist_w4a4"
    t = _best(
        lambda: write_deploy_package(
            flow.folded,
            pkg,
            name="mnist_w4a4",
            golden_x=golden["x"],
            output_scale=flow.output_scale,
            labels=golden["labels"],
            estimates=flow.estimates,
        ),
        args.repeat,
    )
    print(f"deploy package write (64 golden images checked by FINN and numpy, .hwh generated): {t:.3f} s")
    import json

    spec = json.loads((pkg / "accelerator.json").read_text())
    for key in BOARDS:
        params = bd.params_from_accelerator({**spec, "board": key})
        t = _best(lambda p=params: bd.dry_run(p), args.repeat)
        print(f"dry run of blockdesign.tcl ({key}): {1000 * t:.1f} ms")
    t = _best(lambda: generate_hwh(spec, work / "kit.hwh"), args.repeat)
    print(
        f".hwh generation (dry run + XML, {(work / 'kit.hwh').stat().st_size // 1024} KB): {1000 * t:.1f} ms"
    )

    images, labels = data.load("mnist", "test", data_dir=work / "data")
    x = images.reshape(len(images), -1)
    executor = AcceleratorModel.from_package(pkg)
    t_np = _best(lambda: executor.run(x), args.repeat)
    y_np = executor.run(x)
    t0 = time.perf_counter()
    y_finn = execute(flow.folded, x, batch_size=1000)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    finn_outputs(flow.folded, x[:200])
    t_single = (time.perf_counter() - t0) / 200
    same = bool(np.array_equal(y_np, y_finn.astype(np.int64)))
    acc = float(np.mean(np.argmax(y_np, axis=1) == labels))
    print(f"numpy executor, 10,000 MNIST test images: {t_np:.3f} s ({len(x) / t_np:,.0f} images/s)")
    print(f"FINN execute_onnx batched (1000/batch), 10,000 images: {t_batched:.2f} s")
    print(
        f"FINN execute_onnx one sample at a time: {1000 * t_single:.2f} ms/image "
        f"(10,000 images: ~{10_000 * t_single:.0f} s)"
    )
    print(f"outputs identical: {same}; accuracy {100 * acc:.2f} %")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
