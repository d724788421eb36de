"""Shared helpers of the hw tests: the course's dataflow model built with FINN, an accelerator.json.

``dataflow_model()`` runs the real FINN transformations (Lab 2's ``run_flow``: cleanup,
ConvertQONNXtoFINN, UINT8 input, tidy, Streamline, InferThresholdingLayer,
InferQuantizedMatrixVectorActivation, CreateDataflowPartition, SpecializeLayers for xc7z020, folding,
MinimizeAccumulatorWidth/MinimizeWeightBitWidth) on ``pretrained/lab1/model_qonnx.onnx``, once per
process, with FINN's scratch files in a temporary folder.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QONNX = ROOT / "pretrained" / "lab1" / "model_qonnx.onnx"
GOLDEN = ROOT / "pretrained" / "lab1" / "golden.npz"
BOARD_PY = ROOT / ".venv" / "board" / "bin" / "python"
FOLDING = {
    "MVAU_rtl_0": {"SIMD": 16, "PE": 16},
    "Thresholding_rtl_0": {"PE": 16},
    "MVAU_rtl_1": {"SIMD": 16, "PE": 16},
    "Thresholding_rtl_1": {"PE": 16},
    "MVAU_rtl_2": {"SIMD": 16, "PE": 10},
}


@functools.cache
def dataflow_model(folding_key: str = "default") -> Any:
    """``(folded dataflow ModelWrapper, output_scale, estimates)`` of the pretrained Lab 1 model."""
    saved = os.environ.get("COURSE_BUILD_DIR")
    os.environ["COURSE_BUILD_DIR"] = tempfile.mkdtemp(prefix="hw_tests_build_")
    try:
        from course_utils.finnflow.flow import run_flow

        folding = (
            FOLDING
            if folding_key == "default"
            else {
                "MVAU_rtl_0": {"SIMD": 8, "PE": 4},
                "Thresholding_rtl_0": {"PE": 4},
                "MVAU_rtl_1": {"SIMD": 4, "PE": 8},
                "Thresholding_rtl_1": {"PE": 8},
                "MVAU_rtl_2": {"SIMD": 8, "PE": 5},
            }
        )
        result = run_flow(QONNX, verify=False, folding=folding, target_fps=None)
    finally:
        if saved is None:
            os.environ.pop("COURSE_BUILD_DIR", None)
        else:
            os.environ["COURSE_BUILD_DIR"] = saved
    return result.folded, result.output_scale, result.estimates


def accelerator_desc(
    board: str = "pynq-z2",
    in_bits: int = 128,
    out_bits: int = 160,
    in_beats: int = 49,
    out_beats: int = 1,
    mm2s: int = 128,
    s2mm: int = 32,
    clock_mhz: float = 100.0,
) -> dict:
    """A minimal accelerator.json dict for the block-design parameters (no model needed)."""
    return {
        "board": board,
        "clock_mhz": clock_mhz,
        "ip_name": "finn_accel_0",
        "dma_name": "axi_dma_0",
        "input": {"stream_width_bits": in_bits, "shape_folded": [1, in_beats, in_bits // 8]},
        "output": {"stream_width_bits": out_bits, "shape_folded": [1, out_beats, out_bits // 16]},
        "dma": {"mm2s_width_bits": mm2s, "s2mm_width_bits": s2mm, "length_width": 26},
    }


def run_on_virtual_board(packages: list[Path] | list[str], env: dict[str, str] | None = None,
                         timeout: float = 600) -> list[str]:
    """Each deploy package's golden batch through the real pynq Overlay + DMA driver on the virtual board
    (the board environment, as Lab 3 does it); one line per package, ``"<name> MATCH"`` when the unpacked
    outputs equal the package's golden integers, else ``"<name> MISMATCH"``. ``env`` adds variables (e.g.
    ``PYNQ_VIRTUAL_ACCEL``); the process runs in the first package's folder."""
    paths = [str(p) for p in packages]
    script = textwrap.dedent(f"""
        import numpy as np
        from pynq import Overlay, allocate
        from course_utils.board.package import load_package
        for path in {paths!r}:
            pkg = load_package(path)
            ol = Overlay(str(pkg.bitfile))
            g = pkg.golden(); n = len(g["x"])
            ib = allocate(shape=(n, *pkg.input.shape_packed[1:]), dtype=np.uint8)
            ob = allocate(shape=(n, *pkg.output.shape_packed[1:]), dtype=np.uint8)
            ib[:] = pkg.input.pack(g["x"])
            ol.axi_dma_0.sendchannel.transfer(ib); ol.axi_dma_0.recvchannel.transfer(ob)
            ol.axi_dma_0.sendchannel.wait(); ol.axi_dma_0.recvchannel.wait()
            y = pkg.output.unpack(np.array(ob)).reshape(n, -1)
            print(pkg.name, "MATCH" if np.array_equal(y, g["y_int"]) else "MISMATCH")
    """)
    full_env = {**os.environ, "PYNQ_VIRTUAL_BOARD": "Pynq-Z2", "PYTHONWARNINGS": "ignore", **(env or {})}
    proc = subprocess.run([str(BOARD_PY), "-c", script], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=paths[0], check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-len(paths):]
