"""A virtual Zynq-7020 board as a ``pynq`` device: the real Overlay, allocate, MMIO and DMA run unchanged.

pynq finds devices through ``pynq.Device``'s metaclass, which calls ``_probe_()`` on every Device
subclass, ordered by ``_probe_priority_`` (lower = preferred: a real board's EmbeddedDevice is 50,
remote devices 100, XRT cards 200). This device has priority 900 and reports itself only when
``PYNQ_VIRTUAL_BOARD`` is set, no real board is present and no remote board was asked for; so on a
board the real device wins and nothing is emulated. Below pynq it emulates:

* register access (pynq's ``REGISTER_RW`` capability): the SLCR clock registers, an AXI DMA model
  per ``axi_dma`` in the .hwh (:mod:`.axidma`), plain register files for other IP;
* ``allocate``: buffers with physical addresses in an emulated CMA region (:mod:`.memory`), with a
  CPU cache copy for cacheable buffers;
* the accelerator behind each DMA's streams, from the deploy package next to the .bit.

It relies on pynq 3.1.2 internals (``DeviceMeta`` probing, ``REGISTER_RW``, ``PynqBuffer.pointer`` /
``return_to``); tests pin them.
"""
from __future__ import annotations

import os
import struct
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

from .axidma import AxiDmaModel, TransferRecord, install_sleep_hook
from .errors import VirtualBoardError, user_stacklevel
from .memory import ContiguousMemory

BOARDS = {"pynq-z1": "Pynq-Z1", "pynq-z2": "Pynq-Z2", "zybo-z7-20": "Zybo-Z7-20", "zybo-z7": "Zybo-Z7-20"}
CMA_BASE = 0x16800000
CMA_SIZE = 128 << 20
DDR_SIZES = {"Pynq-Z1": 512 << 20, "Pynq-Z2": 512 << 20, "Zybo-Z7-20": 1 << 30}
SLCR_BASE = 0xF8000000
PS_CLK_MHZ = 50.0
# Reset values of the SLCR clock registers (PS_CLK 50 MHz): ARM PLL x26, DDR PLL x21, IO PLL x20
# (1000 MHz), CPU 650 MHz, FCLK0 = IO PLL / 5 / 2 = 100 MHz.
SLCR_RESET = {0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12, 0x120: 2 << 8,
              0x170: (2 << 20) | (5 << 8), 0x180: (1 << 20) | (1 << 8), 0x190: (1 << 20) | (1 << 8),
              0x1A0: (1 << 20) | (1 << 8)}
DEFAULT_HANG_TIMEOUT_S = 2.0
DEFAULT_STREAM_SLACK_BYTES = 4096


def board_name(value: str) -> str:
    """The board a ``PYNQ_VIRTUAL_BOARD`` value asks for (``1``/``true`` mean the PYNQ-Z2)."""
    key = value.strip().lower()
    if key in ("1", "true", "yes", "on"):
        return "Pynq-Z2"
    if key not in BOARDS:
        raise ValueError(f"PYNQ_VIRTUAL_BOARD={value!r}: use one of Pynq-Z1, Pynq-Z2, Zybo-Z7-20.")
    return BOARDS[key]


def real_board_present() -> bool:
    """True on a Zynq running PYNQ (the FPGA manager exists): then nothing is emulated."""
    return Path("/sys/class/fpga_manager/fpga0/firmware").exists()


class RegisterFile:
    """Plain 32-bit registers (SLCR, AXI-Lite IP without a model): reads return what was written."""

    def __init__(self, base: int, size: int, init: dict[int, int] | None = None):
        self.base, self.size = base, size
        self.regs = dict(init or {})

    def read(self, off: int) -> int:
        """Register value at byte offset ``off``."""
        return self.regs.get(off, 0)

    def write(self, off: int, value: int) -> None:
        """Store ``value`` at byte offset ``off``."""
        self.regs[off] = value


class _Memory:
    """What pynq calls ``device.default_memory``: allocate() and the buffer return path."""

    def __init__(self, device: VirtualZynqDevice):
        self.device = device

    def allocate(self, shape: Any, dtype: Any, cacheable: int = 0, **kwargs: Any) -> PynqBuffer:
        """A PynqBuffer in the emulated CMA region (pynq.allocate lands here)."""
        dtype = np.dtype(dtype)
        elems = int(np.prod(shape, dtype=np.int64)) if np.ndim(shape) else int(shape)
        nbytes = elems * dtype.itemsize
        mem = self.device.memory
        buf = mem.allocate(nbytes, bool(cacheable))
        arr = PynqBuffer(shape, dtype, buffer=buf.cpu.data, device=self.device,
                         device_address=mem.base + buf.offset, bo=buf.bo, coherent=False)
        arr.memory, arr.pointer, arr.return_to = self, buf.bo, self
        arr.freed = True  # freeing goes through return_pointer only (no munmap: nothing was mapped)
        return arr

    def return_pointer(self, bo: int) -> None:
        """pynq gives a buffer back when it is freed."""
        self.device.memory.free(bo)


