"""A small, self-contained deploy package for the board tests (numpy only, no FINN, no Vivado).

The package follows the contract of docs/ARCHITECTURE.md: a 784-16-10 integer MLP (UINT8 pixels ->
MVAU INT4 weights -> Thresholding UINT4 -> MVAU -> INT12 outputs, 2 per 32-bit word), its
accelerator.json, dataflow.npz, golden.npz, a placeholder .bit and the .hwh that the kit's own
generator (course_utils.hw.hwh, the dry run of the block-design Tcl) writes for it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from course_utils.board.accel import AcceleratorModel
from course_utils.hw.hwh import generate_hwh

NAME = "tiny_w4a4"
HIDDEN = 16


def make_package(folder: Path, *, seed: int = 0, n_golden: int = 32) -> Path:
    """Write the tiny deploy package into ``folder / NAME`` and return that folder."""
    rng = np.random.default_rng(seed)
    out = folder / NAME
    out.mkdir(parents=True, exist_ok=True)
    w0 = rng.integers(-7, 8, (784, HIDDEN))
    acc = rng.integers(0, 256, (256, 784)) @ w0
    t0 = np.sort(np.quantile(acc, np.linspace(0.05, 0.95, 15), axis=0).T.round(), axis=1).astype(np.int64)
    w1 = rng.integers(-7, 8, (HIDDEN, 10))
    np.savez(out / "dataflow.npz", **{"MVAU_rtl_0.W": w0, "Thresholding_rtl_0.T": t0, "MVAU_rtl_1.W": w1})
    spec = {
        "schema": 1, "name": NAME, "board": "pynq-z2", "part": "xc7z020clg400-1", "clock_mhz": 100.0,
        "ip_name": "finn_accel_0", "dma_name": "axi_dma_0",
        "input": {"datatype": "UINT8", "shape_normal": [1, 784], "shape_folded": [1, 49, 16],
                  "shape_packed": [1, 49, 16], "stream_width_bits": 128, "bytes_per_sample": 784},
        "output": {"datatype": "INT12", "shape_normal": [1, 10], "shape_folded": [1, 5, 2],
                   "shape_packed": [1, 5, 4], "stream_width_bits": 32, "bytes_per_sample": 20},
        "output_scale": 0.01,
        "dma": {"mm2s_width_bits": 128, "s2mm_width_bits": 32, "length_width": 26,
                "max_transfer_bytes": (1 << 26) - 1},
        "tlast": "per_packet",
        "estimates": {"cycles_per_sample": 196, "latency_cycles": 420, "fps": 510204.0, "latency_us": 4.2,
                      "resources": {"LUT": 1000, "BRAM_18K": 4, "DSP": 16}, "bottleneck": "MVAU_rtl_0"},
        "layers": [
            {"name": "MVAU_rtl_0", "op": "MVAU", "MW": 784, "MH": HIDDEN, "SIMD": 16, "PE": 4,
             "input_dt": "UINT8", "weight_dt": "INT4", "output_dt": "INT22", "weights": "MVAU_rtl_0.W"},
            {"name": "Thresholding_rtl_0", "op": "Thresholding", "channels": HIDDEN, "PE": 4,
             "input_dt": "INT22", "output_dt": "UINT4", "act_val": 0, "thresholds": "Thresholding_rtl_0.T"},
            {"name": "MVAU_rtl_1", "op": "MVAU", "MW": HIDDEN, "MH": 10, "SIMD": 4, "PE": 2,
             "input_dt": "UINT4", "weight_dt": "INT4", "output_dt": "INT12", "weights": "MVAU_rtl_1.W"}],
        "bitstream": {"file": f"{NAME}.bit", "placeholder": True},
        "versions": {"course-utils": "test"},
    }
    (out / "accelerator.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    (out / f"{NAME}.bit").write_text("PLACEHOLDER BITSTREAM (test fixture)\n", encoding="utf-8")
    generate_hwh(spec, out / f"{NAME}.hwh")  # the kit's own .hwh generator (the block design's dry run)
    model = AcceleratorModel.from_package(out)
    x = rng.integers(0, 256, (n_golden, 784)).astype(np.uint8)
    y = model.run(x)
    np.savez(out / "golden.npz", x=x, y_int=y, pred=np.argmax(y, axis=1),
             labels=rng.integers(0, 10, n_golden))
    return out
