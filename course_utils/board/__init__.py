"""The board part of the kit: runs on a PYNQ image (Python 3.10, numpy 1.x, pynq 3.x).

``packing`` (FINN stream packing), ``package`` (find/load/check a deploy package), ``accel`` (numpy
executor of the verified model), ``runtime`` (batch loop, timing, DMA reset), ``plots``, ``cgen`` (C
header for the bare-metal program in ``baremetal/``) and ``virtual`` (the virtual board, a pynq device
backend). Nothing here may import torch, FINN, qonnx or other host-only packages; only ``virtual``
imports pynq at module level. See docs/board.md.
"""
