"""Execute a stage on the golden batch and compare it with Brevitas and with the previous stage.

Every stage of Lab 2 is checked twice: against Lab 1's golden batch (the Brevitas outputs) and against
the stage before it. Once outputs are integers (``y = y_int * output_scale``) the comparison is
bit-exact; before that, floats must agree to 1% of one output step. A mismatch raises
``StageMismatchError`` naming the first differing sample and class and, when the previous model is
known, the first intermediate tensor (shared by both graphs) whose values differ.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.finnflow.errors import ExecutionError, StageMismatchError

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

FLOAT_ATOL = 1e-4
"""Float tolerance (logit units) when the output scale is not known yet."""
INT_TOL = 1e-2
"""How far ``y / scale`` may be from an integer (in output steps) and still count as that integer."""


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
        if err > INT_TOL:
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

    Raises ExecutionError for HLS layers, which need C++ simulation with Vitis HLS (cppsim).
    """
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node
    from qonnx.core.modelwrapper import ModelWrapper as MW
    from qonnx.custom_op.registry import getCustomOp

    model = MW(copy.deepcopy(model.model))
    for node in _hw_nodes(model):
        if is_hls_node(node):
            raise ExecutionError(
                f"node {node.name} is an HLS layer: executing it needs C++ simulation (cppsim) with Vitis "
                "HLS, which is not installed here. Verify the model before SpecializeLayers (generic HW "
                "layers run in Python), or use >= 4-bit weights and activations so that FINN picks RTL "
                "layers.")
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
    if q.size and float(np.max(np.abs(q - np.rint(q)))) > INT_TOL:
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


def _tensor_of(previous: StageResult, tensor: str) -> np.ndarray | None:
    """Values of ``tensor`` inside ``previous.model`` on its inputs (None if there is no such tensor)."""
    from finn.core.onnx_exec import execute_onnx

    if previous.model is None or previous.inputs is None:
        return None
    model = prepare_for_python(previous.model)
    if tensor not in {t for n in model.graph.node for t in n.output}:
        return None
    iname = model.graph.input[0].name
    shape = model.get_tensor_shape(iname)
    vals = [np.asarray(execute_onnx(model, {iname: x.reshape(shape)}, return_full_exec_context=True)[tensor])
            .reshape(1, -1) for x in previous.inputs]
    return np.concatenate(vals, axis=0)


