"""Lecture helpers that belong to no pipeline stage: the maths and pictures behind the labs.

* MAC and folding: ``Layer`` (an MVAU with SIMD/PE), ``folded_matvec`` (the folded loop nest,
  executed), ``fold_network`` / ``folding_sweep`` (cycles, FPS, latency), plots of the schedule
  and of throughput against parallelism.
* Why few bits: ``memory_bits``, ``partial_products``, ``xnor_popcount_dot``.
* The flow, HLS and the Zynq: ``plot_toolflow``, ``pipelined_loop_cycles``, ``dma_max_batch``,
  ``plot_zynq_overview``.
* AXI-Stream: ``simulate_axis`` (cycle-accurate valid/ready handshake), ``axis_violations``,
  ``plot_axis_handshake`` (timing diagram).
* Streamlining: ``prepare_finn``, ``toy_streamline_model`` and ``streamline_demo`` (FINN's
  ``Streamline`` on a four-node graph, before/after, outputs compared).

Host module: numpy (and the kit's board table) at import; matplotlib, onnx, qonnx and FINN are
imported inside the functions.
"""
from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from course_utils.hw import boards as _boards
from course_utils.numeric import divisors

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from qonnx.core.modelwrapper import ModelWrapper

XC7Z020: dict[str, int] = _boards.XC7Z020.as_dict()
"""Programmable-logic capacity of the xc7z020 (AMD DS190), from ``course_utils.hw.boards``."""
BRAM18_BITS = 18 * 1024


class FoldError(ValueError):
    """A folding (SIMD/PE) that FINN would reject; the message says which value and what to use."""


