"""Folding rules (PE/SIMD): which values a layer allows, reading, checking and applying a folding.

A layer's parallelism must *divide* the dimension it folds: an MVAU computes ``PE`` output neurons
(of ``MH``) and ``SIMD`` inputs (of ``MW``) per cycle, so it takes ``(MW/SIMD)*(MH/PE)`` cycles per
sample; a Thresholding layer handles ``PE`` of ``NumChannels`` channels per cycle; a convolution's
sliding-window generator (``ConvolutionInputGenerator``) reads and writes ``SIMD`` of ``IFMChannels``
input channels per cycle.

The search for a folding (``finnflow.folding``) consults Yosys' synthesis results (``course_utils.rtl``);
these rules are below both, so the RTL and the estimates can check a folding without importing the search.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from course_utils.finnflow.errors import FoldingError
from course_utils.numeric import divisors

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

# op family -> {folding attribute: (attribute holding the dimension it must divide, what it is)}
FOLD_ATTRS: dict[str, dict[str, tuple[str, str]]] = {
    "MVAU": {"SIMD": ("MW", "input length"), "PE": ("MH", "output neurons")},
    "Thresholding": {"PE": ("NumChannels", "channels")},
    "LabelSelect": {"PE": ("Labels", "labels")},
    "ConvolutionInputGenerator": {"SIMD": ("IFMChannels", "input channels")},
}
FOLD_FLAGS: dict[str, dict[str, tuple[int, ...]]] = {
    "ConvolutionInputGenerator_rtl": {"parallel_window": (0, 1)},
}
"""On/off folding attributes by op type: the RTL sliding-window generator's ``parallel_window=1`` emits a
whole ``k x k`` window per cycle (only with ``SIMD = IFMChannels``); the MVAU after it takes the window in
``MW/SIMD >= 2`` beats (``MVAU_RTL_MIN_SF``) through a width converter."""
DMA_WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)
"""Stream widths (bits) the Xilinx AXI DMA accepts: power-of-two bytes, 8..1024 bits."""


def _family(op_type: str) -> str:
    return op_type.removesuffix("_hls").removesuffix("_rtl")


def foldable_nodes(model: ModelWrapper) -> list:
    """The layers whose PE/SIMD can be set (MVAU, Thresholding, LabelSelect, ConvolutionInputGenerator)."""
    return [n for n in model.graph.node if _family(n.op_type) in FOLD_ATTRS]


def legal_values(model: ModelWrapper, node_name: str) -> dict[str, list[int]]:
    """``{"SIMD": [...], "PE": [...]}``: the values each folding attribute of ``node_name`` allows."""
    from qonnx.custom_op.registry import getCustomOp

    node = model.get_node_from_name(node_name)
    if node is None or _family(node.op_type) not in FOLD_ATTRS:
        names = ", ".join(n.name for n in foldable_nodes(model)) or "none"
        raise FoldingError(f"no foldable layer named {node_name!r}; foldable layers: {names}.")
    inst = getCustomOp(node)
    attrs = FOLD_ATTRS[_family(node.op_type)]
    legal = {attr: divisors(int(inst.get_nodeattr(dim))) for attr, (dim, _) in attrs.items()}
    if node.op_type == "MVAU_rtl" and int(inst.get_nodeattr("MW")) > 1:  # SIMD <= MW/2: MVAU_RTL_MIN_SF
        mw = int(inst.get_nodeattr("MW"))
        legal["SIMD"] = [d for d in legal["SIMD"] if mw // d >= MVAU_RTL_MIN_SF]
    return legal | {flag: list(values) for flag, values in FOLD_FLAGS.get(node.op_type, {}).items()}


MVAU_RTL_MIN_SF = 2
"""The RTL MVAU needs at least two input beats per output vector (``MW/SIMD >= 2``): with ``SIMD = MW`` it
produces a result every cycle, and FINN 1.6.1's ``mvu_vvu_axi.sv`` sizes its output queue one entry short
of what its core can still have in flight when back-pressure locks it (the lock is registered), so a
back-pressured MVAU silently drops a result ("Overflowing output queue", fixed upstream after 1.6.1).
On the board the stream then loses words and stalls; the kit's folding never picks such a layer."""


