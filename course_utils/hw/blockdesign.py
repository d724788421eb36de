"""Parameters of the kit's block design, derived from a deploy package's ``accelerator.json``.

The Vivado Tcl (``tcl/blockdesign.tcl``) is the one description of the hardware around the
accelerator; this module only computes its inputs (the Tcl array ``kit``): the board's PS7 preset,
the accelerator's stream widths and frame sizes, and the AXI DMA widths. ``write_params_tcl``
writes them as ``params.tcl`` for a real Vivado build; ``dry_run`` runs the same Tcl with Vivado
stubbed (``dryrun``) and returns the recorded design, from which ``hwh`` writes the ``.hwh``.

AXI DMA stream widths must be 8..1024 bits in powers of two. When the accelerator's stream width
(FINN pads it to whole bytes) is not, the block design inserts an ``axis_dwidth_converter``; the DMA
side then gets the widest legal width that divides the bytes of one sample, so every sample is a
whole number of DMA beats (no partial last beat, whatever the batch size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_utils import fileio
from course_utils.hw.boards import get_board, ps7_config

DESIGN_NAME = "kit_bd"
DEFAULT_ACCEL_VLNV = "xilinx_finn:finn:finn_design:1.0"
DMA_BASE = 0x40400000
ACCEL_BASE = 0x43C00000
MAX_DMA_BYTES = 128  # 1024-bit streams
DMA_LENGTH_WIDTH = 26  # the largest buffer-length register of AXI DMA v7.1: 64 MiB - 1 per transfer
TLAST_FIFO_DEPTH = 16


def dma_stream_bits(accel_bits: int, bytes_per_sample: int) -> int:
    """DMA stream width for an accelerator stream of ``accel_bits``: equal when legal, else converted.

    Legal widths are 8..1024 bits in powers of two. Otherwise the result is the widest power-of-two
    byte width that divides ``bytes_per_sample`` (so each sample is whole DMA beats), at most the
    next power of two above the accelerator's width.
    """
    if accel_bits <= 0 or accel_bits % 8:
        raise ValueError(f"stream width {accel_bits} is not a positive multiple of 8 bits")
    if bytes_per_sample <= 0 or bytes_per_sample % (accel_bits // 8):
        raise ValueError(
            f"{bytes_per_sample} bytes per sample is not a whole number of "
            f"{accel_bits // 8}-byte stream words"
        )
    nbytes = accel_bits // 8
    if nbytes & (nbytes - 1) == 0 and nbytes <= MAX_DMA_BYTES:
        return accel_bits
    width = 1
    while width * 2 <= min(MAX_DMA_BYTES, 2 * nbytes) and bytes_per_sample % (width * 2) == 0:
        width *= 2
    return 8 * width


@dataclass(frozen=True)
class BlockDesignParams:
    """Everything the block-design Tcl needs (the ``kit`` array), with typed fields."""

    board: str
    fclk0_mhz: float
    accel_vlnv: str
    accel_name: str
    accel_in_bits: int
    accel_out_bits: int
    in_beats: int
    out_beats: int
    dma_name: str
    dma_mm2s_bits: int
    dma_s2mm_bits: int
    dma_length_width: int = DMA_LENGTH_WIDTH
    accel_axilite: str = ""
    tlast: bool = True
    design_name: str = DESIGN_NAME
    tlast_fifo_depth: int = TLAST_FIFO_DEPTH

    @property
    def dma_mm_bits(self) -> int:
        """Memory-map width of the DMA: at least 32 and at least its widest stream (PG021 rule)."""
        return max(32, self.dma_mm2s_bits, self.dma_s2mm_bits)

    def tcl_values(self) -> dict[str, str]:
        """The ``kit`` array as Tcl values (lists already quoted)."""
        board = get_board(self.board)
        ps7 = ps7_config(board, self.fclk0_mhz)
        ps7_list = " ".join(f"CONFIG.{k} {_brace(v)}" for k, v in ps7.items())
        return {
            "design_name": self.design_name,
            "board": board.key,
            "part": board.part,
            "board_part": board.board_part,
            "ps7_config": ps7_list,
            "fclk0_mhz": f"{self.fclk0_mhz:g}",
            "ddr_range": f"{board.ddr_mb}M",
            "accel_vlnv": self.accel_vlnv,
            "accel_name": self.accel_name,
            "accel_in_bits": str(self.accel_in_bits),
            "accel_out_bits": str(self.accel_out_bits),
            "accel_axilite": self.accel_axilite,
            "in_beats": str(self.in_beats),
            "out_beats": str(self.out_beats),
            "dma_name": self.dma_name,
            "dma_mm2s_bits": str(self.dma_mm2s_bits),
            "dma_s2mm_bits": str(self.dma_s2mm_bits),
            "dma_mm_bits": str(self.dma_mm_bits),
            "dma_length_width": str(self.dma_length_width),
            "dma_base": f"0x{DMA_BASE:08X}",
            "accel_base": f"0x{ACCEL_BASE:08X}",
            "tlast": "1" if self.tlast else "0",
            "tlast_fifo_depth": str(self.tlast_fifo_depth),
        }

    def extra_ips(self) -> dict[str, Any]:
        """The accelerator's IP model for the dry run (Vivado reads it from the IP repository)."""
        from course_utils.hw.ipmodels import finn_accelerator

        return {
            self.accel_vlnv: finn_accelerator(
                self.accel_vlnv, self.accel_in_bits, self.accel_out_bits, self.accel_axilite
            )
        }


