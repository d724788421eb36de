"""Named, minimal source fixes that FINN's RTL needs for Verilator, applied to COPIES in a build folder.

Each patch says which file it changes, why, and what text it expects; if FINN's source changed so
that the expected text is gone, applying it raises ``PatchError`` (a silent no-op could hide a
simulation that no longer matches the hardware). The installed finn-plus package is never touched.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PATCH_VERSION = 1
"""Bump when a patch changes: it is part of the compiled model's content hash."""


class PatchError(RuntimeError):
    """A source patch no longer matches FINN's RTL (finn-plus changed): the message names the patch."""


@dataclass(frozen=True)
class Patch:
    """One source fix: ``apply(text) -> text`` on ``file`` (a basename in the build folder)."""

    name: str
    file: str
    why: str
    apply: Callable[[str], str]


def _add_multi(text: str) -> str:
    """Move ``init_leaf_loads`` (declared inside a generate block) to module scope."""
    blk = re.search(r"\n(\t\ttypedef int unsigned  leaf_load_t\[2\*N-1\];\n\t\tfunction leaf_load_t "
                    r"init_leaf_loads\(\);.*?endfunction : init_leaf_loads\n)", text, re.S)
    anchor = "\tuwire [SUM_WIDTH-1:0]  sum0;\n"
    if blk is None or anchor not in text:
        raise PatchError("patch add_multi_function_scope: add_multi.sv no longer has the expected "
                         "init_leaf_loads function; finn-plus changed, update course_utils/rtl/patches.py.")
    moved = "\t" + blk.group(1).replace("\n\t\t", "\n\t").lstrip("\t")
    return text.replace(blk.group(1), "").replace(anchor, moved + anchor, 1)


_FIFO_ABITS = """	function int unsigned INIT_ABITS_LO();
		automatic int unsigned lo = $clog2(DEPTH_REQ);
		if(lo > MIN_ABITS) begin
			automatic int unsigned  hi_abits = $clog2(DEPTH_REQ - 2**(lo-1));
			if(hi_abits < lo - 1)  lo--;
		end
		return  lo;
	endfunction : INIT_ABITS_LO
	function int unsigned INIT_ABITS_HI();
		automatic int unsigned lo = $clog2(DEPTH_REQ);
		automatic int unsigned hi = 0;
		if(lo > MIN_ABITS) begin
			automatic int unsigned  hi_abits = $clog2(DEPTH_REQ - 2**(lo-1));
			if(hi_abits < lo - 1)  hi = hi_abits < 1? 1 : hi_abits;
		end
		return  hi;
	endfunction : INIT_ABITS_HI
	localparam int unsigned  ABITS_LO = INIT_ABITS_LO();
	localparam int unsigned  ABITS_HI = INIT_ABITS_HI();
"""


def _fifo(text: str) -> str:
    """Split the struct-returning constant function ``INIT_ABITS`` into two int functions."""
    start = text.find("\ttypedef struct {\n\t\tint unsigned  lo;")
    end = text.find("localparam abits_t       ABITS      = INIT_ABITS();")
    if start < 0 or end < 0:
        raise PatchError("patch fifo_abits_functions: fifo.sv no longer has the expected INIT_ABITS "
                         "struct function; finn-plus changed, update course_utils/rtl/patches.py.")
    end = text.index("\n", end) + 1
    return (text[:start] + _FIFO_ABITS + text[end:]).replace("ABITS.lo", "ABITS_LO").replace("ABITS.hi",
                                                                                            "ABITS_HI")


PATCHES: tuple[Patch, ...] = (
    Patch("add_multi_function_scope", "add_multi.sv",
          "Verilator rejects a constant function declared inside a generate block; moved to module scope.",
          _add_multi),
    Patch("fifo_abits_functions", "fifo.sv",
          "Verilator cannot evaluate a constant function returning a struct; split into two int functions.",
          _fifo),
)


def fifo_wrapper_real_fifo(text: str, name: str) -> str:
    """A StreamingFIFO wrapper that uses the real, depth-bounded ``fifo`` in simulation too.

    FINN's wrapper swaps in ``fifo_gauge`` (an unbounded queue, for FIFO sizing) under
    ``FINN_SIMULATION``; the kit simulates what the FPGA gets, so the real FIFO and its depth.
    """
    if "`ifdef FINN_SIMULATION" not in text:
        raise PatchError(f"patch fifo_wrapper_real_fifo: {name} has no FINN_SIMULATION branch; "
                         "finn-plus changed, update course_utils/rtl/patches.py.")
    return text.replace("`ifdef FINN_SIMULATION", "`ifdef FINN_FIFO_GAUGE_NEVER_DEFINED")


def apply_patches(folder: Path) -> list[str]:
    """Apply every patch whose file is in ``folder`` (in place, on the copies); return their names."""
    applied = []
    for patch in PATCHES:
        path = folder / patch.file
        if path.is_file():
            path.write_text(patch.apply(path.read_text()))
            applied.append(patch.name)
    for path in sorted(folder.glob("StreamingFIFO*.v")):
        path.write_text(fifo_wrapper_real_fifo(path.read_text(), path.name))
        if "fifo_wrapper_real_fifo" not in applied:
            applied.append("fifo_wrapper_real_fifo")
    return applied
