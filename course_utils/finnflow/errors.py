"""The errors of the FINN flow helpers: each message names the node/parameter and says what to do."""
from __future__ import annotations


class FinnFlowError(RuntimeError):
    """Base class of the kit's FINN-flow errors."""


class UnsupportedModelError(FinnFlowError):
    """The ONNX model is not a network the FINN flow can map (unsupported op, float input, ...)."""


class StageMismatchError(AssertionError):
    """A stage's outputs differ from the golden batch or from the previous stage."""


class FoldingError(ValueError):
    """A PE/SIMD value that the layer does not allow (it must divide the layer's dimension)."""


class BudgetError(FinnFlowError):
    """No folding reaches the throughput target within the resource budget."""


class ExecutionError(FinnFlowError):
    """A model cannot be executed in Python here (e.g. HLS layers need Vitis HLS for cppsim)."""