# ---------------------------------------------------------------------------------------------
# MAC, folding, cycles
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layer:
    """A matrix-vector layer as FINN folds it (an MVAU): ``MW`` inputs, ``MH`` outputs.

    ``SIMD`` input columns and ``PE`` output rows are processed per clock cycle, so one input
    vector takes ``(MW/SIMD) * (MH/PE)`` cycles. ``vectors`` is the number of input vectors per
    sample (1 for a fully connected layer, output pixels for a convolution).
    """

    name: str
    mw: int
    mh: int
    simd: int = 1
    pe: int = 1
    vectors: int = 1

    def __post_init__(self) -> None:
        for attr in ("mw", "mh", "simd", "pe", "vectors"):
            value = getattr(self, attr)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise FoldError(f"{self.name}: {attr.upper()} must be a positive integer, got {value!r}")
        if self.mw % self.simd:
            raise FoldError(f"{self.name}: SIMD={self.simd} does not divide MW={self.mw}; "
                            f"use one of {divisors(self.mw)}")
        if self.mh % self.pe:
            raise FoldError(f"{self.name}: PE={self.pe} does not divide MH={self.mh}; "
                            f"use one of {divisors(self.mh)}")

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        return self.mw * self.mh * self.vectors

    @property
    def units(self) -> int:
        """Parallel MAC units instantiated (``SIMD * PE``)."""
        return self.simd * self.pe

    @property
    def cycles(self) -> int:
        """Clock cycles per sample: ``(MW/SIMD) * (MH/PE) * vectors``."""
        return (self.mw // self.simd) * (self.mh // self.pe) * self.vectors


@dataclass(frozen=True)
class Performance:
    """Throughput and latency of a pipeline of layers at a clock frequency."""

    cycles_per_sample: int
    latency_cycles: int
    clock_mhz: float
    bottleneck: str
    units: int

    @property
    def fps(self) -> float:
        """Samples per second: the slowest layer sets the pace of the whole pipeline."""
        return self.clock_mhz * 1e6 / self.cycles_per_sample

    @property
    def latency_us(self) -> float:
        """Time for one sample through every layer, in microseconds."""
        return self.latency_cycles / self.clock_mhz


def network_performance(layers: Sequence[Layer], clock_mhz: float = 100.0) -> Performance:
    """FPS and latency of a dataflow pipeline (one hardware block per layer, all working at once)."""
    if not layers:
        raise ValueError("network_performance() needs at least one Layer")
    if clock_mhz <= 0:
        raise ValueError(f"clock_mhz must be positive, got {clock_mhz}")
    slowest = max(layers, key=lambda layer: layer.cycles)
    return Performance(cycles_per_sample=slowest.cycles,
                       latency_cycles=sum(layer.cycles for layer in layers),
                       clock_mhz=float(clock_mhz), bottleneck=slowest.name,
                       units=sum(layer.units for layer in layers))


def mlp_shapes(in_features: int = 784, hidden: Sequence[int] = (64, 64),
               classes: int = 10) -> list[tuple[int, int]]:
    """``(MW, MH)`` of each fully connected layer of an MLP (the course MLP by default)."""
    sizes = [in_features, *hidden, classes]
    return list(zip(sizes[:-1], sizes[1:]))


def fold_layer(mw: int, mh: int, target_cycles: int, vectors: int = 1, name: str = "layer") -> Layer:
    """The cheapest legal folding (fewest ``SIMD*PE``) that takes at most ``target_cycles`` per sample.

    Ties go to the larger SIMD, as FINN's ``SetFolding`` raises SIMD before PE.
    """
    if target_cycles < vectors:
        raise FoldError(f"{name}: {target_cycles} cycles is below the minimum of {vectors} "
                        f"(one cycle per input vector with SIMD=MW={mw}, PE=MH={mh}); raise the target")
    best: Layer | None = None
    for simd, pe in itertools.product(divisors(mw), divisors(mh)):
        cand = Layer(name, mw, mh, simd, pe, vectors)
        if cand.cycles <= target_cycles and (
                best is None or (cand.units, -cand.simd) < (best.units, -best.simd)):
            best = cand
    assert best is not None  # SIMD=MW, PE=MH always meets a target >= vectors
    return best


def fold_network(shapes: Sequence[tuple[int, int]], target_cycles: int) -> list[Layer]:
    """Fold every ``(MW, MH)`` layer just enough to reach ``target_cycles`` per sample."""
    return [fold_layer(mw, mh, target_cycles, name=f"MVAU_{i}") for i, (mw, mh) in enumerate(shapes)]


def folding_sweep(shapes: Sequence[tuple[int, int]], clock_mhz: float = 100.0,
                  targets: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """One row per target cycle count: folding per layer, MAC units, cycles, FPS, latency.

    Without ``targets``: every cycle count a fully folded layer can reach, from the fully
    sequential design (one MAC unit per layer) to the fully parallel one (1 cycle per sample).
    """
    if targets is None:
        slowest = max(mw * mh for mw, mh in shapes)
        targets = sorted({d for mw, mh in shapes for d in divisors(mw * mh)} | {slowest}, reverse=True)
    rows, seen = [], set()
    for target in targets:
        layers = fold_network(shapes, int(target))
        perf = network_performance(layers, clock_mhz)
        key = tuple((layer.simd, layer.pe) for layer in layers)
        if key in seen:
            continue
        seen.add(key)
        rows.append({"target_cycles": int(target), "folding": key, "units": perf.units,
                     "cycles": perf.cycles_per_sample, "fps": perf.fps, "latency_us": perf.latency_us,
                     "bottleneck": perf.bottleneck})
    return rows


def folded_matvec(w: np.ndarray, x: np.ndarray, simd: int, pe: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Run ``w @ x`` as an MVAU does: each cycle, PE rows times SIMD columns of multiply-accumulates.

    Returns ``(y, cycles, schedule)``; ``schedule[r, c]`` is the cycle in which weight ``w[r, c]``
    is used (outer loop over neuron folds, inner loop over synapse folds, as in FINN).
    """
    w, x = np.asarray(w), np.asarray(x)
    if w.ndim != 2 or x.shape != (w.shape[1],):
        raise ValueError(f"folded_matvec needs w (MH, MW) and x (MW,), got shapes {w.shape} and {x.shape}")
    mh, mw = w.shape
    Layer("folded_matvec", mw, mh, simd, pe)  # validates the folding
    acc = np.zeros(mh, dtype=np.result_type(w, x, np.int64) if w.dtype.kind in "iub" else np.float64)
    schedule = np.full((mh, mw), -1, dtype=np.int64)
    cycle = 0
    for nf in range(mh // pe):
        rows = np.arange(nf * pe, (nf + 1) * pe)
        for sf in range(mw // simd):
            cols = np.arange(sf * simd, (sf + 1) * simd)
            acc[rows] += w[np.ix_(rows, cols)] @ x[cols]   # PE x SIMD MACs in this cycle
            schedule[np.ix_(rows, cols)] = cycle
            cycle += 1
    return acc, cycle, schedule


def pipelined_loop_cycles(trips: int, ii: int = 1, depth: int = 1, unroll: int = 1) -> int:
    """Cycles of an HLS loop: ``ceil(trips/unroll) - 1`` starts ``ii`` apart, plus the pipeline ``depth``."""
    if min(trips, ii, depth, unroll) < 1:
        raise ValueError("trips, ii, depth and unroll must all be >= 1")
    return (math.ceil(trips / unroll) - 1) * ii + depth


# ---------------------------------------------------------------------------------------------
# Why FPGAs like few bits
# ---------------------------------------------------------------------------------------------
def memory_bits(shapes: Sequence[tuple[int, int]], bits: int) -> int:
    """Bits needed to store every weight of the layers at ``bits`` per weight."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return sum(mw * mh for mw, mh in shapes) * bits


def bram18_needed(n_bits: int) -> int:
    """Lower bound on 18 Kbit block RAMs to hold ``n_bits`` (perfect packing, no width limits)."""
    return math.ceil(n_bits / BRAM18_BITS)


def partial_products(bits: int) -> int:
    """Partial-product bits of an ``bits x bits`` array multiplier (AND gates): grows as ``bits**2``."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return bits * bits


def xnor_popcount_dot(a: np.ndarray, b: np.ndarray) -> int:
    """Dot product of two +-1 vectors computed the binary way: ``2 * popcount(XNOR) - n``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"xnor_popcount_dot needs two 1-D vectors of equal length, got {a.shape}, {b.shape}")
    if not (np.isin(a, (-1, 1)).all() and np.isin(b, (-1, 1)).all()):
        raise ValueError("xnor_popcount_dot needs bipolar vectors (values -1 and +1 only)")
    a_bits, b_bits = a > 0, b > 0                    # encode +1 as 1, -1 as 0
    matches = int(np.count_nonzero(~(a_bits ^ b_bits)))   # XNOR, then popcount
    return 2 * matches - a.size


def dma_max_batch(bytes_per_sample: int, length_bits: int = 26) -> int:
    """Samples one AXI DMA transfer can carry: its length register holds at most ``2**bits - 1`` bytes."""
    if bytes_per_sample < 1 or not 8 <= length_bits <= 26:
        raise ValueError("bytes_per_sample must be >= 1 and length_bits 8..26 (AXI DMA 'Width of Buffer "
                         "Length Register', PG021)")
    return (2 ** length_bits - 1) // bytes_per_sample


# ---------------------------------------------------------------------------------------------
# Figures shared by both lectures
# ---------------------------------------------------------------------------------------------
def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    import matplotlib.pyplot as plt

    if ax is None:  # a new figure, detached from pyplot so a notebook shows it once (as the cell result)
        fig, ax = plt.subplots(figsize=figsize)
        plt.close(fig)
        return fig, ax
    return cast("Figure", ax.figure), ax


def plot_fold_schedule(mh: int, mw: int, simd: int, pe: int, ax: Axes | None = None) -> Figure:
    """Colour each weight of an ``MH x MW`` matrix by the cycle in which a folded MVAU uses it."""
    w = np.ones((mh, mw), dtype=np.int64)
    _, cycles, schedule = folded_matvec(w, np.ones(mw, dtype=np.int64), simd, pe)
    fig, ax = _axes(ax, (4.5, 3.2))
    im = ax.imshow(schedule, cmap="viridis", aspect="auto")
    ax.set_title(f"SIMD={simd}, PE={pe}: {cycles} cycle{'' if cycles == 1 else 's'}", fontsize=10)
    ax.set_xlabel("input (column)")
    ax.set_ylabel("output neuron (row)")
    fig.colorbar(im, ax=ax, label="cycle")
    fig.tight_layout()
    return fig


def plot_throughput_vs_parallelism(shapes: Sequence[tuple[int, int]], clock_mhz: float = 100.0,
                                   ax: Axes | None = None, input_bytes_per_cycle: float | None = None,
                                   input_bytes: int | None = None) -> Figure:
    """FPS (log) against total MAC units (log) for every folding of ``shapes``, with the ideal line.

    The ideal line assumes every MAC unit is busy every cycle (``units * clock / MACs``); steps
    below it come from SIMD/PE having to divide the layer sizes. With ``input_bytes`` and
    ``input_bytes_per_cycle`` a horizontal line shows the input-stream limit.
    """
    rows = folding_sweep(shapes, clock_mhz)
    total_macs = sum(mw * mh for mw, mh in shapes)
    units = np.array([r["units"] for r in rows], dtype=float)
    fps = np.array([r["fps"] for r in rows])
    fig, ax = _axes(ax, (6.5, 4.2))
    ax.loglog(units, fps, "o-", ms=3, label="folded pipeline (this calculator)")
    ideal = np.geomspace(units.min(), units.max(), 50)
    ax.loglog(ideal, np.minimum(ideal * clock_mhz * 1e6 / total_macs, clock_mhz * 1e6), "--",
              color="grey", label="ideal: every MAC unit busy every cycle")
    if input_bytes and input_bytes_per_cycle:
        limit = clock_mhz * 1e6 * input_bytes_per_cycle / input_bytes
        ax.axhline(limit, color="tab:red", lw=1,
                   label=f"input stream limit ({input_bytes_per_cycle:g} B/cycle)")
    ax.set_xlabel("parallel MAC units (sum of SIMD x PE)")
    ax.set_ylabel(f"samples per second at {clock_mhz:g} MHz")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


TOOLFLOW = (
    ("PyTorch", "float model,\ntraining", "Lab 1"),
    ("Brevitas", "quantization-\naware training", "Lab 1"),
    ("QONNX", "ONNX + Quant\nnodes (bits, scale)", "Lab 1"),
    ("FINN", "streamline, HW\nlayers, folding", "Lab 2"),
    ("Vivado /\nVitis HLS", "IP, block design,\nbitstream + .hwh", "Lab 2"),
    ("PYNQ", "Overlay, DMA\non the Zynq", "Lab 3"),
)
"""The course's tool flow: (tool, what it does, lab)."""


def plot_toolflow(ax: Axes | None = None) -> Figure:
    """The tool flow of the course as a chain of boxes, each labelled with its lab."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = _axes(ax, (11.0, 2.8))
    n = len(TOOLFLOW)
    ax.set_xlim(0, 18 * n)
    ax.set_ylim(0, 30)
    ax.axis("off")
    colours = {"Lab 1": "#e8f0fe", "Lab 2": "#fef3e8", "Lab 3": "#e6f4ea"}
    for i, (tool, what, lab) in enumerate(TOOLFLOW):
        x = 18 * i + 1
        ax.add_patch(FancyBboxPatch((x, 8), 14, 18, boxstyle="round,pad=0.5", fc=colours[lab], ec="black"))
        ax.text(x + 7, 21, tool, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x + 7, 13.5, what, ha="center", va="center", fontsize=8)
        ax.text(x + 7, 3, lab, ha="center", va="center", fontsize=9, color="dimgray")
        if i:
            ax.add_patch(FancyArrowPatch((x - 3.4, 17), (x - 0.6, 17), arrowstyle="-|>", mutation_scale=12,
                                         color="black", lw=1.5))
    fig.tight_layout()
    return fig


def plot_zynq_overview(ax: Axes | None = None) -> Figure:
    """Block diagram of the course system on a Zynq-7020: PS, DDR, AXI DMA, accelerator, AXI links."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = _axes(ax, (10.0, 5.4))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 62)
    ax.axis("off")

    def region(x: float, w: float, title: str, fc: str, ec: str) -> None:
        ax.add_patch(FancyBboxPatch((x, 1), w, 55, boxstyle="round,pad=0.6", fc=fc, ec=ec, lw=1.5))
        ax.text(x + 1, 58.5, title, fontsize=10, weight="bold", color=ec)

    def box(x: float, y: float, w: float, h: float, text: str, fc: str = "white", bold: bool = False) -> None:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4", fc=fc, ec="black", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5,
                weight="bold" if bold else "normal")

    def arrow(p: tuple[float, float], q: tuple[float, float], color: str, text: str = "",
              at: tuple[float, float] | None = None, both: bool = False) -> None:
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="<|-|>" if both else "-|>", mutation_scale=11,
                                     color=color, lw=1.8, shrinkA=0, shrinkB=0))
        if text:
            x, y = at or ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2 + 1.5)
            ax.text(x, y, text, ha="center", va="bottom", fontsize=7.5, color=color)

    region(1, 38, "Processing System (PS)", "#e8f0fe", "#3367d6")
    region(44, 55, "Programmable Logic (PL): LUTs, FFs, BRAM, DSP", "#fef3e8", "#e8710a")
    box(3, 36, 21, 15, "Dual-core ARM\nCortex-A9\nLinux + PYNQ\n(Python, Jupyter)")
    box(3, 8, 21, 14, "DDR controller\n(external DDR3:\nbuffers from\npynq.allocate)")
    box(28, 40, 9, 7, "M_AXI\nGP0", "#d2e3fc")
    box(28, 12, 9, 7, "S_AXI\nHP0", "#d2e3fc")
    box(48, 39, 18, 9, "AXI-Lite\ninterconnect")
    box(48, 9, 18, 13, "AXI DMA\nMM2S | S2MM", bold=True)
    box(76, 9, 20, 13, "FINN\naccelerator\n(dataflow layers)", "#fde2c4", bold=True)
    blue, green, purple = "#3367d6", "#188038", "#a142f4"
    arrow((24, 43.5), (28, 43.5), blue)
    arrow((37, 43.5), (48, 43.5), blue, "AXI-Lite control")
    arrow((57, 39), (57, 22), blue, "DMA registers", at=(63.5, 29))
    arrow((13.5, 36), (13.5, 22), "black", "loads/stores", at=(19, 28), both=True)
    arrow((37, 15.5), (48, 15.5), green, "AXI4 memory-\nmapped data", at=(42.5, 17), both=True)
    arrow((24, 15.5), (28, 15.5), green, both=True)
    arrow((66, 18.5), (76, 18.5), purple, "AXI-Stream in", at=(71, 19.5))
    arrow((76, 12.5), (66, 12.5), purple, "out + TLAST", at=(71, 8.5))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# AXI-Stream valid/ready handshake
