"""Grader-side judges: exercises with more than one right answer, decided outside the student's kernel.

A probe normally reports a value that must equal the solution's. When many answers are right (a
folding that meets a cycle target), grading.toml names a judge instead (``judge = "lab2_fold_by_hand"``):
the probe reports the student's *raw answer* (here: the PE/SIMD values chosen), and the judge, running
in the grader's own process with the kit's trusted code, checks it. A judge returns None when the answer
is right, else the reason shown to the student. Nothing the kernel reports but the raw answer is used.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_STAGES: dict[str, Any] = {}


def _folding(value: Any) -> dict[str, dict[str, int]] | str:
    if not isinstance(value, dict) or not value:
        return f"expected a folding {{layer: {{'SIMD': s, 'PE': p}}}}, got {str(value)[:80]}"
    out: dict[str, dict[str, int]] = {}
    for layer, attrs in value.items():
        if not isinstance(attrs, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in attrs.values()):
            return f"{layer}: expected integer SIMD/PE values, got {str(attrs)[:80]}"
        out[str(layer)] = {str(k): int(v) for k, v in attrs.items()}
    return out


def _stage(name: str) -> Any:
    """A copy of a FINN stage of the kit (loaded, or rebuilt by the kit's flow, once per grader process)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import finnflow as ff
    with _LOCK:
        if name not in _STAGES:
            _STAGES[name] = ff.load_stage(name)
        return ModelWrapper(copy.deepcopy(_STAGES[name].model))


def _folded_model(value: Any) -> Any:
    """The specialized stage folded as ``value`` says, or a message saying why it cannot be."""
    from course_utils import finnflow as ff
    folding = _folding(value)
    if isinstance(folding, str):
        return folding
    try:
        return _folded_stage(folding)
    except (ff.FoldingError, KeyError, ValueError) as err:
        return f"the folding is not legal: {err}"


def _folded_stage(folding: dict[str, dict[str, int]]) -> Any:
    from course_utils import finnflow as ff
    model = _stage("07_specialized")
    ff.apply_folding(model, folding)
    ff.check_folding(model)
    return model


def lab2_fold_by_hand(value: Any, expected: Any, max_cycles: int | None = None) -> str | None:
    """Exercise 2.3.1: every layer of the folded model needs at most ``max_cycles`` cycles (default: the
    model's number of inputs, one pixel per cycle, as ``checks.lab2.fold_target``)."""
    from course_utils import finnflow as ff
    from course_utils.checks.lab2 import fold_target
    model = _folded_model(value)
    if isinstance(model, str):
        return model
    if max_cycles is None:
        max_cycles = fold_target(model)
    slow = [r for r in ff.layer_estimates(model) if r["cycles"] > max_cycles]
    if slow:
        return f"{slow[0]['layer']} still needs {slow[0]['cycles']} cycles (> {max_cycles})"
    return None


def lab2_choose_folding(value: Any, expected: Any, target_fps: float | None = None,
                        budget: float = 0.7) -> str | None:
    """Exercise 2.3.2: the folding meets the FPS target (default: ``checks.lab2.fps_target`` of the
    stage, 500,000 for the course's network), stays within budget, and both ends suit the DMA."""
    from course_utils import finnflow as ff
    from course_utils.checks.lab2 import fps_target
    if target_fps is None:
        target_fps = fps_target(_stage("07_specialized"), budget)
    model = _folded_model(value)
    if isinstance(model, str):
        return model
    est = ff.estimate_summary(model)
    if est["fps"] < target_fps:
        return f"estimated {est['fps']:,.0f} FPS < {target_fps:,.0f} (slowest layer {est['bottleneck']})"
    over = ff.over_budget(est["resources"], budget)
    if over:
        return "over budget: " + "; ".join(f"{k} {u:,.0f} > {lim:,.0f}" for k, (u, lim) in over.items())
    for side, stream in ff.io_streams(model).items():
        if not stream["dma_ok"]:
            return f"the {side} stream is {stream['padded_bits']} bits wide, not a width the AXI DMA accepts"
    return None


JUDGES: dict[str, Callable[..., str | None]] = {
    "lab2_fold_by_hand": lab2_fold_by_hand,
    "lab2_choose_folding": lab2_choose_folding,
}
