"""The accelerator's real RTL, simulated with Verilator (no Vivado): stitch, compile (cached), run.

``from course_utils import rtl``; ``design = rtl.build(folded_model)``; ``result = design.run(x)``.

* ``design``: ``build`` (stitched or node-by-node), ``load``, ``Design``, ``RunResult``;
* ``stitch``: FINN's own InsertDWC / InsertFIFO / SpecializeLayers / PrepareIP, ``check_all_rtl``;
* ``patches``: the named source fixes FINN's RTL needs for Verilator (applied to copies);
* ``top``: the generated top-level module (graph order + TLAST packetizer) and C++ harness;
* ``verilate``: Verilator compile, cached by a content hash;
* ``verify``: the ``rtlsim`` verification level (node by node and stitched) and cycle checks.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("build", "load", "Design", "RunResult", "default_folder", "TRACE"), "design"),
    **dict.fromkeys(("stitch_model", "check_all_rtl", "NodeInfo"), "stitch"),
    **dict.fromkeys(("RTLError", "HLSLayerError", "VerilatorError", "StallError",
                     "AssertionFailedError"), "errors"),
    **dict.fromkeys(("PATCHES", "apply_patches"), "patches"),
    **dict.fromkeys(("verilator_version", "compile_design"), "verilate"),
    **dict.fromkeys(("execute_rtl", "verify_nodes", "cycle_report", "first_layer_difference",
                     "deploy_record",                      "CYCLE_TOLERANCE"), "verify"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'course_utils.rtl' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return __all__
