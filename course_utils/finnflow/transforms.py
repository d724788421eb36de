"""The kit's own small FINN transformations and builder steps."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from course_utils.finnflow.env import setup

setup()
import numpy as np  # noqa: E402
from qonnx.transformation.base import Transformation  # noqa: E402

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

OUTPUT_SCALE_KEY = "course_output_scale"
"""Metadata key under which ``RemoveOutputScale`` records the removed scale."""


class RemoveOutputScale(Transformation):
    """Remove a trailing scalar ``Mul`` on an integer tensor and record its value as model metadata.

    The accelerator then outputs integers; the host multiplies by the scale (argmax does not need it).
    Keeps the dataflow design all-RTL: FINN would otherwise map the Mul to an HLS ElementwiseMul.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        out_name = model.graph.output[0].name
        node = model.find_producer(out_name)
        if node is None or node.op_type != "Mul":
            return model, False
        scale = model.get_initializer(node.input[1])
        if scale is None or np.asarray(scale).size != 1:
            return model, False
        if not model.get_tensor_datatype(node.input[0]).is_integer():
            return model, False
        producer = model.find_producer(node.input[0])
        if producer is None:
            return model, False
        producer.output[0] = out_name
        model.graph.node.remove(node)
        model.set_tensor_datatype(out_name, model.get_tensor_datatype(node.input[0]))
        model.set_metadata_prop(OUTPUT_SCALE_KEY, repr(float(np.asarray(scale).reshape(()))))
        return model, False


def recorded_output_scale(model: ModelWrapper) -> float | None:
    """The scale recorded by ``RemoveOutputScale`` (None if the model has none)."""
    value = model.get_metadata_prop(OUTPUT_SCALE_KEY)
    return float(value) if value else None


def step_drop_output_scale(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Builder step (insert after ``step_streamline``): move the output scale to the host."""
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(RemoveOutputScale())
    return model.transform(InferShapes()).transform(InferDataTypes())


def minimize_bit_widths(model: ModelWrapper) -> ModelWrapper:
    """FINN's ``step_minimize_bit_width``: tighten weight/accumulator widths, round and clip thresholds."""
    from finn.builder.build_dataflow_config import DataflowBuildConfig
    from finn.builder.build_dataflow_steps import step_minimize_bit_width

    return step_minimize_bit_width(model, DataflowBuildConfig())  # it reads minimize_bit_width, verify_steps
