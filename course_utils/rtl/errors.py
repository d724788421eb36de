"""Errors of the RTL simulation: each names the layer, stream or tool, and says what to do."""
from __future__ import annotations

from course_utils.finnflow.errors import ExecutionError


class RTLError(ExecutionError):
    """The model cannot be turned into simulated RTL here."""


class HLSLayerError(RTLError):
    """The design has HLS layers, which have no HDL without Vitis HLS."""


class VerilatorError(RTLError):
    """Verilator is missing, too old, or failed to compile the design (first error lines attached)."""


class StallError(RTLError):
    """The simulated accelerator stopped producing output: names the stream where data stopped."""


class AssertionFailedError(RTLError):
    """An assertion inside the simulated RTL failed (e.g. FINN's MVAU "Overflowing output queue"): the design
    lost or corrupted data, so its outputs cannot be trusted; the message quotes the simulator's report."""
