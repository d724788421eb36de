"""Why FPGAs like few bits: weight memory, block RAMs, multiplier size and the XNOR-popcount dot product.

numpy only.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from course_utils.hw import boards as _boards

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


XC7Z020: dict[str, int] = _boards.XC7Z020.as_dict()
"""Programmable-logic capacity of the xc7z020 (AMD DS190), from ``course_utils.hw.boards``."""
BRAM18_BITS = 18 * 1024


def memory_bits(shapes: Sequence[tuple[int, int]], bits: int) -> int:
    """Bits needed to store every weight of the layers at ``bits`` per weight."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return sum(mw * mh for mw, mh in shapes) * bits


def bram18_needed(n_bits: int) -> int:
    """Lower bound on 18 Kbit block RAMs to hold ``n_bits`` (perfect packing, no width limits)."""
    return math.ceil(n_bits / BRAM18_BITS)


def partial_products(bits: int) -> int:
    """Partial-product bits of an ``bits x bits`` array multiplier (AND gates): grows as ``bits**2``."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return bits * bits


def xnor_popcount_dot(a: np.ndarray, b: np.ndarray) -> int:
    """Dot product of two +-1 vectors computed the binary way: ``2 * popcount(XNOR) - n``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"xnor_popcount_dot needs two 1-D vectors of equal length, got {a.shape}, {b.shape}")
    if not (np.isin(a, (-1, 1)).all() and np.isin(b, (-1, 1)).all()):
        raise ValueError("xnor_popcount_dot needs bipolar vectors (values -1 and +1 only)")
    a_bits, b_bits = a > 0, b > 0                    # encode +1 as 1, -1 as 0
    matches = int(np.count_nonzero(~(a_bits ^ b_bits)))   # XNOR, then popcount
    return 2 * matches - a.size
