"""Errors the virtual board raises where a real board would hang, crash or corrupt memory."""
from __future__ import annotations


class VirtualBoardError(RuntimeError):
    """Something that on a real board fails badly (a bus lock-up, corrupted memory, a hang)."""


class VirtualBoardHang(VirtualBoardError):
    """A real board would wait here forever; the virtual board stops after a timeout and says why."""
