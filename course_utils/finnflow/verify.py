"""Compare a stage's outputs on the golden batch with Brevitas and with the previous stage.

Every stage of Lab 2 is checked twice: against Lab 1's golden batch (the Brevitas outputs) and against
the stage before it. Once outputs are integers (``y = y_int * output_scale``) the comparison is
bit-exact; before that, floats must agree to 1% of one output step. A mismatch raises
``StageMismatchError`` naming the first differing sample and class and, when the previous model is
known, the first intermediate tensor (shared by both graphs) whose values differ. The execution itself
(FINN's Python execution, ``Golden``, ``StageResult``) is in ``finnflow.execution``, importable from here
too; ``level="rtlsim"`` runs the stitched RTL, so this module sits above the RTL layer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.finnflow.errors import StageMismatchError
from course_utils.finnflow.execution import (  # noqa: F401 (the execution, importable from here too)
    FLOAT32_REL,
    FLOAT_ATOL,
    INT_TOL,
    Golden,
    StageResult,
    _as_int,
    _batched,
    _hw_nodes,
    execute,
    first_difference,
    int_tolerance,
    prepare_for_python,
    stream_inputs,
)

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


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
    from course_utils.finnflow.folding_rules import check_folding, foldable_nodes
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
    want: np.ndarray | None
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
