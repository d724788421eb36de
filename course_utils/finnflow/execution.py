"""Run a stage on the golden batch with FINN's Python execution: the golden batch, stage results, streams.

``finnflow.verify`` compares what this executes (or the stitched RTL, ``course_utils.rtl``) with Brevitas
and with the previous stage; this part is below the RTL layer, which uses it too (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.finnflow.errors import StageMismatchError

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

FLOAT_ATOL = 1e-4
"""Float tolerance (logit units) when the output scale is not known yet."""
INT_TOL = 1e-2
"""How far ``y / scale`` may be from an integer (in output steps) and still count as that integer."""
FLOAT32_REL = 2e-6
"""Relative rounding of float32 logits: ``y / scale`` of a large integer (an 8-bit network's wide
accumulator) may miss it by more than INT_TOL; allowed up to this fraction of the largest value."""


def int_tolerance(q: np.ndarray) -> float:
    """Distance from an integer that still counts as that integer: INT_TOL, widened for float32 rounding
    of large values (at most 0.25 of a step, so the nearest integer stays unambiguous)."""
    big = float(np.max(np.abs(q))) if np.size(q) else 0.0
    return min(0.25, max(INT_TOL, FLOAT32_REL * big))


@dataclass(frozen=True)
class Golden:
    """Lab 1's golden batch: uint8 images, Brevitas logits and predictions, true labels."""

    x: np.ndarray
    logits: np.ndarray
    pred: np.ndarray
    labels: np.ndarray
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Golden:
        """Read ``golden.npz`` (keys x, logits, pred, labels) and check its shapes."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"golden batch {path} not found: run Lab 1's export notebook, or use "
                                    "finnflow.lab1_inputs()['golden'] (falls back to pretrained/lab1).")
        with np.load(path) as data:
            missing = {"x", "logits"} - set(data.files)
            if missing:
                raise ValueError(f"{path} lacks {sorted(missing)}: re-export the golden batch in Lab 1.")
            x, logits = data["x"], data["logits"].astype(np.float32)
            pred = data["pred"] if "pred" in data.files else logits.argmax(1)
            labels = data["labels"] if "labels" in data.files else np.full(len(x), -1)
        if x.ndim != 2 or len(x) != len(logits):
            raise ValueError(f"{path}: x {x.shape} and logits {logits.shape} do not match "
                             "(expected (N, 784) and (N, 10)).")
        return cls(x=x, logits=logits, pred=np.asarray(pred), labels=np.asarray(labels), source=str(path))

    def inputs(self, n: int | None = None) -> np.ndarray:
        """The first ``n`` images as float32 ``(n, 784)`` raw pixels (what FINN's executor takes)."""
        return self.x[:n].astype(np.float32)

    def integer_logits(self, scale: float) -> np.ndarray:
        """Brevitas logits as integers ``logits / scale``; raise if they are not integer multiples of it."""
        q = self.logits.astype(np.float64) / scale
        err = float(np.max(np.abs(q - np.rint(q)))) if q.size else 0.0
        if err > int_tolerance(q):
            raise StageMismatchError(
                f"the golden logits are not integer multiples of the output scale {scale:.6g} (off by up to "
                f"{err:.3f} steps): the scale does not belong to this model. Use the golden batch exported "
                "together with this model (Lab 1), and the scale of its trailing Mul.")
        return np.rint(q).astype(np.int64)


@dataclass
class StageResult:
    """The outputs of one stage on the golden inputs, as floats and (when known) as integers."""

    name: str
    outputs: np.ndarray
    y_int: np.ndarray | None
    output_scale: float | None
    model: Any = field(default=None, repr=False)
    inputs: np.ndarray | None = field(default=None, repr=False)
    level: str = "python"
    diagnose: Any = field(default=None, repr=False)
    """For ``rtlsim``: ``diagnose(sample) -> str`` names the first layer whose RTL output differs."""
    rtl: Any = field(default=None, repr=False)
    """For ``rtlsim``: the simulation's ``RunResult`` (cycles, latency, FIFO occupancy)."""

    @property
    def pred(self) -> np.ndarray:
        """Predicted class per sample (argmax of the outputs)."""
        return np.argmax(self.y_int if self.y_int is not None else self.outputs, axis=1)

    @property
    def logits(self) -> np.ndarray:
        """Float logits (integer outputs times the scale when the scale is known)."""
        if self.y_int is not None and self.output_scale is not None:
            return self.y_int * self.output_scale
        return self.outputs


def stream_inputs(x: np.ndarray, model: ModelWrapper) -> tuple[np.ndarray, str]:
    """The golden bytes as the hardware input stream delivers them under the model's declared input type.

    UINT8 (and FLOAT32, before annotation) keep the pixel values; INT8 reads bytes 128..255 as
    -128..-1, exactly what an accelerator built for INT8 inputs would compute with. Returns
    ``(float32 inputs, note)``; the note explains a reinterpretation ("" if none).
    """
    dt = model.get_tensor_datatype(model.graph.input[0].name)
    x = np.asarray(x)
    if x.dtype != np.uint8 or not dt.is_integer() or dt.name == "UINT8":
        return x.astype(np.float32), ""
    if dt.name == "INT8":
        return x.view(np.int8).astype(np.float32), (
            "The input is declared INT8, so pixels 128..255 arrive as -128..-1 (as on the board): "
            "annotate the input as UINT8.")
    bad = ~np.vectorize(dt.allowed)(x.astype(np.float64))
    if bad.any():
        raise StageMismatchError(
            f"the golden pixels (0..255, uint8) do not fit the declared input type {dt.name} (e.g. "
            f"{int(x[bad][0])}): the hardware stream would carry other values. Annotate the input as UINT8.")
    return x.astype(np.float32), ""


def _hw_nodes(model: ModelWrapper) -> list:
    return [n for n in model.graph.node if n.domain.startswith("finn.custom_op.fpgadataflow")]


def prepare_for_python(model: ModelWrapper) -> ModelWrapper:
    """A copy of ``model`` that FINN executes in Python: RTL layers in their Python mode.

    HLS layers (where FINN has no RTL layer, e.g. a binary XNOR MVAU or LabelSelect) run as their
    generic FINN op (``impl.as_generic``): the layer's Python reference model, since their C++
    simulation (cppsim) needs Vitis HLS.
    """
    from finn.util.fpgadataflow import is_rtl_node
    from qonnx.custom_op.registry import getCustomOp

    from course_utils.finnflow.impl import as_generic

    model = as_generic(model)
    for node in _hw_nodes(model):
        if is_rtl_node(node):
            getCustomOp(node).set_nodeattr("exec_mode", "cppsim")  # RTL layers' Python model
    return model


def _batched(model: ModelWrapper, n: int) -> ModelWrapper | None:
    """The model with batch size ``n``, or None if it cannot be batched (dataflow partitions)."""
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    if model.get_nodes_by_op_type("StreamingDataflowPartition"):
        return None
    if model.get_tensor_shape(model.graph.input[0].name)[0] != 1:
        return None
    if len(model.get_tensor_shape(model.graph.input[0].name)) != 2:
        return None  # image inputs (CNNs): Im2Col and Reshape shapes are per sample
    model = model.transform(ChangeBatchSize(n))
    for node in _hw_nodes(model):
        inst = getCustomOp(node)
        if "numInputVectors" in inst.get_nodeattr_types():
            niv = list(inst.get_nodeattr("numInputVectors"))
            if niv and niv[0] == 1:
                inst.set_nodeattr("numInputVectors", [n, *niv[1:]])
    return model.transform(InferShapes())


def execute(model: ModelWrapper, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Run ``model`` with FINN's executor on ``x`` (N samples); return the outputs, shape ``(N, ...)``.

    Batches of ``batch_size`` samples when the graph allows it, one sample at a time otherwise.
    """
    from finn.core.onnx_exec import execute_onnx
    from tqdm.auto import tqdm

    model = prepare_for_python(model)
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    in_shape = list(model.get_tensor_shape(iname))
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    per_sample = int(np.prod(in_shape[1:]))
    if x[0].size != per_sample:
        raise ValueError(f"input samples have {x[0].size} values but {iname!r} expects shape {in_shape}.")
    outs: list[np.ndarray] = []
    step = max(1, min(batch_size, len(x)))
    batched = _batched(model, step) if len(x) > 1 else None
    if batched is not None:
        for i in range(0, len(x), step):
            chunk = x[i:i + step]
            m = batched if len(chunk) == step else _batched(model, len(chunk))
            y = execute_onnx(m, {iname: chunk.reshape(len(chunk), *in_shape[1:])})[oname]
            outs.append(np.asarray(y).reshape(len(chunk), -1))
    else:
        for i in tqdm(range(len(x)), desc="FINN exec", disable=len(x) < 200, leave=False):
            y = execute_onnx(model, {iname: x[i:i + 1].reshape(in_shape)})[oname]
            outs.append(np.asarray(y).reshape(1, -1))
    return np.concatenate(outs, axis=0)


def _as_int(y: np.ndarray, scale: float | None) -> np.ndarray | None:
    """``y / scale`` as integers if every value is within INT_TOL of an integer, else None."""
    q = y.astype(np.float64) / (scale or 1.0)
    if q.size and float(np.max(np.abs(q - np.rint(q)))) > int_tolerance(q):
        return None
    return np.rint(q).astype(np.int64)


def first_difference(model_a: ModelWrapper, model_b: ModelWrapper, x: np.ndarray) -> str | None:
    """Name the first tensor of ``model_b`` (in graph order) whose values differ from ``model_a``'s.

    Only tensors present in both graphs under the same name, shape and FINN datatype are compared,
    on one input sample ``x``. Returns a description, or None if all shared tensors agree.
    """
    from finn.core.onnx_exec import execute_onnx

    ma, mb = prepare_for_python(model_a), prepare_for_python(model_b)
    xa = np.asarray(x, np.float32).reshape(ma.get_tensor_shape(ma.graph.input[0].name))
    xb = xa.reshape(mb.get_tensor_shape(mb.graph.input[0].name))
    ctx_a = execute_onnx(ma, {ma.graph.input[0].name: xa}, return_full_exec_context=True)
    ctx_b = execute_onnx(mb, {mb.graph.input[0].name: xb}, return_full_exec_context=True)
    for node in mb.graph.node:
        for t in node.output:
            if t not in ctx_a or t not in ctx_b or ma.get_tensor_datatype(t) != mb.get_tensor_datatype(t):
                continue
            a, b = np.asarray(ctx_a[t]), np.asarray(ctx_b[t])
            if a.shape != b.shape or np.array_equal(a, b):
                continue
            idx = np.unravel_index(int(np.argmax(a != b)), a.shape)
            return (f"tensor {t!r} ({mb.get_tensor_datatype(t).name}, output of {node.name}) differs first, "
                    f"at index {tuple(int(i) for i in idx)}: {a[idx]:g} before vs {b[idx]:g} now")
    return None
