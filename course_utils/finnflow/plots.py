"""Figures of Lab 2: resources against the board's capacity, and the folding design space."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from course_utils.finnflow.env import FPGA_PART

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def resources_vs_capacity(summary: Mapping[str, Any], fpgapart: str = FPGA_PART, budget: float | None = 0.7,
                          title: str | None = None) -> Figure:
    """Stacked bars (one colour per layer) of LUT, BRAM_18K and DSP as % of the part, with the budget line.

    ``summary`` is ``estimate_summary(model)`` (its ``layers`` give the stacking).
    """
    from matplotlib.figure import Figure

    from course_utils.finnflow.estimates import RESOURCES, capacity

    cap = capacity(fpgapart)
    layers = summary.get("layers") or {"total": summary["resources"]}
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax = fig.subplots()
    left = [0.0] * len(RESOURCES)
    for i, (name, res) in enumerate(layers.items()):
        widths = [100 * float(res.get(k, 0)) / cap[k] for k in RESOURCES]
        ax.barh(RESOURCES, widths, left=left, color=_COLORS[i % len(_COLORS)], label=name)
        left = [a + b for a, b in zip(left, widths)]
    for y, (k, total) in enumerate(zip(RESOURCES, left)):
        used = summary["resources"].get(k, 0)
        ax.text(total + 1, y, f"{used:,.0f} / {cap[k]:,} ({total:.1f}%)", va="center", fontsize=8)
    if budget is not None:
        ax.axvline(100 * budget, color="k", ls="--", lw=1, label=f"budget {100 * budget:.0f}%")
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"% of {fpgapart}")
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="lower right", ncols=2)
    ax.set_title(title or f"Estimated resources: {summary.get('fps', 0):,.0f} FPS at "
                          f"{summary.get('clock_mhz', 0):g} MHz")
    return fig


def design_space(rows: Sequence[Mapping[str, Any]], label: str = "target_fps", budget: float | None = 0.7,
                 title: str = "Folding design space") -> Figure:
    """FPS (log scale) against % of LUT, BRAM_18K, DSP, one point per row of ``folding.design_space``.

    Hollow markers joined by lines: FINN's estimates; filled markers: Yosys' counts (``*_syn_%``) where the
    row's design was synthesized."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    met = [r for r in rows if r.get("met", True) and r.get("fps")]
    for k, marker, color in zip(("LUT", "BRAM_18K", "DSP"), "os^", _COLORS):
        ax.plot([r["fps"] for r in met], [r[f"{k}_%"] for r in met], marker=marker, color=color, ls="-",
                mfc="none", label=f"{k} (FINN estimate)")
        syn = [r for r in met if r.get(f"{k}_syn_%") is not None]
        if syn:  # Yosys counts where the design's synthesis is cached or shipped (folding.design_space)
            ax.plot([r["fps"] for r in syn], [r[f"{k}_syn_%"] for r in syn], marker=marker, color=color,
                    ls="none", ms=9, label=f"{k} (synthesized, Yosys)")
    for r in met:
        text = r.get(label, "")
        text = f"{text:,.0f}" if isinstance(text, (int, float)) else str(text)
        ax.annotate(text, (r["fps"], max(r[f"{k}_%"] for k in ("LUT", "BRAM_18K", "DSP"))),
                    textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_ylim(0, max([105.0, *(r[f"{k}_%"] + 8 for r in met for k in ("LUT", "BRAM_18K", "DSP")),
                        *(r[f"{k}_syn_%"] + 8 for r in met for k in ("LUT", "BRAM_18K", "DSP")
                          if r.get(f"{k}_syn_%") is not None)]))
    if budget is not None:
        ax.axhline(100 * budget, color="k", ls="--", lw=1, label=f"budget {100 * budget:.0f}%")
    ax.set_xscale("log")
    ax.set_xlabel("estimated FPS")
    ax.set_ylabel("% of the part")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def synthesis_vs_estimate(table: Any, resources: Sequence[str] = ("LUT", "DSP", "BRAM_18K"),
                          title: str = "FINN's estimate vs Yosys (synth_xilinx, xc7), per node") -> Figure:
    """Bars per node of ``synth.comparison_table``: FINN's estimate next to the synthesized count.

    One panel per resource (LUT on a log scale: estimates of 0 and tens against thousands); nodes that were
    not synthesized show only their estimate, marked "not synthesized".
    """
    import numpy as np
    from matplotlib.figure import Figure

    rows = table.drop("total", errors="ignore")
    names = [n.replace("StreamingDataWidthConverter", "DWC").replace("StreamingFIFO", "FIFO")
             .replace("_rtl", "") for n in rows.index]
    fig = Figure(figsize=(max(7.0, 0.45 * len(names) + 2), 2.6 * len(resources)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(resources), 1, sharex=True))
    x = np.arange(len(names))
    for ax, k in zip(axes, resources):
        est = rows[f"{k} est"].astype(float).to_numpy()
        syn = (rows[f"{k} syn"].astype(float).to_numpy() if f"{k} syn" in rows
               else np.full(len(rows), np.nan))
        ax.bar(x - 0.2, est, 0.4, color=_COLORS[0], label="FINN estimate")
        ax.bar(x + 0.2, np.nan_to_num(syn), 0.4, color=_COLORS[1], label="synthesized (Yosys)")
        for i in np.flatnonzero(np.isnan(syn)):
            ax.text(x[i] + 0.2, 1 if k == "LUT" else 0, "not synthesized", rotation=90, fontsize=6,
                    ha="center", va="bottom")
        if k == "LUT":
            ax.set_yscale("symlog", linthresh=10)
        ax.set_ylabel(k)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title(title)
    axes[-1].set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    return fig
