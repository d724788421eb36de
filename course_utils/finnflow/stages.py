"""Lab 2's stage checkpoints (``build/lab2/NN_<stage>.onnx``), Lab 1's inputs, and model sanity checks."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils import fileio
from course_utils.finnflow.errors import UnsupportedModelError
from course_utils.paths import build_dir

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

STAGES: tuple[str, ...] = (
    "01_finn", "02_tidy", "03_streamlined", "04_hw", "05_dataflow_parent",
    "06_dataflow", "07_specialized", "08_folded",
)
"""Checkpoint names, in flow order (docs/ARCHITECTURE.md, "Lab 2")."""

WRITTEN_BY = {
    "01_finn": "01_import_and_tidy", "02_tidy": "01_import_and_tidy",
    "03_streamlined": "02_streamline", "04_hw": "03_hw_layers_and_folding",
    "05_dataflow_parent": "03_hw_layers_and_folding", "06_dataflow": "03_hw_layers_and_folding",
    "07_specialized": "03_hw_layers_and_folding", "08_folded": "03_hw_layers_and_folding",
}

# Operators the kit's Lab 2 flow knows how to bring to FINN hardware layers (QONNX/ONNX level).
QONNX_OPS: frozenset[str] = frozenset({
    "Quant", "BipolarQuant", "Trunc", "MatMul", "Gemm", "Add", "Sub", "Mul", "Div",
    "BatchNormalization", "Relu", "Reshape", "Flatten", "Transpose", "Identity", "Sign",
    "MultiThreshold", "Squeeze", "Unsqueeze", "Constant", "Conv", "MaxPool",
})


def lab2_dir() -> Path:
    """``build/lab2`` (follows ``$COURSE_BUILD_DIR``)."""
    return build_dir("lab2")


def stage_path(name: str, folder: Path | None = None) -> Path:
    """Where checkpoint ``name`` (one of ``STAGES``) lives."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}: use one of {', '.join(STAGES)}.")
    return Path(folder or lab2_dir()) / f"{name}.onnx"


def save_stage(model: ModelWrapper, name: str, folder: Path | None = None) -> Path:
    """Save ``model`` as checkpoint ``name`` atomically (temporary file, then rename); return the path."""
    path = stage_path(name, folder)
    with fileio.atomic_path(path) as tmp:
        model.save(str(tmp))
    return path


def lab1_inputs() -> dict[str, Path | str | None]:
    """Lab 1's hand-off (``qonnx``, ``golden``, ``meta``, ``weights``, ``sweep`` paths and ``source``).

    ``build/lab1`` when complete, else ``pretrained/lab1`` with a printed note (``export.lab1_artifacts``).
    """
    from course_utils.export import lab1_artifacts

    return dict(lab1_artifacts())


def check_qonnx_ops(model: ModelWrapper) -> None:
    """Raise UnsupportedModelError naming the first node whose operator the Lab 2 flow cannot map."""
    for node in model.graph.node:
        if node.op_type not in QONNX_OPS:
            raise UnsupportedModelError(
                f"node {node.name or '(unnamed)'} is a {node.op_type}, which the kit's FINN flow cannot map "
                f"to hardware (supported: {', '.join(sorted(QONNX_OPS))}). Remove it from the network and do "
                "that step on the host (e.g. softmax/argmax after the accelerator), or replace it by "
                "supported layers, then export again.")


def check_integer_input(model: ModelWrapper) -> None:
    """Raise UnsupportedModelError if the graph input has no integer FINN datatype annotation."""
    name = model.graph.input[0].name
    dt = model.get_tensor_datatype(name)
    if not dt.is_integer():
        raise UnsupportedModelError(
            f"graph input {name!r} is {dt.name}: FINN hardware needs an integer input stream. If it carries "
            "raw pixels 0..255, annotate it: model.set_tensor_datatype(model.graph.input[0].name, "
            "DataType['UINT8']); otherwise put an input quantizer (QuantIdentity) first in the network.")