def _fold_problem(inst: Any, node: Any) -> str | None:
    """Why the node's current folding is illegal: ``parallel_window`` without ``SIMD = IFMChannels``, or an
    RTL MVAU with ``SIMD = MW`` (see ``MVAU_RTL_MIN_SF``)."""
    if node.op_type == "MVAU_rtl":
        simd, mw = int(inst.get_nodeattr("SIMD")), int(inst.get_nodeattr("MW"))
        if mw > 1 and mw // max(simd, 1) < MVAU_RTL_MIN_SF:
            smaller = [d for d in divisors(mw) if mw // d >= MVAU_RTL_MIN_SF]
            return (f"{node.name}: SIMD={simd} = MW={mw} gives one result per cycle, and FINN 1.6.1's RTL "
                    "MVAU then drops a result whenever the next layer applies back-pressure (its output "
                    "queue is one entry too short). Use SIMD at most MW/2 (legal: "
                    f"{', '.join(map(str, smaller))}) and raise PE for speed instead.")
    if "parallel_window" in FOLD_FLAGS.get(node.op_type, {}) and int(inst.get_nodeattr("parallel_window")):
        simd, channels = int(inst.get_nodeattr("SIMD")), int(inst.get_nodeattr("IFMChannels"))
        if simd != channels:
            return (f"{node.name}: parallel_window=1 needs SIMD = IFMChannels = {channels}, got SIMD={simd}. "
                    f"Set SIMD={channels} or parallel_window=0.")
    return None


def get_folding(model: ModelWrapper) -> dict[str, dict[str, int]]:
    """The current folding, as a FINN folding config (``{"MVAU_rtl_0": {"SIMD": 16, "PE": 16}, ...}``)."""
    from qonnx.custom_op.registry import getCustomOp

    return {n.name: {a: int(getCustomOp(n).get_nodeattr(a))
                     for a in [*FOLD_ATTRS[_family(n.op_type)], *FOLD_FLAGS.get(n.op_type, {})]}
            for n in foldable_nodes(model)}


def check_folding(model: ModelWrapper) -> None:
    """Raise FoldingError naming the first layer/attribute whose value does not divide its dimension."""
    from qonnx.custom_op.registry import getCustomOp

    for node in foldable_nodes(model):
        inst = getCustomOp(node)
        for attr, (dim, what) in FOLD_ATTRS[_family(node.op_type)].items():
            value, size = int(inst.get_nodeattr(attr)), int(inst.get_nodeattr(dim))
            if value < 1 or size % value:
                legal = ", ".join(map(str, divisors(size)))
                raise FoldingError(
                    f"{node.name}: {attr}={value} does not divide {dim}={size} (the layer's {what}). "
                    f"Legal {attr} values: {legal}. Pick one of them.")
        problem = _fold_problem(inst, node)
        if problem:
            raise FoldingError(problem)


def apply_folding(model: ModelWrapper, folding: dict[str, dict[str, int]]) -> ModelWrapper:
    """Set PE/SIMD from a folding config (in place), then ``check_folding``; return the model."""
    from qonnx.custom_op.registry import getCustomOp

    for name, attrs in folding.items():
        if name == "Defaults":
            continue
        allowed = legal_values(model, name)
        node = model.get_node_from_name(name)
        for attr, value in attrs.items():
            if attr not in allowed:
                raise FoldingError(f"{name} has no folding attribute {attr!r}; it has {', '.join(allowed)}.")
            getCustomOp(node).set_nodeattr(attr, int(value))
    check_folding(model)
    return model


def dma_width_ok(bits: int) -> bool:
    """True if the AXI DMA can stream ``bits`` per beat without a width converter."""
    return int(bits) in DMA_WIDTHS
