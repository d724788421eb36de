"""RTL or HLS: the kit asks FINN for RTL layers everywhere, and says which layers stayed HLS and why.

FINN's ``SpecializeLayers`` picks RTL layers by default only for >= 4-bit MVAUs. Its RTL MVU
(``finn-rtllib/mvu``) takes 2..8-bit activations and signed narrow-range 2..8-bit weights on a 7-series
DSP48E1, and Thresholding always has an RTL variant, so with ``preferred_impl_style="rtl"`` on every
hardware node (FINN's own attribute; ``prefer_rtl``) a W2A2 or W3A3 MLP becomes all-RTL too: simulated
here with Verilator and deployable. Where FINN has no RTL layer (a binary/bipolar MVAU in XNOR mode,
LabelSelect, ...) the node stays HLS: it is verified in Python through its generic FINN op
(``as_generic``), named by ``hls_layers`` with the reason, and cannot be RTL-simulated without Vitis HLS.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from course_utils.finnflow.env import FPGA_PART

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

HW_DOMAIN = "finn.custom_op.fpgadataflow"


def _is_hw(node) -> bool:
    return node.domain.startswith(HW_DOMAIN)


def prefer_rtl(model: ModelWrapper) -> ModelWrapper:
    """Set FINN's ``preferred_impl_style="rtl"`` on every generic hardware node (in place); return the model.

    Apply before ``SpecializeLayers``; FINN falls back to HLS (with a warning) where it has no RTL layer.
    """
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if node.domain == HW_DOMAIN:
            inst = getCustomOp(node)
            if "preferred_impl_style" in inst.get_nodeattr_types():
                inst.set_nodeattr("preferred_impl_style", "rtl")
    return model


def _mvau_reason(model: ModelWrapper, node, fpgapart: str) -> str:
    """Why FINN's RTL MVU cannot implement this (generic or HLS) MVAU node."""
    import numpy as np
    from finn.util.basic import get_dsp_block, get_dsp_datapath_limits
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    wdt, idt = inst.get_input_datatype(1), inst.get_input_datatype(0)
    if int(inst.get_nodeattr("binaryXnorMode")):
        return ("binary weights and activations (XNOR-popcount): FINN's RTL MVU multiplies integers of "
                "2 bits or more")
    if int(inst.get_nodeattr("noActivation")) == 0:
        return ("thresholds inside the MVAU: FINN's RTL MVU needs standalone Thresholding layers "
                "(InferThresholdingLayer before InferQuantizedMatrixVectorActivation)")
    if wdt.bitwidth() < 2 or idt.bitwidth() < 2:
        return (f"{wdt.name} weights x {idt.name} activations: FINN's RTL MVU needs at least 2 bits "
                "for both")
    if not wdt.signed():
        return f"unsigned weights ({wdt.name}): FINN's RTL MVU needs signed weights"
    block = get_dsp_block(fpgapart)
    weights = model.get_initializer(node.input[1])
    if block == "DSP48E1" and (weights is None or np.min(weights) == wdt.min()):
        return (f"the weights use the full range of {wdt.name} (down to {wdt.min():g}): on a 7-series "
                "DSP48E1 FINN's RTL MVU needs narrow-range weights (Brevitas narrow_range=True)")
    max_act, max_weight, max_acc = get_dsp_datapath_limits(block)
    acc = inst.get_output_datatype().bitwidth()
    if idt.bitwidth() - int(idt.signed()) < max_act and wdt.bitwidth() <= max_weight and acc <= max_acc:
        return "FINN specialized MVAU to HLS (set preferred_impl_style='rtl' before SpecializeLayers)"
    return (f"widths {idt.name} x {wdt.name} -> {acc}-bit accumulator exceed the {block} datapath "
            f"(activations < {max_act}, weights <= {max_weight}, accumulator <= {max_acc} bits)")


def hls_reason(model: ModelWrapper, node, fpgapart: str = FPGA_PART) -> str:
    """One phrase: why ``node`` is (or would be) an HLS layer rather than RTL on ``fpgapart``."""
    from finn.custom_op.fpgadataflow.rtl import custom_op as rtl_variants

    family = node.op_type.removesuffix("_hls").removesuffix("_rtl")
    if family + "_rtl" not in rtl_variants:
        return f"FINN has no RTL implementation of {family}"
    if family == "MVAU":
        return _mvau_reason(model, node, fpgapart)
    return f"FINN specialized {family} to HLS (set preferred_impl_style='rtl' before SpecializeLayers)"


def hls_layers(model: ModelWrapper, fpgapart: str = FPGA_PART) -> dict[str, str]:
    """``{node name: why it is HLS}`` for every HLS layer of a specialized model (empty: all-RTL)."""
    from finn.util.fpgadataflow import is_hls_node

    return {n.name: f"{n.op_type}: {hls_reason(model, n, fpgapart)}" for n in model.graph.node
            if _is_hw(n) and is_hls_node(n)}


def hls_note(model: ModelWrapper, fpgapart: str = FPGA_PART) -> str:
    """A sentence for the flow's and the deploy package's users: which layers are HLS, why, what follows."""
    layers = hls_layers(model, fpgapart)
    if not layers:
        return ""
    listed = "; ".join(f"{name} ({why})" for name, why in layers.items())
    return (f"{len(layers)} layer(s) stayed HLS: {listed}. They are verified in Python through their generic "
            "FINN op; RTL simulation and the bitstream of these layers need Vitis HLS.")


def as_generic(model: ModelWrapper) -> ModelWrapper:
    """A copy of ``model`` whose HLS layers are their generic FINN ops, which FINN executes in Python.

    An ``MVAU_hls`` becomes an ``MVAU`` (same attributes and initializers): its ``execute_node`` is the
    layer's Python reference model, the one FINN checks its HLS C++ against.
    """
    from finn.util.fpgadataflow import is_hls_node
    from qonnx.core.modelwrapper import ModelWrapper as MW

    model = MW(copy.deepcopy(model.model))
    for node in model.graph.node:
        if _is_hw(node) and is_hls_node(node):
            node.op_type = node.op_type.removesuffix("_hls")
            node.domain = HW_DOMAIN
    return model