def _differs(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Element-wise 'differs' mask: exact for integers, FLOAT_ATOL for floats."""
    if got.dtype.kind in "iu" and want.dtype.kind in "iu":
        return got != want
    return ~np.isclose(got, want, rtol=0, atol=FLOAT_ATOL)


def _mismatch(name: str, what: str, got: np.ndarray, want: np.ndarray, where: str) -> str:
    """Message for the first differing sample/class of two output arrays, plus where it comes from."""
    diff = _differs(got, want)
    n_bad = int(diff.any(axis=1).sum())
    s, c = (int(i) for i in np.argwhere(diff)[0])
    return (f"stage {name}: {n_bad}/{len(got)} samples differ from {what}; first at sample {s}, class {c}: "
            f"{got[s, c]:g} vs {want[s, c]:g}. {where}")


def _where(result: StageResult, previous: StageResult | None, got: np.ndarray, want: np.ndarray,
           note: str = "") -> str:
    """Name the first differing tensor (vs the previous model when known, else the output tensor)."""
    sample = int(np.argwhere(_differs(got, want).any(axis=1))[0][0])
    found = None
    if result.diagnose is not None:
        return result.diagnose(sample) + "."
    if found is None and previous is not None and previous.model is not None and result.inputs is not None:
        found = first_difference(previous.model, result.model, result.inputs[sample])
    if found is None:
        found = (f"The output tensor {result.model.graph.output[0].name!r} is the first differing tensor "
                 "found")
    return found + ". " + (note or "Check the input datatype annotation and the last transformation "
                                   "applied (if Lab 1 was re-exported since, the checkpoints in build/lab2 "
                                   "are stale: run Lab 2 again from notebook 01).")


LEVELS = ("python", "rtlsim")
"""Verification levels: FINN's Python execution; the stitched RTL simulated with Verilator."""


def verify_stage(model: ModelWrapper, golden: Golden, name: str, previous: StageResult | None = None,
                 output_scale: float | None = None, n: int | None = None, quiet: bool = False,
                 level: str = "python", design: Any = None) -> StageResult:
    """Execute ``model`` on the golden inputs; check it against Brevitas and against ``previous``.

    The output scale comes from ``output_scale``, else the model's trailing scalar Mul, else the model
    metadata written by ``RemoveOutputScale``, else ``previous``. Prints one line and returns the
    StageResult (pass it as ``previous`` to the next stage); raises StageMismatchError on a mismatch,
    and also when nothing could be compared (integer outputs with no scale and no previous stage).
    ``level="rtlsim"`` runs the folded model's stitched RTL (``course_utils.rtl``; ``design``: a
    design built earlier) instead of FINN's Python execution; a mismatch names the first layer whose
    RTL output differs.
    """
    from course_utils.finnflow.folding import check_folding, foldable_nodes
    from course_utils.finnflow.stages import output_scale as trailing_scale
    from course_utils.finnflow.transforms import recorded_output_scale

    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}.")
    if foldable_nodes(model):
        check_folding(model)
    x, note = stream_inputs(golden.x[:n], model)
    if len(x) == 0:
        raise StageMismatchError(f"stage {name}: compared nothing (an empty golden batch); verify on at "
                                 "least one golden sample.")
    diagnose = run = None
    if level == "rtlsim":
        from course_utils.rtl.verify import execute_rtl

        y, run, diagnose = execute_rtl(model, x, design)
    else:
        y = execute(model, x)
    out_dt = model.get_tensor_datatype(model.graph.output[0].name)
    own_scale = output_scale or trailing_scale(model)
    if own_scale is None:
        own_scale = recorded_output_scale(model)
    integer_out = out_dt.is_integer()
    scale = own_scale or (previous.output_scale if previous is not None else None)
    if integer_out:
        y_int = _as_int(y, None)
        if y_int is None:
            raise StageMismatchError(f"stage {name}: the output is annotated {out_dt.name} but the executed "
                                     "values are not integers; re-run InferDataTypes and check the last "
                                     "node.")
    elif scale is not None and own_scale is not None:
        y_int = _as_int(y, scale)
    else:
        y_int = None
    result = StageResult(name, y, y_int, scale, model, x, level, diagnose, run)
    ref_logits = golden.logits[: len(x)]
    if y_int is not None and scale is not None:
        want = golden.integer_logits(scale)[: len(x)]
        if not np.array_equal(y_int, want):
            raise StageMismatchError(_mismatch(name, "Brevitas (integer outputs)", y_int, want,
                                               _where(result, previous, y_int, want, note)))
        how = f"integer outputs x {scale:.6g}, bit-exact"
    elif y_int is not None:
        if previous is None:
            raise StageMismatchError(
                f"stage {name}: compared nothing: its outputs are integers ({out_dt.name}) but no output "
                "scale is known to compare them with Brevitas, and no previous stage was given. Pass "
                "previous=<the StageResult of the stage before> or output_scale=<the trailing Mul's scale>.")
        how = "integer outputs (scale not known yet: compared with the previous stage only)"
    else:
        got = y.reshape(ref_logits.shape)
        if not np.allclose(got, ref_logits, rtol=0, atol=FLOAT_ATOL):
            raise StageMismatchError(_mismatch(name, "Brevitas (float logits)", got, ref_logits,
                                               _where(result, previous, got, ref_logits, note)))
        how = f"float logits, max |diff| {float(np.max(np.abs(got - ref_logits))):.1e}"
    if previous is not None:
        _compare_previous(result, previous)
    if not quiet:
        same = f"; same as {previous.name}" if previous is not None else ""
        where = "" if level == "python" else " in RTL simulation"
        print(f"{name}: {len(x)}/{len(x)} golden samples match Brevitas{where} ({how}){same}.")
    return result


def _compare_previous(result: StageResult, previous: StageResult) -> None:
    """Raise StageMismatchError if ``result`` differs from ``previous`` (bit-exact on integers)."""
    if len(previous.outputs) != len(result.outputs):
        raise ValueError(f"{previous.name} ran on {len(previous.outputs)} samples, {result.name} on "
                         f"{len(result.outputs)}: verify both on the same golden batch.")
    if result.y_int is not None and previous.y_int is not None:
        same = np.array_equal(result.y_int, previous.y_int)
        got, want = result.y_int, previous.y_int
    elif result.y_int is not None and result.output_scale is None:
        # integer outputs, float before (e.g. a per-class Mul/Add stayed outside the partition):
        # compare with the previous model's tensor of the same name, which feeds those software nodes
        want = _tensor_of(previous, result.model.graph.output[0].name)
        got = result.y_int
        want = _as_int(want, None) if want is not None else None
        if want is None:
            raise StageMismatchError(
                f"stage {result.name}: its integer outputs cannot be compared with {previous.name} (no "
                f"tensor {result.model.graph.output[0].name!r} with integer values there, and no output "
                "scale). "
                "Verify against the stage that produced that tensor.")
        same = np.array_equal(got, want)
    else:
        got, want = result.logits.reshape(previous.logits.shape), previous.logits
        same = np.allclose(got, want, rtol=0, atol=FLOAT_ATOL)
    if not same:
        raise StageMismatchError(_mismatch(result.name, f"the previous stage {previous.name}", got, want,
                                           _where(result, previous, got, want)))
