"""Small numeric helpers shared by the teaching helpers, the FINN flow and the demo (standard library)."""
from __future__ import annotations

import math


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n`` in increasing order (the legal SIMD/PE values of a layer).

    Parameters
    ----------
    n : int
        A positive integer (an integral float such as ``64.0`` is accepted).

    Returns
    -------
    list of int

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"divisors() needs a positive integer, got {n!r}")
    n = int(n)
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def pct(fraction: float | None, digits: int = 2) -> str:
    """A fraction as a percentage for tables: ``0.9789`` -> ``"97.89%"``; None -> ``"n/a"``."""
    return "n/a" if fraction is None else f"{100 * fraction:.{digits}f}%"
