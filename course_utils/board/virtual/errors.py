"""Errors the virtual board raises where a real board would hang, crash or corrupt memory."""
from __future__ import annotations


class VirtualBoardError(RuntimeError):
    """Something that on a real board fails badly (a bus lock-up, corrupted memory, a hang)."""


class VirtualBoardHang(VirtualBoardError):
    """A real board would wait here forever; the virtual board stops after a timeout and says why."""


def user_stacklevel() -> int:
    """The ``stacklevel`` for warnings.warn that points at the first caller outside pynq and this package."""
    import inspect
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe(), 0
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if level > 0 and not path.startswith(here) and f"{os.sep}pynq{os.sep}" not in path:
            return level
        frame, level = frame.f_back, level + 1
    return 1
