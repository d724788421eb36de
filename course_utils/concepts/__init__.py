"""Lecture helpers that belong to no pipeline stage: the maths and pictures behind the labs.

One module per topic; every name is also here (loaded on first use), so ``from course_utils import
concepts`` then ``concepts.fold_network(...)`` works as the lectures use it:

* ``folding``: MAC and folding: ``Layer`` (an MVAU with SIMD/PE), ``folded_matvec`` (the folded loop
  nest, executed), ``fold_network`` / ``folding_sweep`` (cycles, FPS, latency), plots of the schedule
  and of throughput against parallelism.
* ``fewbits``: why few bits: ``memory_bits``, ``bram18_needed``, ``partial_products``, ``xnor_popcount_dot``.
* ``zynq``: the flow, HLS and the Zynq: ``plot_toolflow``, ``pipelined_loop_cycles``, ``dma_max_batch``,
  ``plot_zynq_overview``.
* ``axis``: AXI-Stream: ``simulate_axis`` (cycle-accurate valid/ready handshake), ``axis_violations``,
  ``plot_axis_handshake`` (timing diagram).
* ``streamline``: ``prepare_finn``, ``toy_streamline_model`` and ``streamline_demo`` (FINN's
  ``Streamline`` on a four-node graph, before/after, outputs compared).

Host package: numpy (and the kit's board table) at import; matplotlib, onnx, qonnx and FINN are
imported inside the functions.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "axis": ("AxisTrace", "axis_violations", "plot_axis_handshake", "simulate_axis"),
    "fewbits": ("BRAM18_BITS", "XC7Z020", "bram18_needed", "memory_bits", "partial_products",
                "xnor_popcount_dot"),
    "folding": ("FoldError", "Layer", "Performance", "divisors", "fold_layer", "fold_network",
                "folded_matvec", "folding_sweep", "mlp_shapes", "network_performance", "plot_fold_schedule",
                "plot_throughput_vs_parallelism"),
    "streamline": ("describe_nodes", "execute", "prepare_finn", "streamline_demo", "toy_streamline_model"),
    "zynq": ("TOOLFLOW", "dma_max_batch", "pipelined_loop_cycles", "plot_toolflow", "plot_zynq_overview"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    """``concepts.fold_network`` and friends, loaded from their topic's module on first use (a lazy
    facade: importing one topic module does not import the others)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'course_utils.concepts' has no attribute {name!r}")
    return getattr(importlib.import_module(f"course_utils.concepts.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
