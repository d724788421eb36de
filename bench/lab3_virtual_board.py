"""Benchmark (Lab 3 must-show): the full MNIST test set through the virtual board vs Lab 2's model.

    .venv/host/bin/python bench/lab3_virtual_board.py      (what `make bench` runs)

The virtual board needs pynq, which lives in the board env: this script starts itself there
(``.venv/board/bin/python ... --worker``, with PYNQ_VIRTUAL_BOARD=Pynq-Z2), where the unchanged pynq
code loads the overlay and runs the 10,000 images in batches within the DMA's length limit. Back in
the host env it compares the board's integer outputs with Lab 2's model: FINN's own execution of the
package's dataflow.onnx, and the kit's numpy executor. The accelerator is the deploy package's
stitched RTL, simulated with Verilator (``--model``: the numpy executor instead). It prints the wall
time of the board run (target <= 60 s on this machine) and the throughput and latency the virtual board
simulates (RTL cycles + the HP-port/DMA model at FCLK0), next to Lab 2's RTL measurement of the same
design (the whole batch streamed at full rate, as ``rtl.Design.run`` measures it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000


def worker(out_dir: Path) -> None:
    """Board env: run the test set through the virtual board; write outputs and timings to ``out_dir``."""
    t_start = time.perf_counter()
    import numpy as np
    from pynq import Overlay

    from course_utils import data
    from course_utils.board import package, runtime

    t_import = time.perf_counter()
    pkg = package.find_package()
    images, labels = data.load(pkg.dataset, "test")
    x = pkg.input.from_images(images)       # what the accelerator takes (the default: 20x20 centre crops)
    ol = Overlay(str(pkg.bitfile))
    t_ready = time.perf_counter()
    runs = {}
    for batch in (BATCH, runtime.max_batch(getattr(ol, pkg.dma_name), pkg)):
        batch = min(batch, len(x))
        t0 = time.perf_counter()
        with runtime.Stopwatch(ol, samples=len(x)) as sw:
            y = runtime.infer(ol, pkg, x, batch=batch, progress=False)
        runs[str(batch)] = {"wall_s": time.perf_counter() - t0, "modelled_s": sw.timing.modelled_s,
                            "fps": sw.timing.fps, "label": sw.timing.label}
        np.save(out_dir / f"y_board_{batch}.npy", y)
    with runtime.Stopwatch(ol, samples=1) as one:
        runtime.infer(ol, pkg, x[:1], batch=1, progress=False)
    result = {"accelerator": runtime.accelerator_source(ol), "package": str(pkg.path),
              "source": pkg.source, "n": len(x), "board": runtime.board_kind(),
              "import_s": t_import - t_start, "setup_s": t_ready - t_import, "runs": runs,
              "latency_s": one.timing.seconds, "latency_label": one.timing.label,
              "total_s": time.perf_counter() - t_start, "estimates": pkg.estimates}
    np.save(out_dir / "labels.npy", labels)
    (out_dir / "result.json").write_text(json.dumps(result, indent=1))


def run_worker(out_dir: Path) -> float:
    """Start the board-env worker; return its wall time including interpreter start."""
    board_python = ROOT / ".venv" / "board" / "bin" / "python"
    if not board_python.exists():
        raise SystemExit(f"{board_python} not found: set up the board environment first (make setup).")
    env = dict(os.environ, PYNQ_VIRTUAL_BOARD="Pynq-Z2",
               PYNQ_VIRTUAL_ACCEL="model" if "--model" in sys.argv else "rtl")
    t0 = time.perf_counter()
    r = subprocess.run([str(board_python), __file__, "--worker", str(out_dir)], env=env, cwd=str(ROOT),
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"the board-env run failed:\n{r.stdout}\n{r.stderr}")
    return time.perf_counter() - t0


def finn_reference(pkg_dir: Path, x):
    """FINN's execute_onnx of the package's dataflow.onnx (batched), or None with the reason."""
    try:
        from qonnx.core.modelwrapper import ModelWrapper

        from course_utils.finnflow.verify import execute

        model = ModelWrapper(str(pkg_dir / "dataflow.onnx"))
        t0 = time.perf_counter()
        y = execute(model, x, batch_size=BATCH)
        return y, time.perf_counter() - t0, ""
    except Exception as err:  # noqa: BLE001 - report and go on with the numpy executor
        return None, 0.0, f"{type(err).__name__}: {err}"


def lab2_rtl_measurement(pkg_dir: Path, x) -> dict | None:
    """Interval and latency of the package's RTL with 1,000 images streamed back to back (Lab 2's way)."""
    import numpy as np

    from course_utils.board.package import load_package
    from course_utils.board.rtlsim import has_rtl, load_package_rtl

    if not has_rtl(pkg_dir):
        return None
    pkg = load_package(pkg_dir)
    rtl = load_package_rtl(pkg_dir)
    batch = rtl.run_bytes(pkg.input.pack(x[:1000]).reshape(-1))
    done = batch.out_cycle[rtl.out_words - 1::rtl.out_words]
    interval = float(np.median(np.diff(done)[len(done) // 2:]))
    latency = int(done[0] - batch.first_input_cycle + 1)
    return {"interval": interval, "fps": rtl.clock_mhz * 1e6 / interval, "latency": latency,
            "latency_us": latency / rtl.clock_mhz}


def main() -> None:
    """Host env: run the worker, compare with Lab 2's model, print the figures."""
    import numpy as np

    from course_utils import data
    from course_utils.board.accel import AcceleratorModel

    with tempfile.TemporaryDirectory(prefix="lab3_bench_") as tmp:
        out = Path(tmp)
        wall = run_worker(out)
        res = json.loads((out / "result.json").read_text())
        ys = {b: np.load(out / f"y_board_{b}.npy") for b in res["runs"]}
        labels = np.load(out / "labels.npy")
    pkg_dir = Path(res["package"])
    from course_utils.board.package import load_package

    pkg = load_package(pkg_dir)
    images, _ = data.load(pkg.dataset, "test")
    x = pkg.input.from_images(images)
    y_np = AcceleratorModel.from_package(pkg_dir).run(x)
    y_finn, t_finn, why = finn_reference(pkg_dir, x)

    n = res["n"]
    print(f"Lab 3 on the virtual board: {n:,} MNIST test images, deploy package {pkg_dir.name}, found in "
          f"{res['source']}")
    print(f"  wall time, whole board-env process (start, import pynq, load data + overlay, runs): "
          f"{wall:.2f} s (two full runs)")
    print(f"  accelerator: {res['accelerator']}")
    for b, run in res["runs"].items():
        transfers = -(-n // int(b))
        print(f"  batch {int(b):>6,} ({transfers} transfers): wall {run['wall_s']:.2f} s; "
              f"simulated {run['modelled_s'] * 1e3:.2f} ms = {run['fps']:,.0f} images/s")
    est = res["estimates"]
    print(f"  simulated latency of one image (one transfer each way): {res['latency_s'] * 1e6:.2f} us; FINN "
          f"estimate {est['latency_us']:.2f} us, {est['fps']:,.0f} images/s")
    lab2 = lab2_rtl_measurement(pkg_dir, x)
    if lab2:
        print(f"  Lab 2's RTL measurement (1,000 images streamed at full rate): interval "
              f"{lab2['interval']:g} cycles = {lab2['fps']:,.0f} images/s, latency {lab2['latency']} "
              f"cycles = {lab2['latency_us']:.2f} us")
    print(f"  ({res['runs'][str(BATCH)]['label']})")
    for b, y in ys.items():
        same_np = int((y == y_np).all(axis=1).sum())
        line = f"  batch {int(b):,}: identical to the numpy executor {same_np:,}/{n:,}"
        if y_finn is not None:
            same_finn = int((y == y_finn.astype(np.int64)).all(axis=1).sum())
            same_pred = int((np.argmax(y, 1) == np.argmax(y_finn, 1)).sum())
            line += f"; to FINN execute_onnx {same_finn:,}/{n:,} (predictions {same_pred:,}/{n:,})"
        print(line)
    if y_finn is not None:
        print(f"  (FINN execute_onnx of dataflow.onnx took {t_finn:.1f} s in the host env)")
    else:
        print(f"  FINN reference not run: {why}")
    acc = float(np.mean(np.argmax(ys[str(BATCH)], axis=1) == labels))
    print(f"  accuracy on the virtual board: {acc:.2%}")
    ok = all((y == y_np).all() for y in ys.values()) and (y_finn is None or all(
        (y == y_finn.astype(np.int64)).all() for y in ys.values()))
    lab3 = res["runs"][str(BATCH)]["wall_s"]
    print("  RESULT:", "identical predictions and outputs" if ok else "MISMATCH",
          f"| the Lab 3 run (batch {BATCH:,}): {lab3:.1f} s wall,", "within" if lab3 <= 60 else "OVER",
          "the 60 s target")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]))
    else:
        main()
