"""Emulated DDR with a contiguous (CMA) region: physical addresses, buffers and CPU cache copies.

``pynq.allocate`` on a board hands out physically contiguous buffers from the CMA region (through
XRT). Here a numpy byte array plays the region; a buffer's physical address is ``CMA_BASE + offset``.
A *cacheable* buffer gets a separate CPU copy: the CPU writes only that copy until ``flush()``
copies it to DDR, and sees what the DMA wrote only after ``invalidate()`` - so a forgotten flush or
invalidate gives the same stale data as on a board. Non-cacheable buffers (pynq's default) are the
DDR bytes themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAGE = 4096
MIN_BUFFER = 8192  # pynq 3.1.2's XRT workaround allocates at least 8 KiB per buffer


@dataclass
class Buffer:
    """One allocated buffer: where it is, how big, and the array the CPU sees."""

    bo: int
    offset: int
    size: int
    nbytes: int
    cacheable: bool
    cpu: np.ndarray


class ContiguousMemory:
    """A CMA region of ``size`` bytes at physical address ``base``, first-fit page allocator."""

    def __init__(self, base: int, size: int):
        self.base, self.size = base, size
        self.ddr = np.zeros(size, dtype=np.uint8)  # zero pages: the OS maps them lazily
        self._free: list[tuple[int, int]] = [(0, size)]
        self.buffers: dict[int, Buffer] = {}
        self._next_bo = 1

    def allocate(self, nbytes: int, cacheable: bool) -> Buffer:
        """Reserve a buffer of ``nbytes`` (page granular, at least 8 KiB); RuntimeError when full."""
        size = max(MIN_BUFFER, -(-max(nbytes, 1) // PAGE) * PAGE)
        for i, (off, length) in enumerate(self._free):
            if length >= size:
                self._free[i] = (off + size, length - size)
                break
        else:
            used = sum(b.size for b in self.buffers.values())
            raise RuntimeError(
                f"Failed to allocate a buffer of {nbytes:,} bytes: the contiguous memory (CMA, "
                f"{self.size >> 20} MiB) has {self.size - used:,} bytes free in pieces. Free buffers you no "
                "longer need (del buf, buf.freebuffer(), or allocate inside a `with` block).")
        self._free = [f for f in self._free if f[1] > 0]
        if cacheable:
            cpu = self.ddr[off:off + nbytes].copy()
        else:
            cpu = self.ddr[off:off + nbytes]
        buf = Buffer(self._next_bo, off, size, nbytes, cacheable, cpu)
        self.buffers[buf.bo] = buf
        self._next_bo += 1
        return buf

    def free(self, bo: int) -> None:
        """Give a buffer back (pynq calls this when the PynqBuffer is freed)."""
        buf = self.buffers.pop(bo, None)
        if buf is None:
            return
        self._free.append((buf.offset, buf.size))
        self._free.sort()
        merged: list[tuple[int, int]] = []
        for off, length in self._free:
            if merged and merged[-1][0] + merged[-1][1] == off:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((off, length))
        self._free = merged

    def flush(self, bo: int, offset: int, size: int) -> None:
        """CPU cache -> DDR for part of a cacheable buffer (nothing to do if uncached)."""
        buf = self.buffers.get(bo)
        if buf is not None and buf.cacheable:
            o = buf.offset + offset
            self.ddr[o:o + size] = buf.cpu[offset:offset + size]

    def invalidate(self, bo: int, offset: int, size: int) -> None:
        """DDR -> CPU view for part of a cacheable buffer (nothing to do if uncached)."""
        buf = self.buffers.get(bo)
        if buf is not None and buf.cacheable:
            o = buf.offset + offset
            buf.cpu[offset:offset + size] = self.ddr[o:o + size]

    def offset_of(self, phys: int, nbytes: int) -> int | None:
        """Offset into the region of ``[phys, phys+nbytes)``, or None if it is not inside the region."""
        off = phys - self.base
        if off < 0 or off + nbytes > self.size:
            return None
        return off

    def owner(self, off: int, nbytes: int) -> Buffer | None:
        """The live buffer containing region bytes ``[off, off+nbytes)``, if any."""
        for buf in self.buffers.values():
            if buf.offset <= off and off + nbytes <= buf.offset + buf.size:
                return buf
        return None

    def overlaps(self, off: int, nbytes: int) -> bool:
        """True if region bytes ``[off, off+nbytes)`` touch a live buffer (False: freed, never allocated)."""
        return any(b.offset < off + nbytes and off < b.offset + b.size for b in self.buffers.values())
