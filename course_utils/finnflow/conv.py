"""Convolutions in the kit's flow: FINN's lowering to sliding windows + matrix products, all-RTL.

A ``Conv`` becomes ``Im2Col`` + ``MatMul`` in NHWC order (``LowerConvsToMatMul``, as FINN's
``step_streamline`` does); in hardware ``Im2Col`` is a sliding-window generator
(``ConvolutionInputGenerator``, RTL variant ``ConvolutionInputGenerator_rtl``) that feeds an MVAU in
convolution mode, and ``RemoveCNVtoFCFlatten`` folds the NHWC->NCHW flatten before the classifier into
its weights. The kit supports downsampling by a strided convolution: FINN has no RTL pooling layer (its
``StreamingMaxPool``/``Pool`` layers are HLS only and cannot execute or be simulated without Vitis HLS), so
a ``MaxPool`` is refused with a message that says so (``docs/networks_cnn.md``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.finnflow.env import setup
from course_utils.finnflow.errors import UnsupportedModelError

setup()
from qonnx.transformation.base import Transformation  # noqa: E402

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

CONV_OPS = ("Conv", "Im2Col")
POOL_OPS = ("MaxPool", "MaxPoolNHWC", "AveragePool", "GlobalAveragePool", "QuantAvgPool2d")


def has_convolutions(model: ModelWrapper) -> bool:
    """True if the graph has a convolution (before or after lowering)."""
    return any(n.op_type in CONV_OPS for n in model.graph.node)


def check_conv_ops(model: ModelWrapper) -> None:
    """Raise UnsupportedModelError naming a pooling node: the kit's all-RTL flow has no pooling layer."""
    for node in model.graph.node:
        if node.op_type in POOL_OPS:
            raise UnsupportedModelError(
                f"node {node.name or '(unnamed)'} is a {node.op_type}: FINN implements pooling only as an "
                "HLS layer (StreamingMaxPool_hls / Pool_hls), which needs Vitis HLS to execute or "
                "simulate, so the kit cannot verify or deploy it. Downsample with a stride-2 convolution "
                "instead (QuantConv2d(..., stride=2), as models.QuantCNN does), then export again.")


def lower_convolutions(model: ModelWrapper) -> ModelWrapper:
    """FINN's convolution lowering of ``step_streamline``: Conv -> Im2Col + MatMul (NHWC), transposes
    absorbed into the thresholds or cancelled against each other."""
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    check_conv_ops(model)
    for t in (LowerConvsToMatMul(), MakeMaxPoolNHWC(), absorb.AbsorbTransposeIntoMultiThreshold(),
              MakeMaxPoolNHWC(), absorb.AbsorbConsecutiveTransposes()):
        model = model.transform(t)
    return model


class RemoveSingleChannelInputTranspose(Transformation):
    """Remove the graph input's NCHW -> NHWC ``Transpose`` when the input has one channel.

    With one channel both layouts hold the same bytes in the same order, so the transpose is a no-op on
    the input stream; removing it keeps the whole graph in the dataflow partition. The graph input then
    reads ``(1, H, W, 1)`` (NHWC, what FINN streams): the same ``H*W`` raw pixels per image.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        import qonnx.core.data_layout as DataLayout  # noqa: N812 - qonnx's own spelling
        from onnx.helper import get_attribute_value

        inp = model.graph.input[0]
        consumers = model.find_consumers(inp.name) or []
        if len(consumers) != 1 or consumers[0].op_type != "Transpose":
            return model, False
        node = consumers[0]
        perm = [list(get_attribute_value(a)) for a in node.attribute if a.name == "perm"]
        shape = model.get_tensor_shape(inp.name)
        if perm != [[0, 2, 3, 1]] or len(shape) != 4 or shape[1] != 1:
            return model, False
        dt = model.get_tensor_datatype(inp.name)
        out_shape = model.get_tensor_shape(node.output[0])
        for consumer in model.find_consumers(node.output[0]) or []:
            for i, name in enumerate(consumer.input):
                if name == node.output[0]:
                    consumer.input[i] = inp.name
        model.graph.node.remove(node)
        model.set_tensor_shape(inp.name, out_shape)
        model.set_tensor_datatype(inp.name, dt)
        model.set_tensor_layout(inp.name, DataLayout.NHWC)
        return model, False


def conv_to_hw(model: ModelWrapper) -> ModelWrapper:
    """Sliding-window generators for the lowered ``Im2Col`` nodes (``InferConvInpGen``), and the
    NHWC->NCHW flatten before a classifier absorbed into its weights (``RemoveCNVtoFCFlatten``); run
    after the MatMuls became MVAUs, as FINN's ``step_convert_to_hw`` does."""
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten

    if not model.get_nodes_by_op_type("Im2Col"):
        return model
    return model.transform(InferConvInpGen()).transform(RemoveCNVtoFCFlatten())
