"""The ``rtlsim`` verification level: the accelerator's RTL against FINN's Python execution.

* stitched: ``finnflow.verify_stage(model, golden, name, level="rtlsim")`` runs the whole design
  (``execute_rtl``); a mismatch names the first layer whose RTL output stream differs from the
  layer's Python output (the stitched design exposes every internal stream to the harness).
* node by node: ``verify_nodes`` drives every layer alone with its Python input and compares its
  output, and measures its cycles per sample against FINN's ``exp_cycles`` (FINN's own RTL tests
  allow +-10 cycles).
* ``cycle_report``: the whole design's measured interval, latency, throughput at the clock and
  largest FIFO occupancy, next to FINN's estimates.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.finnflow.errors import StageMismatchError
from course_utils.rtl.errors import RTLError

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils.rtl.design import Design, RunResult

CYCLE_TOLERANCE = 10
"""Measured vs expected cycles per layer: FINN's RTL tests allow +-10 cycles."""


def _check_design(design: Design, model: ModelWrapper) -> None:
    """Raise RTLError if ``design`` was not built from a model with these layers and this folding."""
    from course_utils.finnflow.folding_rules import get_folding

    folding = get_folding(model)
    built = {n.name: {k: int(n.attrs[k]) for k in ("SIMD", "PE") if k in n.attrs} for n in design.nodes
             if n.layer}
    for name, fold in folding.items():
        have = built.get(name)
        if have is None or have != {k: v for k, v in fold.items() if k in have}:
            raise RTLError(f"the given design was built from another model ({name}: built {have}, "
                           f"model {fold}); build it again with course_utils.rtl.build(model).")


