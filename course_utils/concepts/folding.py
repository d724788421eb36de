"""MAC and folding: how FINN spreads a matrix-vector layer over SIMD lanes and PE rows.

``Layer`` (an MVAU with SIMD/PE, checked as FINN checks it), ``folded_matvec`` (the folded loop nest,
executed), ``network_performance`` / ``fold_network`` / ``folding_sweep`` (cycles, FPS, latency), and
the figures of the schedule and of throughput against parallelism. numpy at import; matplotlib inside
the plotting functions.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.concepts._figures import axes as _axes
from course_utils.numeric import divisors

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


class FoldError(ValueError):
    """A folding (SIMD/PE) that FINN would reject; the message says which value and what to use."""


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
