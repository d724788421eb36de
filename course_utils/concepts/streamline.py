"""Streamlining on a toy graph: FINN's ``Streamline`` on a four-node layer, before and after, outputs
compared (``prepare_finn``, ``toy_streamline_model``, ``streamline_demo``). onnx, qonnx and FINN are
imported inside the functions.
"""
from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from qonnx.core.modelwrapper import ModelWrapper

_FINN_NOISE = (r"Assuming 2D input is NC", r"The GemmToMatMul transformation only offers explicit support")


def prepare_finn() -> None:
    """Make FINN importable without Vivado, with its folders under the kit's build/ (never ~/.finn).

    Uses the kit's FINN set-up (``course_utils.finnflow.env.setup``: import shim, ``FINN_BUILD_DIR``,
    ``FINN_SETTINGS``) when present, else sets the two folders itself. Call it before importing ``finn``.
    """
    for pattern in _FINN_NOISE:
        warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
    try:
        from course_utils.finnflow.env import setup
    except ImportError:
        pass
    else:
        setup()
        return
    from course_utils.paths import build_dir

    finn_dir = build_dir("finn")
    os.environ.setdefault("FINN_BUILD_DIR", str(finn_dir))
    os.environ.setdefault("FINN_SETTINGS", str(finn_dir / "settings.yaml"))


def toy_streamline_model(k: int = 6, n: int = 4, seed: int = 0) -> ModelWrapper:
    """A layer as Brevitas exports it: Mul (input scale) -> MatMul -> Add -> Mul -> MultiThreshold.

    Input: ``k`` UINT8 pixels; weights: INT4 integers; bias and positive per-channel scales (a
    folded BatchNorm) are floats; ``MultiThreshold`` maps to 2-bit unsigned activations.
    """
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import qonnx_make_model

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Mul", ["x", "in_scale"], ["scaled"], name="InputScale"),
        helper.make_node("MatMul", ["scaled", "W"], ["acc"], name="MatMul"),
        helper.make_node("Add", ["acc", "bias"], ["biased"], name="Bias"),
        helper.make_node("Mul", ["biased", "bn_scale"], ["normed"], name="BatchNormScale"),
        helper.make_node("MultiThreshold", ["normed", "thresholds"], ["y"], name="Activation",
                         domain="qonnx.custom_op.general", out_dtype="UINT2"),
    ]
    graph = helper.make_graph(nodes, "toy_layer",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="course_utils.concepts"))
    model.set_initializer("in_scale", np.array(1 / 255, dtype=np.float32))
    model.set_initializer("W", rng.integers(-7, 8, size=(k, n)).astype(np.float32))
    model.set_initializer("bias", rng.normal(size=(1, n)).astype(np.float32))
    model.set_initializer("bn_scale", rng.uniform(0.5, 2.0, size=(1, n)).astype(np.float32))
    model.set_initializer("thresholds", np.sort(rng.normal(size=(n, 3)), axis=1).astype(np.float32))
    model.set_tensor_datatype("x", DataType["UINT8"])
    model.set_tensor_datatype("W", DataType["INT4"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.transform(InferShapes()).transform(InferDataTypes())


def describe_nodes(model: ModelWrapper) -> list[str]:
    """One line per node: ``op(inputs) -> outputs``, initializers shown with their shape."""
    lines = []
    for node in model.graph.node:
        ins = []
        for name in node.input:
            init = model.get_initializer(name)
            ins.append(f"{name}{list(init.shape)}" if init is not None else name)
        lines.append(f"{node.op_type}({', '.join(ins)}) -> {', '.join(node.output)}")
    return lines


def execute(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """Outputs of ``model`` for a batch ``x`` of shape ``(N, k)``, one sample at a time."""
    import qonnx.core.onnx_exec as oxe

    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    return np.concatenate([oxe.execute_onnx(model, {iname: xi[None, :].astype(np.float32)})[oname]
                           for xi in np.asarray(x)])


def streamline_demo(samples: int = 64, seed: int = 0) -> dict[str, Any]:
    """Apply FINN's ``Streamline()`` to the toy graph and compare outputs on random UINT8 inputs.

    Returns ``before``/``after`` (models), their node descriptions, the inputs, both outputs and
    ``equal`` (outputs identical). Raises if streamlining changed the results.
    """
    prepare_finn()
    from finn.transformation.streamline import Streamline

    before = toy_streamline_model(seed=seed)
    k = before.get_tensor_shape("x")[1]
    x = np.random.default_rng(seed + 1).integers(0, 256, size=(samples, k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = before.transform(Streamline())
        y_before, y_after = execute(before, x), execute(after, x)
    equal = bool(np.array_equal(y_before, y_after))
    if not equal:
        raise AssertionError(f"Streamline changed the outputs: {int((y_before != y_after).sum())} of "
                             f"{y_before.size} values differ")
    return {"before": before, "after": after, "nodes_before": describe_nodes(before),
            "nodes_after": describe_nodes(after), "x": x, "y_before": y_before, "y_after": y_after,
            "equal": equal}