def _python_context(model: ModelWrapper, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of ``model`` (FINN's Python execution) for samples ``x``, stacked on axis 0."""
    from finn.core.onnx_exec import execute_onnx

    from course_utils.finnflow.execution import prepare_for_python

    m = prepare_for_python(model)
    iname = m.graph.input[0].name
    shape = m.get_tensor_shape(iname)
    ctxs = [execute_onnx(m, {iname: xi.reshape(shape).astype(np.float32)}, return_full_exec_context=True)
            for xi in np.asarray(x)]
    return {k: np.concatenate([np.asarray(c[k]).reshape(1, -1) for c in ctxs]) for k in ctxs[0]
            if isinstance(ctxs[0][k], np.ndarray)}


def _layer_tensors(model: ModelWrapper) -> dict[str, tuple[str, str]]:
    return {n.name: (n.input[0], n.output[0]) for n in model.graph.node}


def first_layer_difference(design: Design, model: ModelWrapper, x: np.ndarray, sample: int) -> str:
    """Name the first layer (graph order) whose RTL output stream differs from its Python output.

    Re-runs samples ``0..sample`` with the internal streams recorded and compares, word by word, the
    stream leaving each layer with that layer's Python output tensor for ``sample``.
    """
    from course_utils.board.packing import unpack

    per = max(int(np.prod(n.out_folded[1:-1])) for n in design.nodes)
    run = design.run(x[:sample + 1], capture=per * (sample + 1))
    ctx = _python_context(model, x[sample:sample + 1])
    tensors = _layer_tensors(model)
    for node in (n for n in design.nodes if n.layer):
        tap = next((t for t in design.taps if t["src"] == node.name), None)
        if tap is None or node.name not in tensors:
            continue
        words = int(np.prod(node.out_folded[1:-1]))
        got_words = run.taps[tap["name"]][sample * words:(sample + 1) * words]
        got = unpack(np.ascontiguousarray(got_words), node.out_dtype, node.out_folded[-1]).reshape(-1)
        want = np.rint(ctx[tensors[node.name][1]].reshape(-1)).astype(np.int64)
        if len(got) == len(want) and not np.array_equal(got, want):
            i = int(np.argmax(got != want))
            return (f"layer {node.name} is the first whose RTL output differs from its Python execution: "
                    f"sample {sample}, output value {i} (stream word {i // node.out_folded[-1]}): RTL "
                    f"{int(got[i])} vs "
                    f"Python {int(want[i])}. Its weights/thresholds in the simulation come from "
                    f"{design.hdl}/{node.name}_*.dat; the layers before it match")
    return ("no layer's output stream differs on this sample, only the accelerator's output: check the "
            "output packing (folded output shape and datatype)")


def execute_rtl(model: ModelWrapper, x: np.ndarray, design: Design | None = None,
                quiet: bool = False) -> tuple[np.ndarray, RunResult, Callable[[int], str]]:
    """Run ``x`` through the stitched RTL of ``model``: ``(outputs, RunResult, diagnose(sample))``.

    Without ``design`` it is built first (``rtl.build``; says so when Verilator compiles)."""
    from course_utils.rtl.design import build

    if design is None:
        design = build(model, quiet=quiet)
    elif design.kind != "stitched":
        raise RTLError("the stitched verification needs a stitched design (build(model, kind='stitched')).")
    _check_design(design, model)
    run = design.run(x)
    if not run.tlast_ok:
        raise StageMismatchError("the stitched design's output did not end with exactly one TLAST on its "
                                 "last word: the TLAST packetizer's frame counts do not match the layers' "
                                 "streams.")
    return run.outputs, run, lambda sample: first_layer_difference(design, model, x, sample)


def verify_nodes(model: ModelWrapper, x: np.ndarray, design: Design | None = None,
                 tolerance: int = CYCLE_TOLERANCE, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Every layer's RTL alone against its Python execution on inputs ``x`` (node-by-node ``rtlsim``).

    Returns ``{layer: {exp_cycles, measured_cycles, latency_cycles, samples}}``. Raises
    StageMismatchError naming the layer and its first differing output value, or a layer whose
    measured cycles per sample are more than ``tolerance`` away from FINN's ``exp_cycles``.
    """
    from course_utils.rtl.design import build

    if design is None:
        design = build(model, kind="nodes", quiet=quiet)
    if design.kind != "nodes":
        raise RTLError("node-by-node verification needs build(model, kind='nodes').")
    _check_design(design, model)
    x = np.asarray(x, np.float32)
    ctx = _python_context(model, x)
    tensors = _layer_tensors(model)
    report: dict[str, dict[str, Any]] = {}
    for k, node in enumerate(design.nodes):
        tin, tout = tensors[node.name]
        run = design.run(ctx[tin].reshape(len(x), -1), channel=k)
        want = np.rint(ctx[tout].reshape(len(x), -1)).astype(np.int64)
        if not np.array_equal(run.outputs, want):
            s, i = (int(v) for v in np.argwhere(run.outputs != want)[0])
            bad = int((run.outputs != want).any(axis=1).sum())
            raise StageMismatchError(
                f"rtlsim node by node: layer {node.name}: {bad}/{len(x)} samples differ from its Python "
                f"execution; first at sample {s}, output value {i}: RTL {int(run.outputs[s, i])} vs Python "
                f"{int(want[s, i])}. Its weights/thresholds in the simulation: "
                f"{design.hdl}/{node.name}_*.dat.")
        measured = run.interval_cycles
        report[node.name] = {"exp_cycles": node.exp_cycles, "measured_cycles": measured,
                             "latency_cycles": run.latency_cycles, "samples": len(x)}
        if len(x) > 1 and abs(measured - node.exp_cycles) > tolerance:
            raise StageMismatchError(
                f"rtlsim node by node: layer {node.name} takes {measured:g} cycles per sample in RTL, FINN "
                f"expects {node.exp_cycles} (tolerance +-{tolerance}): the estimate does not describe this "
                "layer's hardware.")
    if not quiet:
        print(f"rtlsim node by node: {len(report)} layers bit-exact with their Python execution on "
              f"{len(x)} samples; cycles within +-{tolerance} of FINN's estimate.")
    return report


def cycle_report(run: RunResult, model: ModelWrapper, clock_mhz: float | None = None) -> dict[str, Any]:
    """Measured (stitched RTL) vs estimated (FINN) interval, latency, throughput, and FIFO occupancy."""
    from course_utils.finnflow.estimates import fps_latency, performance

    perf = performance(model)
    clock = clock_mhz or run.clock_mhz
    est_fps, est_lat_us = fps_latency(int(perf["max_cycles"]), int(perf["critical_path_cycles"]), clock)
    return {
        "measured": run.summary(),
        "estimated": {"interval_cycles": int(perf["max_cycles"]),
                      "latency_cycles": int(perf["critical_path_cycles"]),
                      "fps": est_fps, "latency_us": est_lat_us, "bottleneck": perf["max_cycles_node_name"]},
        "interval_matches_estimate": abs(run.interval_cycles - int(perf["max_cycles"])) <= CYCLE_TOLERANCE,
    }


def deploy_record(run: RunResult, model: ModelWrapper, design: Design) -> dict[str, Any]:
    """What a deploy package records of its RTL verification (``write_deploy_package(rtl_verification=)``).

    Call it with the RunResult of a stitched run whose outputs were checked (``verify_stage``).
    """
    from course_utils.rtl.verilate import verilator_version

    rep = cycle_report(run, model)
    return {"level": "rtlsim", "stitched": design.kind == "stitched", "bit_exact_samples": run.samples,
            "simulator": f"Verilator {verilator_version()}", "design_key": design.key,
            "measured": {k: rep["measured"][k] for k in ("interval_cycles", "latency_cycles", "fps",
                                                         "latency_us", "max_fifo_occupancy", "clock_mhz")},
            "estimated": {k: rep["estimated"][k] for k in ("interval_cycles", "latency_cycles", "fps")}}
