"""The board part of the kit: runs on a PYNQ image (Python 3.10, numpy 1.x, pynq 3.x).

Nothing here may import torch, FINN, qonnx or other host-only packages.
"""
