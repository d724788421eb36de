"""The accelerator behind the AXI-Stream pair: bytes in, the accelerator, bytes out.

Two accelerators, chosen with ``PYNQ_VIRTUAL_ACCEL``:

* ``rtl`` (the default when the deploy package carries ``rtl/``): the accelerator's stitched RTL,
  Verilator-compiled (:mod:`course_utils.board.rtlsim`). The bytes the DMA reads are its input
  stream words, its output words are what S2MM writes, and its measured cycles time the transfers.
  Timings are labelled "RTL-simulated".
* ``model``: the deploy package's numpy executor (``course_utils.board.accel.AcceleratorModel``), which
  also wrote the golden outputs. Input bytes are unpacked as the hardware reads its input stream,
  outputs packed as it writes them; timings come from FINN's estimates and are labelled "model".

``auto`` (unset): ``rtl`` if the package has it, else ``model`` with a warning. Either way a wrongly
packed input gives the same wrong answers as on a board.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..packing import StreamSpec
from .errors import VirtualBoardError, user_stacklevel

ACCEL_ENV = "PYNQ_VIRTUAL_ACCEL"
MODES = ("auto", "rtl", "model")
LABELS = {"rtl": "RTL-simulated", "model": "model"}


class AcceleratorEndpoint:
    """One FINN accelerator between an MM2S and an S2MM stream."""

    def __init__(self, instance: str, spec: dict, model: Any, rtl: Any = None):
        self.instance = instance
        self.spec = spec
        self.model = model
        self.rtl = rtl
        self.mode = "rtl" if rtl is not None else "model"
        self.cycles_run = 0                       # RTL cycles simulated (all batches)
        self.input = StreamSpec.from_dict(spec["input"], "input")
        self.output = StreamSpec.from_dict(spec["output"], "output")
        est = spec.get("estimates", {})
        self.cycles_per_sample = float(est.get("cycles_per_sample", 1))
        self.latency_cycles = float(est.get("latency_cycles", self.cycles_per_sample))
        self.clock_mhz = float(spec.get("clock_mhz", 100.0))
        self.frames = 0
        if rtl is not None:  # measured by the RTL as batches run (the estimates until then)
            self.cycles_per_sample = float(spec.get("rtl_verification", {}).get("interval_cycles",
                                                                                 self.cycles_per_sample))

    @property
    def label(self) -> str:
        """How timings from this accelerator are labelled: "RTL-simulated" or "model"."""
        return LABELS[self.mode]

    @property
    def in_frame_bytes(self) -> int:
        """Input bytes of one sample (one frame)."""
        return self.input.bytes_per_sample

    @property
    def out_frame_bytes(self) -> int:
        """Output bytes of one sample."""
        return self.output.bytes_per_sample

    def process(self, data: np.ndarray) -> np.ndarray:
        """Run whole input frames (uint8 bytes) through the model; return the output bytes."""
        k = data.size // self.in_frame_bytes
        if self.rtl is not None:
            batch = self.rtl.run_bytes(data[: k * self.in_frame_bytes])
            self._measure(batch, k)
            self.frames += k
            return batch.out.reshape(-1)
        x = self.input.unpack(data[: k * self.in_frame_bytes])
        y = np.asarray(self.model.run(x.reshape(k, -1)))
        self.frames += k
        return self.output.pack(y.reshape(k, *self.output.shape_normal[1:])).reshape(-1)

    def _measure(self, batch: Any, k: int) -> None:
        """Latency and interval in cycles as the RTL measured them on this batch."""
        if k == 0:
            return
        done = batch.out_cycle[self.rtl.out_words - 1::self.rtl.out_words]
        self.latency_cycles = float(done[0] - batch.first_input_cycle + 1)
        if k >= 4:
            d = np.diff(done)
            self.cycles_per_sample = float(np.median(d[len(d) // 2:]))
        self.cycles_run += batch.cycles


def accel_mode() -> str:
    """``$PYNQ_VIRTUAL_ACCEL``: auto (default), rtl or model."""
    mode = os.environ.get(ACCEL_ENV, "").strip().lower() or "auto"
    if mode not in MODES:
        raise VirtualBoardError(f"{ACCEL_ENV}={mode!r}: use one of {', '.join(MODES)} (rtl: the "
                                "accelerator's Verilator-simulated RTL; model: the fast numpy executor).")
    return mode


def load_endpoint(instance: str, bitfile: Path) -> AcceleratorEndpoint:
    """The accelerator ``instance`` of the overlay ``bitfile``, from the deploy package beside it."""
    from ..accel import AcceleratorModel

    folder = Path(bitfile).parent
    jpath = folder / "accelerator.json"
    if not jpath.is_file():
        raise VirtualBoardError(
            f"The .hwh streams data into '{instance}', but {folder} has no accelerator.json: the virtual "
            "board emulates an accelerator from its deploy package. Load the overlay from a complete "
            "deploy package folder (all files of build/lab2/deploy/<name>/ or "
            "pretrained/lab2/deploy/<name>/).")
    spec = json.loads(jpath.read_text(encoding="utf-8"))
    if spec.get("ip_name") != instance:
        raise VirtualBoardError(
            f"{jpath} describes accelerator '{spec.get('ip_name')}', but the .hwh streams the DMA into "
            f"'{instance}': the .bit/.hwh and accelerator.json come from different designs. Re-create "
            "the deploy package (Lab 2) so all files belong together.")
    from ..rtlsim import RTLUnavailable, has_rtl, load_package_rtl

    mode = accel_mode()
    rtl = None
    if mode == "rtl" or (mode == "auto" and has_rtl(folder)):
        try:
            rtl = load_package_rtl(folder)
        except RTLUnavailable as err:
            raise VirtualBoardError(f"{ACCEL_ENV}={mode}: {err}") from None
        if rtl.in_bytes * rtl.in_words != spec["input"]["bytes_per_sample"] or \
                rtl.out_bytes * rtl.out_words != spec["output"]["bytes_per_sample"]:
            raise VirtualBoardError(f"{folder}/rtl does not stream the samples accelerator.json describes: "
                                    "the RTL comes from another model. Re-create the deploy package (Lab 2).")
    elif mode == "auto":
        warnings.warn(f"{folder} carries no RTL of the accelerator: the virtual board runs the numpy model "
                      f"(timings labelled 'model'). Set {ACCEL_ENV}=model to choose it explicitly, or "
                      "re-create the deploy package with its RTL (Lab 2).", stacklevel=user_stacklevel())
    return AcceleratorEndpoint(instance, spec, AcceleratorModel.from_package(folder), rtl)
