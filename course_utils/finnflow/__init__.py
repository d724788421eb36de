"""FINN (finn-plus) for the course: runs without Vivado, checkpoints and verifies stages, reads estimates.

``from course_utils import finnflow as ff`` is cheap; names are imported from their module on first use:

* ``env``: ``setup()`` (import shim, ``FINN_BUILD_DIR``/``FINN_SETTINGS`` under ``build/finn``),
  ``status()``, ``vivado_available()``, ``FPGA_PART``;
* ``stages``: ``STAGES``, ``save_stage`` (``build/lab2/NN_<stage>.onnx``), ``lab1_inputs``,
  model checks (``check_qonnx_ops``, ``check_integer_input``, ``check_streamlined``, ``check_hw_conversion``),
  ``output_scale``, ``output_affine`` (per-class scale and bias of a binary network);
* ``checkpoints``: ``load_stage`` (rebuilds missing or stale checkpoints with ``run_flow``);
* ``execution``: ``Golden``, ``StageResult``, ``execute`` (FINN's Python execution), ``stream_inputs``;
* ``verify``: ``verify_stage`` (bit-exact on integer outputs; names the first differing tensor;
  ``level="rtlsim"`` runs the stitched RTL, see ``course_utils.rtl``); the ``execution`` names too;
* ``estimates``: ``layer_table``, ``estimate_summary``, ``fps_latency``, ``read_reports``, ``capacity``,
  ``mvu_dsps`` (DSPs as the RTL MVU instantiates them);
* ``impl``: ``prefer_rtl`` (RTL layers at every bit width FINN supports), ``hls_layers``/``hls_note``
  (which layers stayed HLS and why), ``as_generic`` (HLS layers executed through their generic op);
* ``folding_rules``: ``legal_values``, ``check_folding``, ``apply_folding``, ``get_folding``;
* ``folding``: the rules' names too, ``search_folding``, ``design_space`` (with Yosys counts where cached
  or shipped: ``synthesized_columns``), ``budget_check``;
* ``streams``: ``io_streams``, ``dma_report`` (AXI DMA widths, TLAST);
* ``views``: ``show_source``, ``show_error``, ``graph_table``, ``graph_diff``, ``graph_view`` (Netron);
* ``plots``: ``resources_vs_capacity``, ``design_space``, ``synthesis_vs_estimate``;
* ``transforms``: ``RemoveOutputScale``, ``step_drop_output_scale``, ``minimize_bit_widths``;
* ``builder``: ``kit_build_config`` (FINN's ``DataflowBuildConfig`` with the kit's fields),
  ``builder_session``, ``check_outputs``, ``generated_code``, ``HIDDEN_STEPS``;
* ``flow``: ``run_flow`` (the whole flow headless, for scripts and tests): FINN's step functions and the
  kit's ``step_kit_*`` steps in order (``STEPS``, ``steps_table``; docs/finn_flow.md).

Imports inside the package point one way (docs/ARCHITECTURE.md, "Layers"): ``folding``, ``verify``,
``flow`` and ``checkpoints`` sit above ``course_utils.rtl`` (they use Yosys results and the RTL
simulation); the other modules sit below it.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("setup", "status", "vivado_available", "vivado_placeholder", "FPGA_PART",
                     "DEFAULT_CLOCK_MHZ", "finn_build_dir"), "env"),
    **dict.fromkeys(("FinnFlowError", "UnsupportedModelError", "StageMismatchError", "FoldingError",
                     "BudgetError", "ExecutionError"), "errors"),
    **dict.fromkeys(("load_stage",), "checkpoints"),
    **dict.fromkeys(("STAGES", "stage_path", "save_stage", "lab1_inputs", "lab2_dir",
                     "check_qonnx_ops", "check_integer_input", "check_streamlined", "check_hw_conversion",
                     "output_scale", "output_affine"), "stages"),
    **dict.fromkeys(("prefer_rtl", "hls_layers", "hls_reason", "hls_note", "as_generic"), "impl"),
    **dict.fromkeys(("Golden", "StageResult", "execute", "verify_stage", "first_difference",
                     "prepare_for_python"), "verify"),
    **dict.fromkeys(("layer_estimates", "layer_table", "estimate_summary", "fps_latency", "performance",
                     "read_reports", "capacity", "utilization", "over_budget", "save_estimates", "mvu_dsps"),
                    "estimates"),
    **dict.fromkeys(("divisors", "legal_values", "check_folding", "apply_folding", "get_folding",
                     "search_folding", "design_space", "synthesized_columns", "budget_check", "dma_width_ok",
                     "DMA_WIDTHS", "foldable_nodes", "dma_width_notes", "minimized_copy",
                     "search_best_folding"),
                    "folding"),
    **dict.fromkeys(("io_streams", "dma_report", "check_dma_widths"), "streams"),
    **dict.fromkeys(("show_source", "show_error", "graph_table", "graph_diff", "graph_view"), "views"),
    **dict.fromkeys(("RemoveOutputScale", "step_drop_output_scale", "recorded_output_scale"), "transforms"),
    **dict.fromkeys(("kit_build_config", "KitBuildConfig", "builder_session", "check_outputs",
                     "expected_outputs", "generated_code",
                     "HIDDEN_STEPS", "hidden_steps_table", "folding_config_file", "build_log_errors",
                     "builder_verification"),
                    "builder"),
    **dict.fromkeys(("run_flow", "FlowResult", "load_qonnx", "STEPS", "steps_table", "run_steps"), "flow"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name in ("env", "errors", "stages", "checkpoints", "impl", "execution", "verify", "estimates",
                    "folding_rules", "folding", "streams", "views", "plots", "transforms", "builder", "flow"):
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'course_utils.finnflow' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return __all__