# ---------------------------------------------------------------------------------------------
@dataclass
class AxisTrace:
    """Per-cycle signals of one AXI-Stream link (sampled at the rising clock edge)."""

    valid: list[bool] = field(default_factory=list)
    ready: list[bool] = field(default_factory=list)
    data: list[int | None] = field(default_factory=list)
    last: list[bool] = field(default_factory=list)

    @property
    def cycles(self) -> int:
        """Number of clock cycles in the trace."""
        return len(self.valid)

    @property
    def transfers(self) -> list[int]:
        """Cycles in which a beat moved (``TVALID and TREADY``)."""
        return [t for t in range(self.cycles) if self.valid[t] and self.ready[t]]

    def received(self) -> list[int]:
        """The data the sink received, in order."""
        return [self.data[t] for t in self.transfers]  # type: ignore[misc]


def _pattern(pattern: str | Sequence[bool | int], what: str) -> list[bool]:
    """'1101' or [1, 1, 0, 1] -> [True, True, False, True]; repeated cyclically by the caller."""
    if isinstance(pattern, str):
        if not pattern or set(pattern) - {"0", "1"}:
            raise ValueError(f"{what} pattern must be a non-empty string of 0/1, got {pattern!r}")
        return [c == "1" for c in pattern]
    values = [bool(v) for v in pattern]
    if not values:
        raise ValueError(f"{what} pattern must not be empty")
    return values


