"""Lecture helpers that belong to no pipeline stage: the maths and pictures behind the labs.

One module per topic; every name is also here, so ``from course_utils import concepts`` then
``concepts.fold_network(...)`` works as the lectures use it:

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

from course_utils.concepts.axis import AxisTrace, axis_violations, plot_axis_handshake, simulate_axis
from course_utils.concepts.fewbits import (
    BRAM18_BITS,
    XC7Z020,
    bram18_needed,
    memory_bits,
    partial_products,
    xnor_popcount_dot,
)
from course_utils.concepts.folding import (
    FoldError,
    Layer,
    Performance,
    divisors,
    fold_layer,
    fold_network,
    folded_matvec,
    folding_sweep,
    mlp_shapes,
    network_performance,
    plot_fold_schedule,
    plot_throughput_vs_parallelism,
)
from course_utils.concepts.streamline import (
    describe_nodes,
    execute,
    prepare_finn,
    streamline_demo,
    toy_streamline_model,
)
from course_utils.concepts.zynq import (
    TOOLFLOW,
    dma_max_batch,
    pipelined_loop_cycles,
    plot_toolflow,
    plot_zynq_overview,
)

__all__ = ["BRAM18_BITS", "TOOLFLOW", "XC7Z020", "AxisTrace", "FoldError", "Layer", "Performance",
           "axis_violations", "bram18_needed", "describe_nodes", "divisors", "dma_max_batch", "execute",
           "fold_layer", "fold_network", "folded_matvec", "folding_sweep", "memory_bits", "mlp_shapes",
           "network_performance", "partial_products", "pipelined_loop_cycles", "plot_axis_handshake",
           "plot_fold_schedule", "plot_throughput_vs_parallelism", "plot_toolflow", "plot_zynq_overview",
           "prepare_finn", "simulate_axis", "streamline_demo", "toy_streamline_model", "xnor_popcount_dot"]
