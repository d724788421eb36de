"""Checkpoints of Lab 2 (FINN): one ``ex_N_k`` per exercise of ``solutions/lab2_finn/0N_*.ipynb``.

Each takes the student's function or class and the models it works on, runs it on a *copy* (the
student's objects are never changed), checks the result with the kit's FINN helpers
(``course_utils.finnflow``) and prints a pass line, or raises a ``CheckFailure`` ("Exercise N.k: ...
Hint: ...") naming the mistake when it is a common one (``MISTAKES``).
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from course_utils.checks._common import (
    Catalogue,
    CheckFailure,
    Example,
    call,
    fail,
    not_done,
    passed,
    require,
)

MISTAKES = Catalogue("lab2")
_add = MISTAKES.add
_add("1.1", "signed-input", "the input is declared INT8: bytes 128..255 would arrive as negative numbers",
     "pixels are 0..255, an unsigned type: DataType['UINT8'].")
_add("1.1", "unchanged", "the input datatype was not set",
     "model.set_tensor_datatype(model.graph.input[0].name, DataType['UINT8']), then return the model.")
_add("1.1", "no-return", "the function returns None",
     "end with `return model` (set_tensor_datatype changes the model; return it).")
_add("1.2", "no-unique-names", "GiveUniqueNodeNames is missing (or comes too late)",
     "apply GiveUniqueNodeNames() before GiveReadableTensorNames(): readable names come from node names.")
_add("1.2", "no-readable-names", "GiveReadableTensorNames is missing",
     "apply GiveReadableTensorNames() after GiveUniqueNodeNames().")
_add("1.2", "returns-tuple", "a (model, flag) tuple was returned",
     "model.transform(...) returns the new model; the (model, modified) pair is what apply() returns.")
_add("1.3", "missing-tensors", "some quantized tensors are missing",
     "look at every input and output of every node, not only the weights.")
_add("1.3", "includes-float", "FLOAT32 tensors are listed", "skip tensors whose datatype is FLOAT32.")
_add("2.1", "float-mul-removed",
     "on the tidy (not streamlined) model it removed the last Mul, whose input is a float tensor",
     "check model.get_tensor_datatype(mul.input[0]).is_integer() first.")
_add("2.1", "no-metadata", "the removed scale was not recorded",
     "model.set_metadata_prop('output_scale', repr(scale)): the host multiplies the outputs by it.")
_add("2.2", "all-inputs", "every MatMul input is listed, integer ones too",
     "keep only the inputs whose DataType is not integer: not model.get_tensor_datatype(t).is_integer().")
_add("2.2", "nothing-found", "no float MatMul input was found on the tidy model",
     "before streamlining, each MatMul multiplies a float (scaled) tensor: test each input's DataType.")
_add("3.1", "not-divisor", "a folding factor does not divide its dimension",
     "PE must divide MH (or NumChannels), SIMD must divide MW.")
_add("3.1", "too-slow", "a layer still needs too many cycles",
     "cycles = (MW/SIMD) * (MH/PE) for an MVAU, NumChannels/PE for Thresholding: raise that layer's "
     "SIMD/PE.")
_add("3.2", "over-budget", "the folding is over the resource budget",
     "give each layer the *cheapest* folding that meets the cycle target, not the fastest.")
_add("3.2", "dma-width", "an end of the accelerator has a stream width the AXI DMA does not accept",
     "first layer: keep foldings with ff.dma_width_ok(inst.get_instream_width_padded()); last layer: "
     "ff.dma_width_ok(inst.get_outstream_width_padded()).")
_add("3.2", "too-slow", "the throughput target is not met",
     "every layer must need at most 100e6 // target_fps cycles at 100 MHz.")
_add("4.1", "wrong-position", "the custom step is not right after step_streamline",
     "the Mul only sits at the graph output after streamlining: insert at "
     "steps.index('step_streamline') + 1.")
_add("4.1", "as-string", "the custom step is a string; FINN only knows its own step names",
     "insert the function object ff.step_drop_output_scale.")
_add("4.1", "modified-default", "the default step list of FINN was modified",
     "copy it first: list(build_cfg.hw_codegen_dataflow_steps).")
_add("4.2", "elements", "values counted, not bytes",
     "bytes = words per sample x padded stream width / 8 x batch: a 12-bit output takes 2 bytes.")
_add("4.2", "swapped", "MM2S and S2MM are swapped",
     "MM2S (memory to stream) carries the input images, S2MM (stream to memory) the results.")
_add("4.2", "no-batch", "the batch size is ignored",
     "one transfer carries the whole batch: multiply by batch.")

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
        if ex == "1.1" and value is None:
            MISTAKES.fail(ex, "no-return", f"{what} is missing: your function returned None.")
        fail(ex, f"{what} is missing: your function returned {value!r}.",
             "end your function with `return model` (transformations return a new model).")
    if not hasattr(value, "graph") or not hasattr(value, "get_tensor_datatype"):
        got = type(value).__name__
        if isinstance(value, tuple) and ex == "1.2":
            MISTAKES.fail(ex, "returns-tuple", f"{what} must be a qonnx ModelWrapper, got tuple.")
        hint = ("model.transform(...) returns the new model; return that, not a tuple."
                if isinstance(value, tuple) else "return the qonnx ModelWrapper.")
        fail(ex, f"{what} must be a qonnx ModelWrapper, got {got}.", hint)
    return value


def _call(ex: str, fn: Any, *args: Any) -> Any:
    """``call``, also turning an AssertionError raised inside FINN/qonnx by student code into a failure."""
    try:
        return call(ex, fn, *args)
    except CheckFailure:
        raise
    except AssertionError as err:
        if ex == "1.2" and "empty node name" in str(err):
            MISTAKES.fail(ex, "no-unique-names", f"qonnx raised AssertionError: {err}")
        raise CheckFailure(ex, f"your code raised AssertionError: {err or '(no message)'}",
                           "a FINN/qonnx transformation refused the model: check the order of your steps.") \
            from None


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
        MISTAKES.fail("1.1", "signed-input", example=Example("pixel 200", "200 (UINT8)", "-56 (INT8)"))
    if dt.name == "FLOAT32":
        MISTAKES.fail("1.1", "unchanged", "the graph input is FLOAT32, expected UINT8.")
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
    if out.graph.input[0].name != "global_in" or unreadable:
        MISTAKES.fail("1.2", "no-readable-names", f"tensor names are not readable (e.g. "
                      f"{(unreadable or [out.graph.input[0].name])[0]!r}).")
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
        MISTAKES.fail("1.3", "missing-tensors", f"missing {len(missing)} tensor(s), e.g. {missing[0]!r} "
                      f"({want[missing[0]]}).")
    wrong = sorted(k for k in got if k in want and got[k] != want[k])
    if wrong:
        fail("1.3", f"{wrong[0]!r}: you report {got[wrong[0]]}, the model says {want[wrong[0]]}.",
             "use model.get_tensor_datatype(name).name.")
    floats = sorted(set(got) - set(want))
    if floats:
        MISTAKES.fail("1.3", "includes-float", f"{floats[:2]} are FLOAT32 (or not in the graph) and "
                      "should be left out.")
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
    if recorded is None:
        MISTAKES.fail("2.1", "no-metadata", f"no metadata {SCALE_KEY!r} recorded.")
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
    if len(kept.graph.node) != len(tidied.graph.node):
        MISTAKES.fail("2.1", "float-mul-removed")
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
        if what == "tidy" and want and not got:
            MISTAKES.fail("2.2", "nothing-found", example=Example("the tidy model", str(want), "{}"))
        for k, v in want.items():
            n_inputs = len(model.get_node_from_name(k).input)
            if k in got and sorted(got[k]) != sorted(v) and len(got[k]) == n_inputs:
                MISTAKES.fail("2.2", "all-inputs", example=Example(f"{k} of the {what} model", str(v),
                                                                   str(got[k])))
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
        MISTAKES.fail("3.1", "not-divisor", str(err))
    rows = ff.layer_estimates(out)
    slow = [r for r in rows if r["cycles"] > max_cycles]
    if slow:
        MISTAKES.fail("3.1", "too-slow", f"{slow[0]['layer']} still needs {slow[0]['cycles']} cycles "
                      f"(> {max_cycles}).")
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
        fail("3.2", str(err), "PE must divide MH (or NumChannels), SIMD must divide MW.")
    est = ff.estimate_summary(trial)
    if est["fps"] < target_fps:
        MISTAKES.fail("3.2", "too-slow", f"estimated {est['fps']:,.0f} FPS < {target_fps:,.0f} "
                      f"(slowest layer {est['bottleneck']}: {est['cycles_per_sample']} cycles, at most "
                      f"{int(100e6 // target_fps)} allowed).")
    over = ff.over_budget(est["resources"], budget)
    if over:
        MISTAKES.fail("3.2", "over-budget", "; ".join(f"{k} {u:,.0f} > {lim:,.0f}" for k, (u, lim) in
                                                     over.items()) + ".")
    for side, stream in ff.io_streams(trial).items():
        if not stream["dma_ok"]:
            MISTAKES.fail("3.2", "dma-width", f"the {side} stream ({stream['layer']}) is "
                          f"{stream['padded_bits']} bits wide, not a width the AXI DMA accepts "
                          f"({', '.join(map(str, ff.DMA_WIDTHS))}).")
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
    if list(build_cfg.hw_codegen_dataflow_steps) != default or steps is build_cfg.hw_codegen_dataflow_steps:
        MISTAKES.fail("4.1", "modified-default")
    require("4.1", isinstance(steps, list), f"expected a list, got {type(steps).__name__}.")
    names = [s if isinstance(s, str) else getattr(s, "__name__", repr(s)) for s in steps]
    require("4.1", "step_drop_output_scale" in names, "the custom step is missing.",
            "insert ff.step_drop_output_scale (the function itself, not a string).")
    i = names.index("step_drop_output_scale")
    if not callable(steps[i]):
        MISTAKES.fail("4.1", "as-string")
    if i == 0 or names[i - 1] != "step_streamline":
        MISTAKES.fail("4.1", "wrong-position", f"it comes after {names[i - 1] if i else 'nothing'!r}.")
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
        if got == want:
            continue
        example = Example(f"batch {batch}", f"(MM2S, S2MM) = {want}", str(got))
        if got == want[::-1]:
            MISTAKES.fail("4.2", "swapped", example=example)
        if batch > 1 and got == (want[0] // batch, want[1] // batch):
            MISTAKES.fail("4.2", "no-batch", example=example)
        elems = [batch * int(np.prod(streams[side]["folded_shape"])) for side in ("input", "output")]
        if any(g == e != w for g, e, w in zip(got, elems, want)):
            MISTAKES.fail("4.2", "elements", example=example)
        require("4.2", got[0] == want[0], f"batch {batch}: MM2S {got[0]} bytes, expected {want[0]}.",
                "words per sample x padded width in bytes x batch (the input stream).", example=example)
        require("4.2", got[1] == want[1], f"batch {batch}: S2MM {got[1]} bytes, expected {want[1]}.",
                "the output stream: words per sample x padded width / 8 x batch.", example=example)
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


# =========================================================================== notebook 00 (a layer by hand)

def _hb() -> Any:
    from course_utils import handbuilt

    return handbuilt


def _int_array(ex: str, value: Any, shape: tuple[int, ...], what: str, hint: str) -> np.ndarray:
    """``value`` as an integer array of ``shape``, else a failure naming what came back."""
    if value is None or value is Ellipsis:
        fail(ex, f"{what} is missing: your function returned {value!r}.", hint)
    arr = np.asarray(value)
    require(ex, arr.shape == shape, f"{what} has shape {arr.shape}, expected {shape}.", hint)
    require(ex, arr.dtype.kind in "iu", f"{what} has dtype {arr.dtype}, expected integers (no floats: "
            "the hardware has none).", "keep everything in np.int64: `x.astype(np.int64) @ W`.")
    return arr.astype(np.int64)


def ex_0_1(accumulator_bits: Any, mlp: Any) -> None:
    """Exercise 0.1: ``accumulator_bits(W, in_min, in_max) -> bits`` of a signed accumulator."""
    hb = _hb()
    not_done("0.1", accumulator_bits, "accumulator_bits")
    hint = ("the largest sum takes in_max where the weight is positive and in_min where it is negative "
            "(and the reverse for the smallest); then the fewest two's-complement bits holding both.")
    cases = [(np.array([[1], [1]]), 0, 1, "two weights +1, inputs 0..1 (sum 0..2)"),
             (np.array([[-1], [-1]]), 0, 1, "two weights -1, inputs 0..1 (sum -2..0)"),
             (np.array([[7, -8]]), 0, 255, "one input 0..255, weights 7 and -8"),
             (mlp.W[1], 0, 15, "layer 2 (4-bit activations)"),
             (mlp.W[0], 0, 255, "layer 1 (8-bit pixels)")]
    for W, lo, hi, what in cases:
        got = call("0.1", accumulator_bits, np.array(W, copy=True), lo, hi)
        want = hb.signed_bits(*hb.accumulator_range(W, lo, hi))
        if not isinstance(got, (int, np.integer)):
            fail("0.1", f"{what}: expected an int number of bits, got {got!r}.", hint)
        require("0.1", int(got) == want, f"{what}: you say {got} bits, the range "
                f"{hb.accumulator_range(W, lo, hi)} needs {want}.", hint)
    lo, hi = hb.accumulator_range(mlp.W[0], 0, 255)
    passed("0.1", f"layer 1's sums reach {lo:,}..{hi:,}: a {want}-bit accumulator.")


def ex_0_2(integer_forward: Any, mlp: Any) -> None:
    """Exercise 0.2: ``integer_forward(x, W, T) -> y_int``, bit-exact with the exported model."""
    hb = _hb()
    not_done("0.2", integer_forward, "integer_forward")
    hint = ("h = x as int64; for each layer acc = h @ W[i]; then h = number of thresholds T[i][c] that "
            "acc[:, c] reaches (acc >= T); the last layer has no thresholds: return its acc.")
    x = np.array(mlp.x, copy=True)
    got = _int_array("0.2", call("0.2", integer_forward, x, [w.copy() for w in mlp.W],
                                 [t.copy() for t in mlp.T]), mlp.y_int.shape, "integer_forward(x, W, T)",
                   hint)
    bad = np.flatnonzero((got != mlp.y_int).any(1))
    if len(bad):
        i = int(bad[0])
        j = int(np.flatnonzero(got[i] != mlp.y_int[i])[0])
        fail("0.2", f"{len(bad)} of {len(x)} golden images differ from the exported model; first: image {i}, "
             f"output {j}: you computed {got[i, j]}, the model gives {mlp.y_int[i, j]}.", hint)
    pred, ties = hb.argmax_first(got)
    tie_note = f"{int(ties.sum())} exact ties (first maximum wins)" if ties.any() else "no exact ties"
    passed("0.2", f"all {len(x)} golden images bit-exact with the exported model's integer outputs; "
                  f"{tie_note}.")


def ex_0_3(requant_shift: Any) -> None:
    """Exercise 0.3: ``requant_shift(acc, M, B, shift, levels)``: multiply, add, floor-shift, clip.

    Compared with outputs precomputed from the solution (``_expected_lab2``): the kit has no reference."""
    from course_utils.checks import _expected_lab2

    not_done("0.3", requant_shift, "requant_shift")
    hint = ("(acc * M + B) >> shift, then np.clip(..., 0, levels). `>>` on int64 rounds towards minus "
            "infinity like the hardware; `/` gives floats and int() truncates towards zero.")
    e = _expected_lab2.load()
    M, B = e["M"], e["B"]
    for i in range(len(_expected_lab2.CASES)):
        acc, want = e[f"acc{i}"], e[f"want{i}"]
        shift, levels = int(e[f"shift{i}"]), int(e[f"levels{i}"])
        got = _int_array("0.3", call("0.3", requant_shift, acc.copy(), M.copy(), B.copy(), shift, levels),
                         want.shape, "requant_shift(...)", hint)
        bad = np.argwhere(got != want)
        if len(bad):
            r, c = (int(v) for v in bad[0])
            fail("0.3", f"shift {shift}, levels {levels}: acc {acc[r, c]}, M {M[c]}, B {B[c]} gives "
                 f"{want[r, c]}, you computed {got[r, c]}.", hint)
    passed("0.3", "multiply, add, truncate the low bits, clip: the same as the hardware on 256 values.")


def ex_0_4(unit_cycles: Any, measured: dict[int, int], K: int, N: int) -> None:
    """Exercise 0.4: ``unit_cycles(K, N, simd) -> cycles`` of the hand-built unit, vs ``measured`` by SIMD."""
    not_done("0.4", unit_cycles, "unit_cycles")
    hint = ("one input word of SIMD values per cycle, K/SIMD words per neuron, N neurons one after "
            "the other (the input is buffered, then replayed).")
    require("0.4", bool(measured), "no measured cycles given.", "pass the dict {simd: cycles} of the sweep.")
    for simd, cycles in sorted(measured.items()):
        got = call("0.4", unit_cycles, K, N, simd)
        if not isinstance(got, (int, np.integer)):
            fail("0.4", f"unit_cycles({K}, {N}, {simd}) returned {got!r}, expected an int.", hint)
        require("0.4", int(got) == int(cycles), f"SIMD {simd}: you predict {got} cycles, the simulation "
                f"measured {cycles}.", hint)
    simd = max(measured)
    passed("0.4", f"{K} inputs x {N} neurons: {measured[min(measured)]} cycles at SIMD {min(measured)}, "
                  f"{measured[simd]} at SIMD {simd}.")


# =========================================================================== notebook 06 (synthesis)

_add("6.1", "estimates", "the budget was checked with FINN's estimates, not the synthesized counts",
     "use the 'LUT syn', 'FF syn', 'BRAM_18K syn', 'DSP syn' columns (Yosys), not the ' est' ones.")
_add("6.1", "total-row", "the 'total' row was counted as a layer",
     "table.drop('total') first: the total row is the sum of the layers, so it is always the largest "
     "and summing it doubles every figure.")
_add("6.1", "percent", "a percentage was compared with a fraction",
     "budget is a fraction (0.7): compare used / capacity with budget, or the '%' columns with "
     "100 * budget.")
_add("6.1", "smallest", "the layer named is not the one that uses the most of the resource",
     "name the layer with the largest synthesized count of that resource (idxmax), not the first "
     "or the smallest.")

_EX61_RESOURCES = ("LUT", "FF", "BRAM_18K", "DSP")


def ex61_table() -> Any:
    """The checkpoint's own comparison table (``synth.comparison_table``): four layers, FINN's estimates and
    Yosys counts as they look for the 1 M images/s designs (a width converter with far more LUTs than
    estimated)."""
    from course_utils.rtl.synth import SynthResult, comparison_table

    def res(name: str, lut: int, ff: int, bram: int, dsp: int) -> SynthResult:
        counts = {"LUT": lut, "FF": ff, "LUTRAM": 0, "SRL": 0, "BRAM18": bram, "BRAM36": 0, "DSP": dsp,
                  "CARRY4": 0, "MUXF": 0}
        return SynthResult(name, counts, 1.0, True, "checkpoint", "")

    est = {"MVAU_rtl_0": {"LUT": 0.0, "BRAM_18K": 29.0, "DSP": 128.0, "DSP_finn": 64.0},
           "StreamingDataWidthConverter_rtl_0": {"LUT": 26.0, "BRAM_18K": 0.0, "DSP": 0.0, "DSP_finn": 0.0},
           "Thresholding_rtl_0": {"LUT": 4096.0, "BRAM_18K": 0.0, "DSP": 0.0, "DSP_finn": 0.0},
           "MVAU_rtl_1": {"LUT": 0.0, "BRAM_18K": 8.0, "DSP": 16.0, "DSP_finn": 16.0}}
    syn = {"MVAU_rtl_0": res("MVAU_rtl_0", 16_000, 30_000, 29, 128),
           "StreamingDataWidthConverter_rtl_0": res("StreamingDataWidthConverter_rtl_0", 19_000, 1_500, 0, 0),
           "Thresholding_rtl_0": res("Thresholding_rtl_0", 600, 700, 0, 0),
           "MVAU_rtl_1": res("MVAU_rtl_1", 2_400, 5_000, 8, 16)}
    return comparison_table(est, syn)


def _ex61_answer(table: Any, cap: dict[str, float], budget: float, *, column: str = "syn",
                 drop_total: bool = True, scale: float = 1.0) -> dict[str, str]:
    """The right answer, or what a named mistake gives (the keyword arguments)."""
    layers = table.drop("total") if drop_total else table
    out = {}
    for k in _EX61_RESOURCES:
        col = f"{k} {column}"
        if col not in layers:
            continue
        used = layers[col].fillna(0).sum()
        if used * scale > budget * cap[k]:
            out[k] = str(layers[col].idxmax())
    return out


def ex_6_1(budget_breakers: Any, table: Any | None = None, capacity: dict[str, float] | None = None) -> None:
    """Exercise 6.1: ``budget_breakers(table, capacity, budget) -> {resource: layer}``, synthesized counts.

    Tried on the checkpoint's table (``ex61_table``) with budgets 0.7 and 0.6, and on ``table`` (the
    student's own synthesis) when given, against the same computation done right.
    """
    ff = _ff()
    not_done("6.1", budget_breakers, "budget_breakers")
    cap = dict(capacity or ff.capacity(ff.FPGA_PART))
    hint = ("for each of LUT, FF, BRAM_18K, DSP: total = table.drop('total')[f'{k} syn'].sum(); if total > "
            "budget * capacity[k], name table.drop('total')[f'{k} syn'].idxmax().")
    cases = [(ex61_table(), 0.6, "the checkpoint's table"), (ex61_table(), 0.7, "the checkpoint's table")]
    if table is not None:
        cases.append((table, 0.7, "your synthesis table"))
    for tbl, budget, what in cases:
        got = _call("6.1", budget_breakers, tbl.copy(), dict(cap), budget)
        require("6.1", isinstance(got, dict), f"expected a dict like {{'LUT': 'MVAU_rtl_0'}}, got "
                f"{type(got).__name__} {repr(got)[:60]}.", hint)
        got = {str(k): str(v) for k, v in got.items()}
        want = _ex61_answer(tbl, cap, budget)
        if got == want:
            continue
        example = Example(f"{what}, budget {budget}", repr(want), repr(got))
        if "total" in got.values() or got == _ex61_answer(tbl, cap, budget, drop_total=False):
            MISTAKES.fail("6.1", "total-row", example=example)
        if got == _ex61_answer(tbl, cap, budget, column="est"):
            MISTAKES.fail("6.1", "estimates", example=example)
        pct = _ex61_answer(tbl, cap, budget, scale=1e6)  # 72 (%) > 0.7: every resource used is "over"
        if got == pct or got == _ex61_answer(tbl, cap, budget, scale=1e-2):
            MISTAKES.fail("6.1", "percent", example=example)
        if set(got) == set(want):
            MISTAKES.fail("6.1", "smallest", example=example)
        fail("6.1", f"on {what} with budget {budget}: expected {want}, got {got}.", hint, example=example)
    over = _ex61_answer(cases[-1][0], cap, cases[-1][1])
    passed("6.1", (f"on {cases[-1][2]}: " if table is not None else "")
           + (", ".join(f"{k} over budget, most in {n}" for k, n in over.items()) or "within the 70% budget")
           + ".")