def simulate_axis(n_beats: int, ready: str | Sequence[bool | int] = "1",
                  gaps: Sequence[int] | None = None, max_cycles: int = 10_000) -> AxisTrace:
    """Cycle-by-cycle AXI-Stream transfer of beats ``0..n_beats-1`` from a source to a sink.

    ``ready`` is the sink's TREADY per cycle (repeated cyclically); ``gaps[i]`` idle cycles pass
    before the source has beat ``i``. The source follows the AXI rules: it raises TVALID when it
    has data, never waits for TREADY to do so, and holds TVALID, TDATA and TLAST until the
    handshake. TLAST marks the final beat.
    """
    if n_beats < 1:
        raise ValueError(f"n_beats must be >= 1, got {n_beats}")
    ready_pat = _pattern(ready, "ready")
    gaps = list(gaps) if gaps is not None else [0] * n_beats
    if len(gaps) != n_beats or any(g < 0 for g in gaps):
        raise ValueError(f"gaps must give {n_beats} non-negative idle-cycle counts, got {gaps}")
    if not any(ready_pat):
        raise ValueError("the sink is never ready (TREADY always 0): the transfer would hang forever")
    trace = AxisTrace()
    beat, wait = 0, gaps[0]
    for t in range(max_cycles):
        rdy = ready_pat[t % len(ready_pat)]
        has_data = beat < n_beats and wait == 0
        trace.valid.append(has_data)
        trace.ready.append(rdy)
        trace.data.append(beat if has_data else None)
        trace.last.append(has_data and beat == n_beats - 1)
        if has_data and rdy:  # handshake: the beat moves on this clock edge
            beat += 1
            wait = gaps[beat] if beat < n_beats else 0
        elif not has_data and beat < n_beats:
            wait -= 1
        if beat == n_beats:
            return trace
    raise RuntimeError(f"AXI-Stream transfer not finished after {max_cycles} cycles; "
                       "check the ready pattern or raise max_cycles")