class VirtualZynqDevice(Device):
    """pynq Device of an emulated Zynq-7020 board (PYNQ-Z1, PYNQ-Z2 or Zybo Z7-20)."""

    _probe_priority_ = 900

    @classmethod
    def _probe_(cls) -> list[VirtualZynqDevice]:
        """pynq asks every device type for devices: one virtual board, if it is switched on."""
        value = os.environ.get("PYNQ_VIRTUAL_BOARD", "")
        if value.strip() in ("", "0") or real_board_present() or os.environ.get("PYNQ_REMOTE_DEVICES"):
            return []
        return [cls(board_name(value))]

    def __init__(self, board: str = "Pynq-Z2"):
        super().__init__("virtual0")
        self.name = board
        install_sleep_hook()
        self.ddr_size = DDR_SIZES[board]
        self.arch = "armv7l"  # pynq.ps.Clocks takes the Zynq-7000 path
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.memory = ContiguousMemory(CMA_BASE, CMA_SIZE)
        self.default_memory = _Memory(self)
        self.slcr = RegisterFile(SLCR_BASE, 0x1000, SLCR_RESET)
        self.slaves: list[Any] = [self.slcr]
        self.dmas: dict[str, AxiDmaModel] = {}
        self.emulation_s = 0.0  # wall time spent computing the accelerator (RTL or model) and DMA moves
        self.records: list[TransferRecord] = []
        self.hang_timeout_s = float(os.environ.get("PYNQ_VIRTUAL_BOARD_TIMEOUT", DEFAULT_HANG_TIMEOUT_S))
        self.stream_slack_bytes = int(os.environ.get("PYNQ_VIRTUAL_BOARD_FIFO_BYTES",
                                                     DEFAULT_STREAM_SLACK_BYTES))
        self.timestamp = ""
        self.bitfile_name = ""

    def __repr__(self) -> str:
        return f"<VirtualZynqDevice {self.name}: emulated Zynq-7020, pynq virtual board>"

    # ---- metadata and "programming" ---------------------------------------------------------------
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False) -> Any:
        """pynq's own metadata parser on the .hwh next to the bitstream (as on a board)."""
        from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser
        from pynqmetadata.frontends import Metadata

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise RuntimeError(f"Unable to find metadata for bitstream: {hwh.name} is missing next to "
                               f"{Path(bitfile_name).name} (pynq needs both, same name).")
        parser = RuntimeMetadataParser(Metadata(input=hwh))
        parser.refresh_hierarchy_dict()
        return parser

    def download(self, bitstream: Any, parser: Any = None) -> None:
        """'Program the PL': build a model of every addressable IP of the .hwh, empty streams."""
        from .accelerator import load_endpoint
        from .streams import trace_streams

        hwh = Path(bitstream.bitfile_name).with_suffix(".hwh")
        paths = trace_streams(hwh)
        slaves: list[Any] = [self.slcr]
        dmas = {}
        for name, ip in parser.ip_dict.items():
            if "phys_addr" not in ip or ip.get("addr_range") is None:
                continue
            if str(ip.get("type", "")).startswith("xilinx.com:ip:axi_dma:"):
                path = paths.get(name)
                endpoint = None
                if path is not None and path.target not in (None, name):
                    endpoint = load_endpoint(path.target, Path(bitstream.bitfile_name))
                model: Any = AxiDmaModel(self, name, ip, path, endpoint)
                dmas[name] = model
            else:
                model = RegisterFile(int(ip["phys_addr"]), int(ip["addr_range"]))
            slaves.append(model)
        from . import axidma

        for old in getattr(self, "dmas", {}).values():
            old.settle(flush=True)  # what the old design's DMA already wrote stays in DDR
        self.slaves, self.dmas = slaves, dmas
        axidma.ACTIVE[:] = list(dmas.values())
        self._check_clock(parser)
        super().post_download(bitstream, parser, self.name)

    def _check_clock(self, parser: Any) -> None:
        """Warn when FCLK0 runs faster than the accelerators were built for."""
        fclk = self.fclk0_mhz()
        for dma in self.dmas.values():
            ep = dma.endpoint
            if ep is not None and fclk > ep.clock_mhz * 1.001:
                warnings.warn(f"FCLK0 is {fclk:g} MHz but {ep.instance} was built for "
                              f"{ep.clock_mhz:g} MHz: on a board the design may fail timing (wrong results "
                              "or a hang).", stacklevel=user_stacklevel())

    def gen_cache(self, bitstream: Any, parser: Any = None) -> None:
        """Nothing to cache for a virtual board."""

    def shutdown(self) -> None:
        """No PL to shut down."""

    def close(self) -> None:
        """Nothing to close."""

    # ---- AXI-Lite register access (pynq MMIO with REGISTER_RW) ---------------------------------
    def _slave(self, address: int) -> Any:
        """The model answering at ``address``; VirtualBoardError where no IP is."""
        for s in self.slaves:
            if s.base <= address < s.base + s.size:
                return s
        raise VirtualBoardError(
            f"AXI access to {address:#010x}, where no IP answers. On a real Zynq this usually locks up the "
            "board until a power cycle. Check the address against overlay.ip_dict (phys_addr, addr_range) "
            "and that the overlay is loaded.")

    def read_registers(self, address: int, length: int) -> bytes:
        """Read ``length`` bytes of 32-bit registers starting at ``address``."""
        s = self._slave(address)
        words = [s.read(address - s.base + i) & 0xFFFFFFFF for i in range(0, length, 4)]
        return struct.pack(f"<{len(words)}I", *words)[:length]

    def write_registers(self, address: int, data: bytes) -> None:
        """Write 32-bit registers from ``data`` starting at ``address``."""
        s = self._slave(address)
        for i in range(0, len(data), 4):
            value = struct.unpack("<I", bytes(data[i:i + 4]).ljust(4, b"\0"))[0]
            s.write(address - s.base + i, value)

    # ---- memory --------------------------------------------------------------------------------------
    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """CPU cache -> DDR (PynqBuffer.flush)."""
        self.memory.flush(bo, offset, size)

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """DDR -> CPU view (PynqBuffer.invalidate): what the DMA has written by now."""
        for dma in getattr(self, "dmas", {}).values():
            dma.settle()
        self.memory.invalidate(bo, offset, size)

    # ---- clocks and the timing log ------------------------------------------------------------------
    def fclk0_mhz(self) -> float:
        """FCLK0 from the SLCR registers, as pynq's Overlay.download programmed it."""
        reg = self.slcr.regs
        src = (reg.get(0x170, 0) >> 4) & 0x3
        pll = {0: 0x108, 1: 0x108, 2: 0x100, 3: 0x104}[src]
        fdiv = (reg.get(pll, 0) >> 12) & 0x7F
        div0, div1 = (reg.get(0x170, 0) >> 8) & 0x3F, (reg.get(0x170, 0) >> 20) & 0x3F
        if not (fdiv and div0 and div1):
            return 100.0
        return PS_CLK_MHZ * fdiv / div0 / div1

    def clock(self) -> float:
        """The board's time in seconds: the wall clock minus the time the emulator spent computing.

        Simulated transfers run against this clock, so a batch that takes the RTL simulation a second of
        wall time still arrives at its simulated rate: a program that reads the receive buffer right after
        transfer() sees only what a board would have written by then. Everything a program does while it
        waits (register reads, wait(), time.sleep, its own Python) advances it.
        """
        return time.perf_counter() - self.emulation_s

    def log(self, record: TransferRecord) -> None:
        """Keep a completed transfer's modelled timing (bounded log)."""
        self.records.append(record)
        if len(self.records) > 100_000:
            del self.records[:50_000]

    def modelled_seconds(self, since: int = 0) -> tuple[float, int]:
        """Modelled hardware time and samples of the S2MM packets logged after record ``since``."""
        recs = [r for r in self.records[since:] if r.channel == "S2MM"]
        return sum(r.modelled_s for r in recs), sum(r.samples for r in recs)

    def timing_source(self, since: int = 0) -> tuple[str, float]:
        """What timed the S2MM packets after record ``since`` ("RTL-simulated", "model", or both joined
        with " + "), and their FCLK0 cycles."""
        recs = [r for r in self.records[since:] if r.channel == "S2MM"]
        sources = sorted({r.source for r in recs}) or ["model"]
        return " + ".join(sources), sum(r.cycles for r in recs)


def now() -> float:
    """Wall clock used by the timing helpers (perf_counter)."""
    return time.perf_counter()
