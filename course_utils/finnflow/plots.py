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
    """FPS (log scale) against % of LUT, BRAM_18K, DSP, one point per row of ``folding.design_space``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    met = [r for r in rows if r.get("met", True) and r.get("fps")]
    for k, marker, color in zip(("LUT", "BRAM_18K", "DSP"), "os^", _COLORS):
        ax.plot([r["fps"] for r in met], [r[f"{k}_%"] for r in met], marker=marker, color=color, ls="-",
                label=k)
    for r in met:
        text = r.get(label, "")
        text = f"{text:,.0f}" if isinstance(text, (int, float)) else str(text)
        ax.annotate(text, (r["fps"], max(r[f"{k}_%"] for k in ("LUT", "BRAM_18K", "DSP"))),
                    textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_ylim(0, max([105.0, *(r[f"{k}_%"] + 8 for r in met for k in ("LUT", "BRAM_18K", "DSP"))]))
    if budget is not None:
        ax.axhline(100 * budget, color="k", ls="--", lw=1, label=f"budget {100 * budget:.0f}%")
    ax.set_xscale("log")
    ax.set_xlabel("estimated FPS")
    ax.set_ylabel("% of the part")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