def _brace(value: str) -> str:
    """Quote a value as one Tcl word (balanced braces inside are fine: Tcl lists)."""
    depth = 0
    for ch in value:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0 or ch == "\\":
            raise ValueError(f"Tcl value {value!r} has unbalanced braces or a backslash")
    if depth:
        raise ValueError(f"Tcl value {value!r} has unbalanced braces")
    return "{" + value + "}"


def params_from_accelerator(
    desc: Mapping[str, Any],
    *,
    tlast: bool | None = None,
    length_width: int | None = None,
    accel_vlnv: str | None = None,
) -> BlockDesignParams:
    """Block-design parameters from an ``accelerator.json`` dict (schema 1).

    ``tlast=False`` gives the "missing TLAST" variant (default: ``desc["tlast"] != "none"``);
    ``length_width`` overrides the DMA's buffer length register width (e.g. 14, Vivado's default,
    for the "transfer too large" pitfall).
    """
    for key in ("board", "clock_mhz", "ip_name", "dma_name", "input", "output", "dma"):
        if key not in desc:
            raise ValueError(
                f"accelerator.json has no '{key}'; re-export it with "
                "course_utils.hw.deploy.write_deploy_package"
            )
    inp, out, dma = desc["input"], desc["output"], desc["dma"]
    return BlockDesignParams(
        board=desc["board"],
        fclk0_mhz=float(desc["clock_mhz"]),
        accel_vlnv=accel_vlnv or desc.get("ip_vlnv", DEFAULT_ACCEL_VLNV),
        accel_name=desc["ip_name"],
        accel_in_bits=int(inp["stream_width_bits"]),
        accel_out_bits=int(out["stream_width_bits"]),
        in_beats=_beats(inp),
        out_beats=_beats(out),
        dma_name=desc["dma_name"],
        dma_mm2s_bits=int(dma["mm2s_width_bits"]),
        dma_s2mm_bits=int(dma["s2mm_width_bits"]),
        dma_length_width=int(length_width or dma.get("length_width", DMA_LENGTH_WIDTH)),
        accel_axilite=desc.get("ip_axilite", "") or "",
        tlast=(desc.get("tlast", "per_packet") != "none") if tlast is None else tlast,
    )


def _beats(io: Mapping[str, Any]) -> int:
    """Stream beats per sample: the folded shape without batch and the innermost (per-beat) axis."""
    folded = list(io["shape_folded"])[1:-1]
    beats = 1
    for n in folded:
        beats *= int(n)
    return beats


def write_params_tcl(
    params: BlockDesignParams, path: str | Path, extra: Mapping[str, str] | None = None
) -> Path:
    """Write ``params.tcl`` (``set kit(...)`` lines) for Vivado; atomically."""
    values = {**params.tcl_values(), **(extra or {})}
    lines = [
        "# Parameters of the kit's block design (course_utils.hw.blockdesign); generated, do not edit.",
        "# Source it before tcl/blockdesign.tcl (tcl/build.tcl does).",
    ]
    lines += [f"set kit({k}) {_brace(v)}" for k, v in values.items()]
    return fileio.write_text_atomic(path, "\n".join(lines) + "\n")


def dry_run(params: BlockDesignParams):  # -> dryrun.Design (import kept lazy)
    """Run ``tcl/blockdesign.tcl`` with Vivado stubbed and return the recorded, validated design."""
    from course_utils.hw.dryrun import run_block_design

    return run_block_design(params.tcl_values(), extra_ips=params.extra_ips())
