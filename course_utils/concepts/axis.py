"""The AXI-Stream valid/ready handshake, cycle by cycle: ``simulate_axis``, ``axis_violations`` and the
timing diagram ``plot_axis_handshake``. matplotlib inside the plotting function.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from course_utils.concepts._figures import axes as _axes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
