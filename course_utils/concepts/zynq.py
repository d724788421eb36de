"""The flow, HLS and the Zynq: the course's tool-flow figure, the Zynq-7020 overview, HLS loop cycles and
the AXI DMA's largest transfer. matplotlib inside the plotting functions.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from course_utils.concepts._figures import axes as _axes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def pipelined_loop_cycles(trips: int, ii: int = 1, depth: int = 1, unroll: int = 1) -> int:
    """Cycles of an HLS loop: ``ceil(trips/unroll) - 1`` starts ``ii`` apart, plus the pipeline ``depth``."""
    if min(trips, ii, depth, unroll) < 1:
        raise ValueError("trips, ii, depth and unroll must all be >= 1")
    return (math.ceil(trips / unroll) - 1) * ii + depth


def dma_max_batch(bytes_per_sample: int, length_bits: int = 26) -> int:
    """Samples one AXI DMA transfer can carry: its length register holds at most ``2**bits - 1`` bytes."""
    if bytes_per_sample < 1 or not 8 <= length_bits <= 26:
        raise ValueError("bytes_per_sample must be >= 1 and length_bits 8..26 (AXI DMA 'Width of Buffer "
                         "Length Register', PG021)")
    return (2 ** length_bits - 1) // bytes_per_sample


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