def check_streamlined(model: ModelWrapper) -> None:
    """Raise UnsupportedModelError if a MatMul/Conv still has a non-integer input after streamlining."""
    check_integer_input(model)
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Conv"):
            for tensor in node.input:
                dt = model.get_tensor_datatype(tensor)
                if not dt.is_integer() and dt.name != "BIPOLAR":
                    raise UnsupportedModelError(
                        f"node {node.name} ({node.op_type}) still has a {dt.name} input {tensor!r} after "
                        "streamlining, so it cannot become an integer hardware layer. Usually a float scale "
                        "or bias could not be moved past it: annotate the graph input as an integer type "
                        "(UINT8 for raw pixels) before streamlining, and quantize the weights and the "
                        "activation feeding this layer in Brevitas.")


def check_hw_conversion(model: ModelWrapper) -> None:
    """Raise UnsupportedModelError naming a node left between hardware layers (it would split the design)."""
    is_hw = [n.domain.startswith("finn.custom_op.fpgadataflow") for n in model.graph.node]
    if not any(is_hw):
        raise UnsupportedModelError(
            "no node was converted to a FINN hardware layer: run InferThresholdingLayer and "
            "InferQuantizedMatrixVectorActivation on the streamlined model (integer MatMul + "
            "MultiThreshold).")
    first = is_hw.index(True)
    last = len(is_hw) - 1 - is_hw[::-1].index(True)
    for node, hw in zip(model.graph.node[first:last + 1], is_hw[first:last + 1]):
        if not hw:
            raise UnsupportedModelError(
                f"node {node.name} ({node.op_type}) sits between hardware layers but has no FINN hardware "
                "implementation, so the dataflow partition would be split. Check its input datatypes "
                "(model.get_tensor_datatype) and streamline again, or change the network so that it "
                "can be absorbed (scales/biases) or moved to the host.")


def output_scale(model: ModelWrapper) -> float | None:
    """The scalar that multiplies integer outputs into logits: the trailing ``Mul`` on an integer tensor.

    Returns None when the graph output is not ``integer tensor x scalar`` (e.g. before streamlining,
    or inside the dataflow partition, whose output is already the integer tensor).
    """
    import numpy as np

    node = model.find_producer(model.graph.output[0].name)
    if node is None or node.op_type != "Mul":
        return None
    value = model.get_initializer(node.input[1])
    if value is None or np.asarray(value).size != 1:
        return None
    if not model.get_tensor_datatype(node.input[0]).is_integer():
        return None
    return float(np.asarray(value).reshape(()))


def output_affine(model: ModelWrapper) -> tuple[Any, Any] | None:
    """``(scale, bias)`` that turn the integer outputs into logits: ``logits = y_int * scale + bias``.

    Covers the trailing scalar ``Mul`` (``output_scale``; bias 0) and the per-class affine a binary
    network keeps after its output BatchNorm: ``Mul`` (per class) then ``Add`` (per class) on an integer
    tensor, which stay on the host. Arrays of shape ``(classes,)`` (or a 0-d scale); None when the graph
    output is not such an affine function of an integer tensor.
    """
    import numpy as np

    def const(node: Any) -> Any:
        value = model.get_initializer(node.input[1])
        return None if value is None else np.asarray(value, dtype=np.float64)

    node = model.find_producer(model.graph.output[0].name)
    bias = None
    if node is not None and node.op_type == "Add":
        bias = const(node)
        if bias is None:
            return None
        node = model.find_producer(node.input[0])
    if node is None or node.op_type != "Mul":
        return None
    scale = const(node)
    if scale is None or not model.get_tensor_datatype(node.input[0]).is_integer():
        return None
    classes = int(model.get_tensor_shape(node.input[0])[-1])
    shape = scale.shape if bias is None else np.broadcast_shapes(scale.shape, bias.shape)
    if int(np.prod(shape)) not in (1, classes):
        return None  # not per-class (e.g. a broadcast over the batch)
    if bias is None:
        return (scale.reshape(()) if scale.size == 1 else scale.reshape(-1)), np.zeros(())
    scale = np.broadcast_to(scale.reshape(-1) if scale.size > 1 else scale.reshape(()), (classes,)).copy()
    return scale, np.broadcast_to(bias.reshape(-1) if bias.size > 1 else bias.reshape(()), (classes,)).copy()