def axis_violations(trace: AxisTrace) -> list[str]:
    """AXI-Stream protocol rules the trace breaks (empty list: it follows them).

    Once TVALID is high it must stay high, with TDATA and TLAST unchanged, until TREADY is high.
    """
    problems = []
    for t in range(trace.cycles - 1):
        if trace.valid[t] and not trace.ready[t]:
            if not trace.valid[t + 1]:
                problems.append(f"cycle {t + 1}: TVALID dropped before the handshake of beat {trace.data[t]}")
            elif trace.data[t + 1] != trace.data[t] or trace.last[t + 1] != trace.last[t]:
                problems.append(f"cycle {t + 1}: TDATA/TLAST changed while waiting for TREADY")
    return problems


def plot_axis_handshake(trace: AxisTrace, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Timing diagram of an AXI-Stream trace: ACLK, TVALID, TREADY, TDATA, TLAST; transfers shaded."""
    n = trace.cycles
    fig, ax = _axes(ax, (min(2 + 0.55 * n, 14), 3.4))
    rows = ["ACLK", "TVALID", "TREADY", "TDATA", "TLAST"]
    ys = {name: (len(rows) - 1 - i) * 1.5 for i, name in enumerate(rows)}
    h = 0.9
    # clock: rising edges at integer times
    clk_t = np.repeat(np.arange(0, n + 0.5, 0.5), 2)[1:-1]
    clk_v = np.tile([1, 1, 0, 0], n + 1)[: len(clk_t)]
    ax.plot(clk_t, ys["ACLK"] + h * clk_v, color="black", lw=1.2)
    for name, values in (("TVALID", trace.valid), ("TREADY", trace.ready), ("TLAST", trace.last)):
        v = np.array(values, dtype=float)
        ax.step(np.arange(n + 1), ys[name] + h * np.append(v, v[-1]), where="post", lw=2,
                color="tab:blue" if name != "TREADY" else "tab:green")
    y0 = ys["TDATA"]
    for t, d in enumerate(trace.data):
        if d is None:
            ax.plot([t, t + 1], [y0 + h / 2] * 2, color="grey", lw=1)
            continue
        ax.fill([t + 0.1, t + 0.9, t + 1, t + 0.9, t + 0.1, t],
                [y0, y0, y0 + h / 2, y0 + h, y0 + h, y0 + h / 2], fc="#fde2c4", ec="black", lw=1)
        ax.text(t + 0.5, y0 + h / 2, f"D{d}", ha="center", va="center", fontsize=8)
    for t in trace.transfers:
        ax.axvspan(t, t + 1, color="tab:green", alpha=0.12, lw=0)
    ax.set_yticks([ys[r] + h / 2 for r in rows])
    ax.set_yticklabels(rows)
    ax.set_xticks(range(n + 1))
    ax.set_xlim(0, n)
    ax.set_xlabel("clock cycle (shaded: TVALID and TREADY both high, a beat moves)")
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or f"AXI-Stream: {len(trace.transfers)} beats in {n} cycles", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Streamlining on a toy graph
# ---------------------------------------------------------------------------------------------
_FINN_NOISE = (r"Assuming 2D input is NC", r"The GemmToMatMul transformation only offers explicit support")


def prepare_finn() -> None:
    """Make FINN importable without Vivado, with its folders under the kit's build/ (never ~/.finn).

    Uses the kit's FINN set-up (``course_utils.finnflow.env.setup``: import shim, ``FINN_BUILD_DIR``,
    ``FINN_SETTINGS``) when present, else sets the two folders itself. Call it before importing ``finn``.
    """
    for pattern in _FINN_NOISE:
        warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
    try:
        from course_utils.finnflow.env import setup
    except ImportError:
        pass
    else:
        setup()
        return
    from course_utils.paths import build_dir

    finn_dir = build_dir("finn")
    os.environ.setdefault("FINN_BUILD_DIR", str(finn_dir))
    os.environ.setdefault("FINN_SETTINGS", str(finn_dir / "settings.yaml"))


def toy_streamline_model(k: int = 6, n: int = 4, seed: int = 0) -> ModelWrapper:
    """A layer as Brevitas exports it: Mul (input scale) -> MatMul -> Add -> Mul -> MultiThreshold.

    Input: ``k`` UINT8 pixels; weights: INT4 integers; bias and positive per-channel scales (a
    folded BatchNorm) are floats; ``MultiThreshold`` maps to 2-bit unsigned activations.
    """
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import qonnx_make_model

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Mul", ["x", "in_scale"], ["scaled"], name="InputScale"),
        helper.make_node("MatMul", ["scaled", "W"], ["acc"], name="MatMul"),
        helper.make_node("Add", ["acc", "bias"], ["biased"], name="Bias"),
        helper.make_node("Mul", ["biased", "bn_scale"], ["normed"], name="BatchNormScale"),
        helper.make_node("MultiThreshold", ["normed", "thresholds"], ["y"], name="Activation",
                         domain="qonnx.custom_op.general", out_dtype="UINT2"),
    ]
    graph = helper.make_graph(nodes, "toy_layer",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="course_utils.concepts"))
    model.set_initializer("in_scale", np.array(1 / 255, dtype=np.float32))
    model.set_initializer("W", rng.integers(-7, 8, size=(k, n)).astype(np.float32))
    model.set_initializer("bias", rng.normal(size=(1, n)).astype(np.float32))
    model.set_initializer("bn_scale", rng.uniform(0.5, 2.0, size=(1, n)).astype(np.float32))
    model.set_initializer("thresholds", np.sort(rng.normal(size=(n, 3)), axis=1).astype(np.float32))
    model.set_tensor_datatype("x", DataType["UINT8"])
    model.set_tensor_datatype("W", DataType["INT4"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.transform(InferShapes()).transform(InferDataTypes())


def describe_nodes(model: ModelWrapper) -> list[str]:
    """One line per node: ``op(inputs) -> outputs``, initializers shown with their shape."""
    lines = []
    for node in model.graph.node:
        ins = []
        for name in node.input:
            init = model.get_initializer(name)
            ins.append(f"{name}{list(init.shape)}" if init is not None else name)
        lines.append(f"{node.op_type}({', '.join(ins)}) -> {', '.join(node.output)}")
    return lines


def execute(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """Outputs of ``model`` for a batch ``x`` of shape ``(N, k)``, one sample at a time."""
    import qonnx.core.onnx_exec as oxe

    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    return np.concatenate([oxe.execute_onnx(model, {iname: xi[None, :].astype(np.float32)})[oname]
                           for xi in np.asarray(x)])


def streamline_demo(samples: int = 64, seed: int = 0) -> dict[str, Any]:
    """Apply FINN's ``Streamline()`` to the toy graph and compare outputs on random UINT8 inputs.

    Returns ``before``/``after`` (models), their node descriptions, the inputs, both outputs and
    ``equal`` (outputs identical). Raises if streamlining changed the results.
    """
    prepare_finn()
    from finn.transformation.streamline import Streamline

    before = toy_streamline_model(seed=seed)
    k = before.get_tensor_shape("x")[1]
    x = np.random.default_rng(seed + 1).integers(0, 256, size=(samples, k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = before.transform(Streamline())
        y_before, y_after = execute(before, x), execute(after, x)
    equal = bool(np.array_equal(y_before, y_after))
    if not equal:
        raise AssertionError(f"Streamline changed the outputs: {int((y_before != y_after).sum())} of "
                             f"{y_before.size} values differ")
    return {"before": before, "after": after, "nodes_before": describe_nodes(before),
            "nodes_after": describe_nodes(after), "x": x, "y_before": y_before, "y_after": y_after,
            "equal": equal}
