"""The virtual board: a pynq device backend that emulates a Zynq-7020 with the kit's overlay.

Switched on by ``PYNQ_VIRTUAL_BOARD=Pynq-Z2`` (or ``Pynq-Z1``, ``Zybo-Z7-20``): the Jupyter kernel
"PYNQ virtual board (Zynq-7020)" sets it, and ``autoload`` registers the device when pynq is imported.
Modules: ``device`` (the pynq Device), ``axidma`` (AXI DMA per PG021), ``memory`` (CMA, caches),
``streams`` (.hwh stream paths), ``accelerator`` (the verified model behind the streams).
Importing this package is cheap: pynq is imported only by ``device``.
"""
from __future__ import annotations

from .errors import VirtualBoardError, VirtualBoardHang

__all__ = ["VirtualBoardError", "VirtualBoardHang"]
