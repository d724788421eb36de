"""The accelerator behind the AXI-Stream pair: bytes in, the verified model, bytes out.

Input bytes are unpacked exactly as the hardware reads its input stream (FINN's packing, the shapes
of accelerator.json), the deploy package's verified model computes the integer outputs
(``course_utils.board.accel.AcceleratorModel``), and these are packed as the hardware writes its
output stream. So a wrongly packed input gives the same wrong answers as on a board.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..packing import StreamSpec
from .errors import VirtualBoardError


class AcceleratorEndpoint:
    """One FINN accelerator between an MM2S and an S2MM stream."""

    def __init__(self, instance: str, spec: dict, model: Any):
        self.instance = instance
        self.spec = spec
        self.model = model
        self.input = StreamSpec.from_dict(spec["input"], "input")
        self.output = StreamSpec.from_dict(spec["output"], "output")
        est = spec.get("estimates", {})
        self.cycles_per_sample = float(est.get("cycles_per_sample", 1))
        self.latency_cycles = float(est.get("latency_cycles", self.cycles_per_sample))
        self.clock_mhz = float(spec.get("clock_mhz", 100.0))
        self.frames = 0

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
        x = self.input.unpack(data[: k * self.in_frame_bytes])
        y = np.asarray(self.model.run(x.reshape(k, -1)))
        self.frames += k
        return self.output.pack(y.reshape(k, *self.output.shape_normal[1:])).reshape(-1)


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
    return AcceleratorEndpoint(instance, spec, AcceleratorModel.from_package(folder))
