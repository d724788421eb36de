"""Checkpoints of Lab 2 (FINN): one ``ex_N_k`` per exercise of ``solutions/lab2_finn/0N_*.ipynb``.

Each takes the student's function or class and the models it works on, runs it on a *copy* (the
student's objects are never changed), checks the result with the kit's FINN helpers
(``course_utils.finnflow``) and prints a pass line, or raises ``AssertionError("Exercise N.k: ...
Hint: ...")``.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from course_utils.checks._common import call, fail, not_done, passed, require

SCALE_KEY = "output_scale"
"""Metadata key the Exercise 2.1 transformation writes the removed scale under."""


def _ff() -> Any:
    from course_utils import finnflow

    finnflow.setup()
    return finnflow


def _copy(model: Any) -> Any:
    """A deep copy of a qonnx ModelWrapper (the checks never touch the student's model)."""
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(copy.deepcopy(model.model))


def _model(ex: str, value: Any, what: str) -> Any:
    """``value`` if it is a ModelWrapper, else a failure saying what came back."""
    if value is None or value is Ellipsis:
        fail(ex, f"{what} is missing: your function returned {value!r}.",
             "end your function with `return model` (transformations return a new model).")
    if not hasattr(value, "graph") or not hasattr(value, "get_tensor_datatype"):
        got = type(value).__name__
        hint = ("model.transform(...) returns the new model; return that, not a tuple."
                if isinstance(value, tuple) else "return the qonnx ModelWrapper.")
        fail(ex, f"{what} must be a qonnx ModelWrapper, got {got}.", hint)
    return value


def _call(ex: str, fn: Any, *args: Any) -> Any:
    """``call``, also turning an AssertionError raised inside FINN/qonnx by student code into a failure."""
    try:
        return call(ex, fn, *args)
    except AssertionError as err:
        if str(err).startswith(f"Exercise {ex}:"):
            raise
        fail(ex, f"your code raised AssertionError: {err or '(no message)'}",
             "a FINN/qonnx transformation refused the model: check the order of your steps.")


def _verify(ex: str, model: Any, golden: Any, name: str, previous: Any = None) -> Any:
    """``verify_stage`` quietly; a mismatch becomes this exercise's failure with FINN's message."""
    ff = _ff()
    try:
        return ff.verify_stage(model, golden, name, previous=previous, quiet=True)
    except (ff.StageMismatchError, ff.UnsupportedModelError, ff.ExecutionError) as err:
        fail(ex, f"the model does not match Brevitas any more: {err}")


# =========================================================================== notebook 01

def ex_1_1(annotate_input: Any, converted: Any, golden: Any) -> None:
    """Exercise 1.1: ``annotate_input(model)`` declares the graph input as UINT8 pixels."""
    not_done("1.1", annotate_input, "annotate_input")
    before = _copy(converted)
    out = _model("1.1", _call("1.1", annotate_input, _copy(converted)), "annotate_input(model)")
    dt = out.get_tensor_datatype(out.graph.input[0].name)
    if dt.name == "INT8":
        fail("1.1", "the input is declared INT8: bytes 128..255 would arrive as negative numbers.",
             "pixels are 0..255, an unsigned type: DataType['UINT8'].")
    require("1.1", dt.name == "UINT8", f"the graph input is {dt.name}, expected UINT8.",
            "model.set_tensor_datatype(model.graph.input[0].name, DataType['UINT8']).")
    require("1.1", [n.op_type for n in out.graph.node] == [n.op_type for n in before.graph.node],
            "the nodes changed: only the input annotation should.",
            "do not apply transformations here; just set the datatype and return the model.")
    _verify("1.1", out, golden, "01_finn")
    passed("1.1", f"the input is UINT8 and the FINN graph matches Brevitas on {len(golden.x)} golden images.")


def ex_1_2(tidy_up: Any, model_finn: Any, golden: Any) -> None:
    """Exercise 1.2: ``tidy_up(model)`` applies the tidy-up transformations."""
    not_done("1.2", tidy_up, "tidy_up")
    out = _model("1.2", _call("1.2", tidy_up, _copy(model_finn)), "tidy_up(model)")
    names = [n.name for n in out.graph.node]
    require("1.2", all(names) and len(set(names)) == len(names),
            "some nodes have no name or share one.", "GiveUniqueNodeNames()")
    unreadable = [t for n in out.graph.node for i, t in enumerate(n.output)
                  if t not in (f"{n.name}_out{i}", "global_out")]
    require("1.2", out.graph.input[0].name == "global_in" and not unreadable,
            f"tensor names are not readable (e.g. {(unreadable or [out.graph.input[0].name])[0]!r}).",
            "GiveReadableTensorNames() (after GiveUniqueNodeNames).")
    unknown = [t for n in out.graph.node for t in n.output if out.get_tensor_shape(t) is None]
    require("1.2", not unknown, f"tensor {unknown[0] if unknown else ''!r} has no shape.", "InferShapes()")
    extra = [i.name for i in out.graph.input[1:]]
    require("1.2", not extra, f"weights are still graph inputs: {extra[:3]}.", "RemoveStaticGraphInputs()")
    mt = [n for n in out.graph.node if n.op_type == "MultiThreshold"]
    untyped = [n.name for n in mt if not out.get_tensor_datatype(n.output[0]).is_integer()]
    require("1.2", not untyped, f"the outputs of {untyped} have no integer datatype.", "InferDataTypes()")
    require("1.2", not out.get_nodes_by_op_type("Constant"), "Constant nodes are left.", "FoldConstants()")
    prev = _verify("1.2", model_finn, golden, "01_finn")
    _verify("1.2", out, golden, "02_tidy", previous=prev)
    passed("1.2", f"{len(names)} uniquely named nodes, readable tensors, shapes and datatypes inferred; "
                  "outputs unchanged.")


def _reference_datatypes(model: Any) -> dict[str, str]:
    tensors = {t for n in model.graph.node for t in (*n.input, *n.output) if t}
    return {t: model.get_tensor_datatype(t).name for t in sorted(tensors)
            if model.get_tensor_datatype(t).name != "FLOAT32"}


def ex_1_3(quantized_tensors: Any, model: Any) -> None:
    """Exercise 1.3: an analysis pass ``quantized_tensors(model) -> {tensor: datatype name}``."""
    not_done("1.3", quantized_tensors, "quantized_tensors")
    got = _call("1.3", _copy(model).analysis, quantized_tensors)
    require("1.3", isinstance(got, dict), f"expected a dict, got {type(got).__name__}.",
            "build and return a dict {tensor_name: model.get_tensor_datatype(tensor_name).name}.")
    want = _reference_datatypes(model)
    got = {k: (v.name if hasattr(v, "name") else str(v)) for k, v in got.items()}
    missing = sorted(set(want) - set(got))
    if missing:
        fail("1.3", f"missing {len(missing)} tensor(s), e.g. {missing[0]!r} ({want[missing[0]]}).",
             "look at every input and output of every node.")
    wrong = sorted(k for k in got if k in want and got[k] != want[k])
    if wrong:
        fail("1.3", f"{wrong[0]!r}: you report {got[wrong[0]]}, the model says {want[wrong[0]]}.",
             "use model.get_tensor_datatype(name).name.")
    floats = sorted(set(got) - set(want))
    require("1.3", not floats, f"{floats[:2]} are FLOAT32 (or not in the graph) and should be left out.",
            "skip tensors whose datatype is FLOAT32.")
    kinds = sorted(set(want.values()))
    passed("1.3", f"{len(want)} quantized tensors found ({', '.join(kinds)}).")


# =========================================================================== notebook 02

def ex_2_1(move_cls: Any, streamlined: Any, tidied: Any, golden: Any) -> None:
    """Exercise 2.1: a ``Transformation`` moving the trailing output scale to the host."""
    from qonnx.transformation.base import Transformation

    ff = _ff()
    not_done("2.1", move_cls, "MoveOutputScaleToHost")
    require("2.1", isinstance(move_cls, type) and issubclass(move_cls, Transformation),
            f"expected a Transformation subclass, got {move_cls!r}.",
            "class MoveOutputScaleToHost(Transformation): def apply(self, model): ... return model, False")
    scale = ff.output_scale(streamlined)
    require("2.1", scale is not None, "the streamlined model passed in has no trailing scale Mul.",
            "pass the streamlined model (03_streamlined).")
    out = _model("2.1", _call("2.1", _copy(streamlined).transform, move_cls()), "model.transform(...)")
    last = out.find_producer(out.graph.output[0].name)
    require("2.1", last is not None and last.op_type != "Mul",
            f"the graph still ends with {last.op_type if last is not None else 'nothing'}.",
            "remove the Mul node and let its producer write the graph output tensor.")
    recorded = out.get_metadata_prop(SCALE_KEY)
    require("2.1", recorded is not None, f"no metadata {SCALE_KEY!r} recorded.",
            f"model.set_metadata_prop({SCALE_KEY!r}, repr(scale)).")
    try:
        value = float(recorded)
    except ValueError:
        fail("2.1", f"metadata {SCALE_KEY!r} is {recorded!r}, not a number.", "store repr(float(scale)).")
    require("2.1", abs(value - scale) <= 1e-9 * abs(scale),
            f"recorded scale {value} but the Mul had {scale}.",
            "read the scale with model.get_initializer(node.input[1]).")
    y = ff.execute(out, golden.inputs())
    want = golden.integer_logits(scale)
    require("2.1", np.array_equal(np.rint(y).astype(np.int64), want) and np.allclose(y, np.rint(y)),
            "the outputs are not the integer logits (logits / scale).",
            "only remove the final Mul; rewire its producer's output to the graph output name.")
    again = _call("2.1", _copy(out).transform, move_cls())
    require("2.1", len(again.graph.node) == len(out.graph.node), "applying it twice removed another node.",
            "only remove a Mul whose input is an integer tensor and whose factor is a scalar.")
    kept = _call("2.1", _copy(tidied).transform, move_cls())
    require("2.1", len(kept.graph.node) == len(tidied.graph.node),
            "on the tidy (not streamlined) model it removed the last Mul, whose input is a float tensor.",
            "check model.get_tensor_datatype(mul.input[0]).is_integer() first.")
    passed("2.1", f"integer outputs on all {len(want)} golden images; scale {scale:.6g} recorded as "
                  "metadata.")


def _float_matmuls(model: Any) -> dict[str, list[str]]:
    out = {}
    for n in model.graph.node:
        if n.op_type == "MatMul":
            bad = [t for t in n.input if not model.get_tensor_datatype(t).is_integer()]
            if bad:
                out[n.name] = bad
    return out


def ex_2_2(float_matmul_inputs: Any, streamlined: Any, tidied: Any) -> None:
    """Exercise 2.2: ``float_matmul_inputs(model) -> {MatMul name: [non-integer input tensors]}``."""
    not_done("2.2", float_matmul_inputs, "float_matmul_inputs")
    for model, what in ((tidied, "tidy"), (streamlined, "streamlined")):
        got = _call("2.2", _copy(model).analysis, float_matmul_inputs)
        require("2.2", isinstance(got, dict), f"expected a dict, got {type(got).__name__}.",
                "return {} when every MatMul input is an integer tensor.")
        want = _float_matmuls(model)
        require("2.2", set(got) == set(want),
                f"on the {what} model you report {sorted(got)}, expected {sorted(want)}.",
                "for each MatMul, keep the inputs whose DataType is not integer (dt.is_integer()).")
        for k, v in want.items():
            require("2.2", sorted(got[k]) == sorted(v), f"{k}: you list {got[k]}, expected {v}.")
    passed("2.2", f"tidy model: {len(_float_matmuls(tidied))} MatMul(s) with float inputs; streamlined: none "
                  "(ready for integer hardware).")


# =========================================================================== notebook 03

def ex_3_1(fold_by_hand: Any, specialized: Any, max_cycles: int = 400) -> None:
    """Exercise 3.1: ``fold_by_hand(model)`` sets PE/SIMD so that every layer needs <= ``max_cycles``."""
    ff = _ff()
    not_done("3.1", fold_by_hand, "fold_by_hand")
    out = _model("3.1", _call("3.1", fold_by_hand, _copy(specialized)), "fold_by_hand(model)")
    try:
        ff.check_folding(out)
    except ff.FoldingError as err:
        fail("3.1", str(err), "PE must divide MH (or NumChannels), SIMD must divide MW.")
    rows = ff.layer_estimates(out)
    slow = [r for r in rows if r["cycles"] > max_cycles]
    if slow:
        fail("3.1", f"{slow[0]['layer']} still needs {slow[0]['cycles']} cycles (> {max_cycles}).",
             "cycles = (MW/SIMD) * (MH/PE) for an MVAU, NumChannels/PE for Thresholding: raise SIMD/PE "
             "of that layer.")
    worst = max(r["cycles"] for r in rows)
    passed("3.1", f"every layer needs <= {max_cycles} cycles (slowest: {worst}), "
                  f"{100e6 / worst:,.0f} FPS at 100 MHz.")


def ex_3_2(choose_folding: Any, specialized: Any, target_fps: float = 500_000, budget: float = 0.7) -> None:
    """Exercise 3.2: ``choose_folding(model, target_fps, budget)``: target and budget met, DMA-legal ends."""
    ff = _ff()
    not_done("3.2", choose_folding, "choose_folding")
    folding = _call("3.2", choose_folding, _copy(specialized), target_fps, budget)
    require("3.2", isinstance(folding, dict) and folding,
            "expected a folding dict like {'MVAU_rtl_0': {'SIMD': 16, 'PE': 16}, ...}, "
            f"got {repr(folding)[:80]}.",
            "return a dict from layer name to its PE/SIMD values.")
    trial = _copy(specialized)
    try:
        ff.apply_folding(trial, folding)
    except ff.FoldingError as err:
        fail("3.2", str(err))
    est = ff.estimate_summary(trial)
    require("3.2", est["fps"] >= target_fps, f"estimated {est['fps']:,.0f} FPS < {target_fps:,.0f} "
            f"(slowest layer {est['bottleneck']}: {est['cycles_per_sample']} cycles).",
            f"every layer must need at most {int(100e6 // target_fps)} cycles at 100 MHz.")
    over = ff.over_budget(est["resources"], budget)
    require("3.2", not over, "over budget: " + "; ".join(f"{k} {u:,.0f} > {lim:,.0f}" for k, (u, lim) in
                                                         over.items()) + ".",
            "give each layer the *cheapest* folding that meets the cycle target, not the fastest.")
    for side, stream in ff.io_streams(trial).items():
        require("3.2", stream["dma_ok"],
                f"the {side} stream ({stream['layer']}) is {stream['padded_bits']} bits wide, not a width "
                f"the AXI DMA accepts ({', '.join(map(str, ff.DMA_WIDTHS))}).",
                "first layer: keep foldings with ff.dma_width_ok(inst.get_instream_width_padded()); last "
                "layer: ff.dma_width_ok(inst.get_outstream_width_padded()).")
    util = ", ".join(f"{k} {100 * v:.0f}%" for k, v in est["utilization"].items())
    passed("3.2", f"{est['fps']:,.0f} FPS with {util} (bottleneck {est['bottleneck']}, "
                  f"{est['bottleneck_kind']}).")


# =========================================================================== notebook 04

def ex_4_1(make_steps: Any) -> None:
    """Exercise 4.1: ``make_steps()`` -> the code-generation step list with the kit's custom step."""
    import finn.builder.build_dataflow_config as build_cfg

    not_done("4.1", make_steps, "make_steps")
    default = list(build_cfg.hw_codegen_dataflow_steps)
    steps = _call("4.1", make_steps)
    require("4.1", list(build_cfg.hw_codegen_dataflow_steps) == default,
            "the default step list of FINN was modified.",
            "copy it first: list(build_cfg.hw_codegen_dataflow_steps).")
    require("4.1", isinstance(steps, list), f"expected a list, got {type(steps).__name__}.")
    names = [s if isinstance(s, str) else getattr(s, "__name__", repr(s)) for s in steps]
    require("4.1", "step_drop_output_scale" in names, "the custom step is missing.",
            "insert ff.step_drop_output_scale (the function itself, not a string).")
    i = names.index("step_drop_output_scale")
    require("4.1", callable(steps[i]), "the custom step is a string; FINN only knows its own step names.",
            "insert the function object ff.step_drop_output_scale.")
    require("4.1", i > 0 and names[i - 1] == "step_streamline",
            f"the custom step comes after {names[i - 1] if i else 'nothing'!r}, expected right after "
            "'step_streamline'.", "the Mul only sits at the graph output after streamlining.")
    rest = [n for n in names if n != "step_drop_output_scale"]
    require("4.1", rest == [s for s in default if isinstance(s, str)],
            "the other steps differ from hw_codegen_dataflow_steps.",
            "only insert; keep the others in order.")
    passed("4.1", f"{len(steps)} steps; step_drop_output_scale right after step_streamline, ending with "
                  f"{names[-1]}.")


def ex_4_2(dma_bytes: Any, streams: dict[str, dict[str, Any]]) -> None:
    """Exercise 4.2: ``dma_bytes(streams, batch) -> (mm2s_bytes, s2mm_bytes)`` for one DMA transfer."""
    not_done("4.2", dma_bytes, "dma_bytes")
    for batch in (1, 7, 64):
        out = _call("4.2", dma_bytes, copy.deepcopy(streams), batch)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("4.2", f"expected a pair (mm2s_bytes, s2mm_bytes), got {out!r}.", "return mm2s, s2mm")
        want = (batch * streams["input"]["bytes_per_sample"], batch * streams["output"]["bytes_per_sample"])
        got = tuple(int(v) for v in out)
        require("4.2", got[0] == want[0], f"batch {batch}: MM2S {got[0]} bytes, expected {want[0]}.",
                "words per sample x padded width in bytes x batch (the input stream).")
        require("4.2", got[1] == want[1], f"batch {batch}: S2MM {got[1]} bytes, expected {want[1]}.",
                "the output stream: words per sample x padded width / 8 x batch.")
    n_in, n_out = streams["input"]["bytes_per_sample"], streams["output"]["bytes_per_sample"]
    passed("4.2", f"{n_in} bytes in and {n_out} bytes out per image.")


# =========================================================================== notebook 05

def ex_5_1(predict_interval: Any, folded: Any, measured: Any) -> None:
    """Exercise 5.1: ``predict_interval(model) -> cycles`` from the folding; measured in RTL simulation.

    ``measured``: the ``RunResult`` of the stitched RTL on a batch (its ``interval_cycles``). The
    prediction is also tried on two other foldings of a copy, against FINN's per-layer cycles.
    """
    ff = _ff()
    from qonnx.custom_op.registry import getCustomOp

    not_done("5.1", predict_interval, "predict_interval")
    hint = ("every layer works on its own sample at the same time, so the slowest one sets the pace: "
            "max over layers of (MW/SIMD)*(MH/PE) for an MVAU, NumChannels/PE for Thresholding.")
    trials = [_copy(folded)]
    for simd_pe in ((1, 1), (2, 4)):
        other = _copy(folded)
        for node in ff.foldable_nodes(other):
            inst = getCustomOp(node)
            legal = ff.legal_values(other, node.name)
            for attr, want in zip(("SIMD", "PE"), simd_pe):
                if attr in legal:
                    inst.set_nodeattr(attr, max(v for v in legal[attr] if v <= want))
        trials.append(other)
    for i, model in enumerate(trials):
        got = _call("5.1", predict_interval, _copy(model))
        if got is None or got is Ellipsis or not isinstance(got, (int, float, np.integer, np.floating)):
            fail("5.1", f"predict_interval(model) returned {got!r}, expected a number of cycles.", hint)
        want = max(r["cycles"] for r in ff.layer_estimates(model))
        label = ff.folding.folding_label(ff.get_folding(model))
        what = "the lab's folding" if i == 0 else f"another folding ({label})"
        require("5.1", int(round(float(got))) == want, f"for {what} you predict {got} cycles per image, FINN "
                f"expects {want}.", hint)
    interval = float(getattr(measured, "interval_cycles", float("nan")))
    want = max(r["cycles"] for r in ff.layer_estimates(folded))
    require("5.1", abs(interval - want) <= 10, f"the RTL simulation measured {interval:g} cycles per image, "
            f"your prediction is {want}.", "pass the RunResult of design.run(...) on a batch of images.")
    passed("5.1", f"{want} cycles per image predicted from the folding, {interval:g} measured in RTL: "
                  f"{100e6 / interval:,.0f} images/s at 100 MHz.")
