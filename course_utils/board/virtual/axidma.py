"""Register-level model of the Xilinx AXI DMA v7.1 in simple (direct register) mode, per PG021.

The real ``pynq.lib.dma.DMA`` driver programs it exactly as on a board: DMACR.RS to start a
channel, the address (SA/DA + MSB), then LENGTH, which starts a transfer; it polls DMASR (bit 0
Halted, bit 1 Idle, bits 4-6 DMAIntErr/DMASlvErr/DMADecErr). Behind MM2S and S2MM sits the stream
path found in the .hwh (:mod:`.streams`): the accelerator, and the kit's TLAST packetizer that ends
one S2MM packet after the frames of each MM2S packet. Modelled, like the hardware:

* LENGTH is ``c_sg_length_width`` bits wide; 0 gives DMAIntErr; an address outside the DMA's
  address map gives DMADecErr; each error halts the channel until a reset (DMACR bit 2).
* Back-pressure: while no S2MM transfer runs, the return path holds only ``stream_slack_bytes`` of
  accelerator output (FIFOs, converters; an assumption, plus any axis_data_fifo in the .hwh), then
  the accelerator, and so MM2S, stall.
* S2MM completes at TLAST. A receive buffer shorter than the packet gives DMAIntErr and a halt;
  without TLAST (no packetizer) S2MM never completes.
* Both sides run on the board's clock (``device.clock``): MM2S reads the send buffer from DDR as the
  transfer progresses (:meth:`AxiDmaModel._mm2s_due`), so what the program writes there before the DMA
  has read it is sent; received frames reach DDR at their simulated arrival (:meth:`AxiDmaModel._settle`).
* A transfer completes no earlier than its modelled time (cycles at FCLK0); where a board would
  poll DMASR forever, :class:`VirtualBoardHang` is raised after ``hang_timeout_s`` with a diagnosis.
"""
from __future__ import annotations

import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, SupportsIndex

import numpy as np

from .errors import VirtualBoardError, VirtualBoardHang, user_stacklevel
from .memory import ContiguousMemory

if TYPE_CHECKING:
    from .accelerator import AcceleratorEndpoint
    from .streams import StreamPath

RS, RESET = 0x1, 0x4
HALTED, IDLE, INTERR, SLVERR, DECERR, IOC_IRQ, DLY_IRQ, ERR_IRQ = (
    0x1, 0x2, 0x10, 0x20, 0x40, 0x1000, 0x2000, 0x4000)
ERRORS = INTERR | SLVERR | DECERR
CR_RESET_VALUE = 0x00010002  # PG021: IRQThreshold = 1, bit 1 reads as 1
SR_RESET_VALUE = 0x00010001  # PG021: halted, IRQThresholdSts = 1
IN_SLACK_FRAMES = 2          # input frames the stream can hold in front of a busy accelerator
POLL_GAP_S = 0.25            # status reads further apart than this are not a busy-wait loop
HP_PORT_BYTES = 8            # the Zynq-7000 S_AXI_HP port the DMA uses: 64 bit per FCLK0 cycle
DMA_START_CYCLES = 30
"""DMA/DDR overhead per transfer (an assumption, documented in docs/board.md): from the LENGTH write to
the first beat in the stream, the DMA issues its first AXI read burst and the DDR controller answers
(about 100-200 ns on a Zynq-7020), i.e. ~30 cycles at 100 MHz. Later bursts are pipelined: in steady
state the DMA moves min(stream width, memory-map width, HP port width) bytes per FCLK0 cycle."""


_real_sleep = time.sleep
ACTIVE: list = []  # the AXI DMA models of the loaded overlay (time.sleep lets their data arrive)
SLEEPS = [0]  # time.sleep calls since start-up (a poll after a sleep belongs to a polling loop)


def _sleep(seconds: float | SupportsIndex) -> None:
    """``time.sleep`` on the virtual board: counted, so a loop that polls the DMA between sleeps of any
    length is recognised as a busy-wait (and ends with a diagnosis where a board would hang)."""
    SLEEPS[0] += 1
    _real_sleep(seconds)
    for dma in list(ACTIVE):
        dma.settle()


def install_sleep_hook() -> None:
    """Route ``time.sleep`` through :func:`_sleep` (idempotent)."""
    if time.sleep is not _sleep:
        time.sleep = _sleep


@dataclass
class TransferRecord:
    """A completed transfer with its modelled duration (the virtual board's timing log)."""

    dma: str
    channel: str
    nbytes: int
    samples: int
    modelled_s: float
    source: str = "model"   # what timed it: "RTL-simulated" (measured RTL cycles) or "model" (estimates)
    cycles: float = 0.0     # FCLK0 cycles of the modelled time


class Channel:
    """One direction of the DMA: its registers and the transfer in flight."""

    def __init__(self, name: str, label: str):
        self.name, self.label = name, label  # "MM2S", "sendchannel"
        self.reset()

    def reset(self) -> None:
        """Registers to their reset values; forget the transfer in flight."""
        self.cr, self.sr = CR_RESET_VALUE, SR_RESET_VALUE
        self.addr = self.addr_msb = self.length = 0
        self.busy = False
        self.started = False        # a transfer was started since the channel was (re)started
        self.want_rs = False        # what software last wrote to DMACR.RS
        self.error_note = ""
        self.offset = 0             # DDR offset of the transfer
        self.done = 0               # bytes moved so far
        self.t_start = 0.0
        self.t_done: float | None = None  # completed, idle once the wall clock passes this
        self.stuck_since: float | None = None
        self.last_poll = 0.0
        self.sleeps = 0             # SLEEPS[0] at the last status read

    @property
    def phys(self) -> int:
        """The 64-bit address programmed in SA/DA (+MSB)."""
        return (self.addr_msb << 32) | self.addr


class DmaBoard(Protocol):
    """What a DMA model needs from its board (``device.VirtualZynqDevice`` is one): memory, the board's
    clock and FCLK0, the timing log. A protocol, so this module does not import the device module above it."""

    memory: ContiguousMemory
    ddr_size: int
    emulation_s: float
    hang_timeout_s: float
    stream_slack_bytes: int

    def clock(self) -> float: ...

    def fclk0_mhz(self) -> float: ...

    def log(self, record: TransferRecord) -> None: ...


class AxiDmaModel:
    """One AXI DMA instance with the stream path behind it."""

    def __init__(self, device: DmaBoard, name: str, ip: dict, path: StreamPath | None,
                 endpoint: AcceleratorEndpoint | None):
        params = {k.lower(): v for k, v in ip.get("parameters", {}).items()}
        self.device, self.name = device, name
        self.base, self.size = int(ip["phys_addr"]), int(ip["addr_range"])
        self.params = params
        self.length_bits = int(params.get("c_sg_length_width", 14))
        self.sg = bool(int(params.get("c_include_sg", 0)))
        self.mm2s_bpc = _bytes_per_cycle(params, "mm2s")
        self.s2mm_bpc = _bytes_per_cycle(params, "s2mm")
        self.path, self.endpoint = path, endpoint
        self.loopback = path is not None and path.target == name
        self.tlast = bool(path and (path.tlast or self.loopback))
        self.slack_bytes = device.stream_slack_bytes + (path.fifo_bytes if path else 0)
        self.mm2s, self.s2mm = Channel("MM2S", "sendchannel"), Channel("S2MM", "recvchannel")
        self._clear_streams()

    def _clear_streams(self) -> None:
        """Empty every stream buffer (a fresh bitstream)."""
        self.in_buf = bytearray()           # bytes in front of the accelerator
        self.arrived = 0                    # input bytes accepted since the bitstream was loaded
        self.packet_start = 0               # ``arrived`` when the current MM2S packet began
        self.frames_per_packet: deque[int] = deque()  # the packetizer's FIFO of frame counts
        self.out_frames = 0                 # output frames since the last TLAST
        self.out_pkt_start = 0              # stream position of the first of those frames
        self.out_q = bytearray()            # accelerator output not yet taken by S2MM
        self.out_abs = 0                    # stream position of out_q[0]
        self.marks: deque[int] = deque()    # stream positions right after a TLAST beat
        self.last_send_start = 0.0
        self._settle_lock = getattr(self, "_settle_lock", None) or threading.RLock()
        self._arrivals_running = getattr(self, "_arrivals_running", False)
        self.mm2s_timed = False             # the send transfer waits only for (simulated) time to pass
        self.deferred: list[str] = getattr(self, "deferred", [])  # warnings for the program's next access
        self.pending: deque[tuple[int, bytes, int, float]] = deque()
        """S2MM writes not yet visible in DDR: (DDR offset, bytes, first frame index, packet start)."""

    # ---- warnings found while the transfers move on their own ------------------------------------
    def _warn(self, message: str) -> None:
        """Warn the program now, or at its next register access if the transfers moved on their own
        (the background thread): a warning belongs to the program's cell, not to a thread."""
        if threading.current_thread() is threading.main_thread():
            warnings.warn(message, stacklevel=user_stacklevel())
        else:
            self.deferred.append(message)

    def _emit_deferred(self) -> None:
        """Give the program the warnings found while it was doing something else."""
        while self.deferred and threading.current_thread() is threading.main_thread():
            warnings.warn(self.deferred.pop(0), stacklevel=user_stacklevel())

    # ---- AXI-Lite -------------------------------------------------------------------------------
    def _channel(self, off: int) -> tuple[Channel, int]:
        """The channel a register offset belongs to, and the offset within it."""
        return (self.mm2s, off) if off < 0x30 else (self.s2mm, off - 0x30)

    def read(self, off: int) -> int:
        """A 32-bit register read at byte offset ``off`` (serialised with the background thread)."""
        with self._settle_lock:
            return self._read(off)

    def _read(self, off: int) -> int:
        ch, reg = self._channel(off)
        if reg == 0x00:
            return ch.cr
        if reg == 0x04:
            status = self._status(ch)
            self._emit_deferred()
            return status
        if reg == 0x18:
            return ch.addr
        if reg == 0x1C:
            return ch.addr_msb
        if reg == 0x28:
            return ch.length
        return 0

    def write(self, off: int, value: int) -> None:
        """A 32-bit register write at byte offset ``off`` (serialised with the background thread)."""
        with self._settle_lock:
            self._write(off, value)

    def _write(self, off: int, value: int) -> None:
        ch, reg = self._channel(off)
        for c in (self.mm2s, self.s2mm):
            c.stuck_since = None
        if reg == 0x00:
            self._control(ch, value)
        elif reg == 0x04:
            ch.sr &= ~(value & (IOC_IRQ | DLY_IRQ | ERR_IRQ))  # write 1 to clear
        elif reg == 0x18:
            ch.addr = value
        elif reg == 0x1C:
            ch.addr_msb = value
        elif reg == 0x28:
            self._start(ch, value & ((1 << self.length_bits) - 1))
        self._emit_deferred()

    def _control(self, ch: Channel, value: int) -> None:
        """A DMACR write: soft reset, or RS (run/stop)."""
        if value & RESET:  # soft reset: the whole DMA (both channels); streams outside it keep data
            self.settle(flush=True)
            self.mm2s.reset()
            self.s2mm.reset()
            return
        ch.want_rs = bool(value & RS)
        if ch.sr & ERRORS:  # PG021: after an error only a reset restarts the channel
            ch.cr = (value & ~RS) | (ch.cr & 0x2)
            return
        was_running = bool(ch.cr & RS)
        ch.cr = value | 0x2
        if value & RS:
            ch.sr &= ~HALTED
            if not was_running:
                ch.started = False
        elif not ch.busy:
            ch.sr |= HALTED
        self._pump()

    # ---- transfers ------------------------------------------------------------------------------
    def _start(self, ch: Channel, nbytes: int) -> None:
        """A LENGTH write: start a transfer if the channel runs and is not busy."""
        if ch.sr & HALTED or not ch.cr & RS or ch.busy:
            return  # PG021: LENGTH written while halted or busy does not start a transfer
        ch.started, ch.busy, ch.done, ch.t_done = True, True, 0, None
        ch.sr &= ~IDLE
        ch.length = nbytes
        ch.t_start = self.device.clock()
        if nbytes == 0:
            self._error(ch, INTERR, "LENGTH was written with 0.")
            return
        off = self.device.memory.offset_of(ch.phys, nbytes)
        if off is None:
            if ch.phys + nbytes > self.device.ddr_size:
                self._error(ch, DECERR, f"address {ch.phys:#x} + {nbytes:,} bytes is outside the DDR the "
                                        "DMA can reach.")
                return
            ch.busy = False
            raise VirtualBoardError(
                f"{self.name}.{ch.label}: address {ch.phys:#x} is DDR that pynq did not allocate (Linux's "
                "own memory). On a board the DMA would read or overwrite it (garbage, or a crash). "
                "Program the DMA with buffer.physical_address of a buffer from pynq.allocate().")
        owner = self.device.memory.owner(off, nbytes)
        if owner is None and self.device.memory.overlaps(off, nbytes):
            if ch is self.s2mm:
                ch.busy = False
                raise VirtualBoardError(
                    f"{self.name}.recvchannel: the S2MM transfer of {nbytes:,} bytes at {ch.phys:#x} does "
                    "not fit inside one allocated buffer. On a board the DMA would overwrite whatever memory "
                    "follows (other buffers or Linux's own: silent corruption or a crash). Pass a buffer "
                    "from pynq.allocate() that is at least as large as nbytes.")
            warnings.warn(f"{self.name}.sendchannel reads {nbytes:,} bytes at {ch.phys:#x}, beyond the "
                          "buffer it starts in: the accelerator gets whatever memory follows.",
                          stacklevel=user_stacklevel())
        # A freed buffer (no live buffer there at all): the DMA reads or writes that memory silently, as on
        # a board; a buffer allocated there later shares it (aliasing shows as wrong results).
        ch.offset = off
        if ch is self.mm2s:
            self.packet_start = self.arrived
            self.last_send_start = ch.t_start
        self._pump()

    def _error(self, ch: Channel, bit: int, why: str) -> None:
        """Set an error bit and halt the channel, as the hardware does."""
        ch.sr = (ch.sr | bit | HALTED) & ~IDLE
        ch.cr &= ~RS
        ch.busy = False
        ch.error_note = why

    def _pump(self) -> None:
        """Move data MM2S -> accelerator -> S2MM until nothing more can move by now (the board's clock).

        The clock is read once: the emulator's own compute time in this call is no board time (see
        ``device.clock``), so what is due is what a board would have moved by the moment of the call.
        """
        with self._settle_lock:
            now = self.device.clock()
            t0 = time.perf_counter()
            try:
                for _ in range(1_000_000):
                    if not self._step(now):
                        break
            finally:
                self.device.emulation_s += time.perf_counter() - t0
            if self.mm2s_timed:  # more is due later: keep it moving while the program does other things
                self._start_arrivals()

    def _frame_bytes(self) -> tuple[int, int]:
        """Bytes of one input and one output sample (1, 1 for a loopback)."""
        if self.endpoint is not None:
            return self.endpoint.in_frame_bytes, self.endpoint.out_frame_bytes
        return 1, 1  # loopback: bytes flow through as they come

    def _step(self, now: float) -> bool:
        """One round of drain, MM2S delivery and accelerator work; True if anything moved."""
        moved = self._drain()
        mm2s = self.mm2s
        fin, fout = self._frame_bytes()
        self.mm2s_timed = False
        if self.endpoint is None and not self.loopback:
            return moved  # MM2S leads nowhere: nothing moves
        room = self.slack_bytes - len(self.out_q) + self._s2mm_room()
        k_out = max(0, room // fout)
        if mm2s.busy and mm2s.done < mm2s.length:
            want = (k_out + (IN_SLACK_FRAMES if self.endpoint is not None else 0)) * fin - len(self.in_buf)
            wanted = int(min(max(want, 0), mm2s.length - mm2s.done))
            due = max(0, self._mm2s_due(now) - mm2s.done)  # bytes the DMA has read from DDR by now
            take = min(wanted, due)
            self.mm2s_timed = take < wanted  # waits for time to pass (not for room: back-pressure)
            if take:
                o = mm2s.offset + mm2s.done
                self.in_buf += self.device.memory.ddr[o:o + take].tobytes()
                mm2s.done += take
                self.arrived += take
                moved = True
            if mm2s.done == mm2s.length:
                self._end_of_send_packet(fin)
        k = min(len(self.in_buf) // fin, k_out)
        if k:
            data = np.frombuffer(bytes(self.in_buf[:k * fin]), dtype=np.uint8)
            del self.in_buf[:k * fin]
            out = data if self.endpoint is None else self.endpoint.process(data)
            base = self.out_abs + len(self.out_q)
            self.out_q += out.tobytes()
            if self.tlast and not self.loopback:
                self._mark_frames(k, base, fout)
            moved = True
        return moved

    def _end_of_send_packet(self, fin: int) -> None:
        """MM2S sent its last beat (with TLAST): the packetizer learns the packet's frame count."""
        mm2s = self.mm2s
        count = self.arrived // fin - self.packet_start // fin
        if self.loopback:
            self.marks.append(self.out_abs + len(self.out_q) + len(self.in_buf))
        elif count > 0:
            self.frames_per_packet.append(count)
            self._mark_known_frames(fout=self._frame_bytes()[1])
        mm2s.busy = False
        nbytes = mm2s.length
        seconds = self._mm2s_cycles(nbytes) / (self.device.fclk0_mhz() * 1e6)
        mm2s.t_done = mm2s.t_start + seconds
        self.device.log(TransferRecord(self.name, "MM2S", nbytes, count, seconds))

    # ---- the send side on the board's clock -------------------------------------------------------
    def _mm2s_due(self, now: float) -> int:
        """Bytes of the running send transfer the DMA has read from DDR by ``now`` (board time).

        MM2S reads DDR as the transfer progresses, as on a board: after ``DMA_START_CYCLES`` it moves
        ``mm2s_bpc`` bytes per FCLK0 cycle (the HP port), but runs at most ``IN_SLACK_FRAMES`` samples
        ahead of the accelerator, which takes one sample per initiation interval. So bytes the program
        writes into the send buffer after ``transfer()`` are sent if the DMA has not read them yet.
        """
        mm2s = self.mm2s
        c = (now - mm2s.t_start) * self.device.fclk0_mhz() * 1e6 - DMA_START_CYCLES
        if c <= 0:
            return 0
        due = int(c * self.mm2s_bpc)
        if self.endpoint is not None:
            fin = self.endpoint.in_frame_bytes
            due = min(due, (int(c / self.initiation_interval()) + 1 + IN_SLACK_FRAMES) * fin)
        return min(due, mm2s.length)

    def _mm2s_cycles(self, nbytes: int) -> float:
        """FCLK0 cycles from the LENGTH write until the DMA has read ``nbytes`` (the inverse of
        :meth:`_mm2s_due`)."""
        by_port = nbytes / self.mm2s_bpc
        if self.endpoint is None:
            return DMA_START_CYCLES + by_port
        fin = self.endpoint.in_frame_bytes
        frames = -(-nbytes // fin)
        by_accel = max(0, frames - 1 - IN_SLACK_FRAMES) * self.initiation_interval()
        return DMA_START_CYCLES + max(by_port, by_accel)

    def _mark_frames(self, k: int, base: int, fout: int) -> None:
        """The packetizer asserts TLAST after the last frame of each packet."""
        i = 0
        while i < k:
            if not self.frames_per_packet:
                self.out_frames += k - i
                return
            need = self.frames_per_packet[0] - self.out_frames
            if k - i < need:
                self.out_frames += k - i
                return
            i += need
            self.marks.append(base + i * fout)
            self.out_pkt_start = base + i * fout
            self.frames_per_packet.popleft()
            self.out_frames = 0

    def _mark_known_frames(self, fout: int) -> None:
        """The packet's count arrived after its last frames were computed (a send that ends with part of a
        sample: the last whole sample came before the end of the packet). The packetizer still gets the
        count before those results leave the accelerator (their latency is longer than the rest of the
        packet's input), so TLAST goes on the packet's last result as usual."""
        while self.frames_per_packet and self.out_frames >= self.frames_per_packet[0]:
            need = self.frames_per_packet.popleft()
            pos = self.out_pkt_start + need * fout
            self.marks.append(pos)
            self.out_pkt_start = pos
            self.out_frames -= need

    def _s2mm_room(self) -> int:
        """Bytes of new output the running S2MM transfer would still take (up to a known TLAST)."""
        s2mm = self.s2mm
        if not s2mm.busy:
            return 0
        room = s2mm.length - s2mm.done - len(self.out_q)
        if self.marks:
            room = min(room, self.marks[0] - self.out_abs - len(self.out_q))
        return max(0, room)

    def _drain(self) -> bool:
        """S2MM writes stream bytes to memory until TLAST or a full buffer."""
        s2mm = self.s2mm
        if not s2mm.busy:
            return False
        moved = False
        space = s2mm.length - s2mm.done
        n = len(self.out_q) if not self.marks else min(len(self.out_q), self.marks[0] - self.out_abs)
        n = min(n, space)
        if n > 0:
            o = s2mm.offset + s2mm.done
            data = bytes(self.out_q[:n])
            if self.endpoint is None:
                self.device.memory.ddr[o:o + n] = np.frombuffer(data, dtype=np.uint8)
            else:  # visible in DDR frame by frame as simulated time passes (see settle)
                fout = self.endpoint.out_frame_bytes
                self.pending.append((o, data, s2mm.done // fout, max(s2mm.t_start, self.last_send_start)))
                self._start_arrivals()
            del self.out_q[:n]
            self.out_abs += n
            s2mm.done += n
            moved = True
        if self.marks and self.marks[0] == self.out_abs:
            self.marks.popleft()
            self._finish_receive()
            return True
        if s2mm.done == s2mm.length and self.out_q:
            self._error(s2mm, INTERR, f"the receive buffer ({s2mm.length:,} bytes) filled up before the "
                                      "packet's TLAST arrived: more data came than the buffer holds.")
            self._warn(
                f"virtual board: {self.name} S2MM buffer ({s2mm.length:,} bytes) is shorter than the packet "
                f"of results: DMAIntErr, the receive channel halted (on a board too). pynq then reports "
                f"'DMA channel not started'. Allocate the receive buffer for batch x "
                f"{self._frame_bytes()[1]} bytes, then reload the overlay (results still sit in the "
                "stream).")
            return True
        return moved

    def _finish_receive(self) -> None:
        """S2MM saw TLAST: record the received length and the modelled completion time."""
        s2mm = self.s2mm
        s2mm.busy = False
        s2mm.length = s2mm.done  # LENGTH now reads the bytes actually received (pynq: .transferred)
        fout = self._frame_bytes()[1]
        frames = s2mm.done // fout
        seconds = self.packet_seconds(frames) if self.endpoint is not None else s2mm.done / self.s2mm_bpc / (
            self.device.fclk0_mhz() * 1e6)
        s2mm.t_done = max(s2mm.t_start, self.last_send_start) + seconds
        source = self.endpoint.label if self.endpoint is not None else "model"
        self.device.log(TransferRecord(self.name, "S2MM", s2mm.done, frames, seconds, source,
                                       seconds * self.device.fclk0_mhz() * 1e6))

    # ---- timing ---------------------------------------------------------------------------------
    def _endpoint(self) -> AcceleratorEndpoint:
        """The accelerator behind this DMA (timing needs one)."""
        if self.endpoint is None:
            raise RuntimeError(f"{self.name}: no accelerator is connected to this DMA in the .hwh, so its "
                               "timing cannot be modelled; check the deploy package's .hwh.")
        return self.endpoint

    def initiation_interval(self) -> float:
        """Cycles between samples in steady state: the slowest of accelerator, MM2S and S2MM."""
        ep = self._endpoint()
        return max(ep.cycles_per_sample, ep.in_frame_bytes / self.mm2s_bpc,
                   ep.out_frame_bytes / self.s2mm_bpc)

    def packet_seconds(self, samples: int) -> float:
        """Modelled time for one packet of ``samples``: latency + (samples - 1) intervals, at FCLK0."""
        if samples <= 0:
            return 0.0
        ep = self._endpoint()
        latency = max(ep.latency_cycles, ep.in_frame_bytes / self.mm2s_bpc)
        cycles = DMA_START_CYCLES + latency + (samples - 1) * self.initiation_interval()
        return cycles / (self.device.fclk0_mhz() * 1e6)

    def _start_arrivals(self) -> None:
        """A daemon thread that keeps the transfers moving on the board's clock while data is due (the send
        side reading DDR, received frames reaching DDR), so a program that polls the receive buffer itself
        (``while not obuf[-1].any(): pass``) sees the results arrive, as on a board."""
        with self._settle_lock:
            if self._arrivals_running:
                return
            self._arrivals_running = True

        def run() -> None:
            while True:
                _real_sleep(0.001)
                with self._settle_lock:
                    if self in ACTIVE:
                        self._pump()
                        self._settle(False)
                    if not (self.pending or self.mm2s_timed) or self not in ACTIVE:
                        self._arrivals_running = False
                        return

        threading.Thread(target=run, name=f"{self.name}-s2mm-arrivals", daemon=True).start()

    def settle(self, flush: bool = False) -> None:
        """Write the frames that have arrived by now (see :meth:`_settle`); thread-safe."""
        with self._settle_lock:
            self._settle(flush)

    def _settle(self, flush: bool = False) -> None:
        """Write to DDR the received frames whose simulated arrival time has passed (all with ``flush``).

        Frame ``j`` of a packet reaches DDR ``packet_seconds(j + 1)`` after the packet started, so a program
        that reads the receive buffer before ``wait()`` sees the frames written so far and stale bytes
        after them, as on a board. Called on every register read, ``time.sleep`` and cache invalidate.
        """
        if not self.pending:
            return
        now = self.device.clock()
        ddr = self.device.memory.ddr
        fout = self.endpoint.out_frame_bytes if self.endpoint is not None else 1
        while self.pending:
            o, data, first, t0 = self.pending[0]
            frames = len(data) // fout
            if flush:
                k = frames
            else:
                k = 0
                while k < frames and t0 + self.packet_seconds(first + k + 1) <= now:
                    k += 1 if frames - k < 64 else self._frames_by(t0, first + k, frames - k, now)
            if k:
                ddr[o:o + k * fout] = np.frombuffer(data[:k * fout], dtype=np.uint8)
            if k < frames:
                self.pending[0] = (o + k * fout, data[k * fout:], first + k, t0)
                return
            self.pending.popleft()

    def _frames_by(self, t0: float, first: int, most: int, now: float) -> int:
        """How many of ``most`` frames from index ``first`` have arrived by ``now`` (at least 1)."""
        lo, hi = 1, most
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if t0 + self.packet_seconds(first + mid) <= now:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # ---- status and hangs -------------------------------------------------------------------------
    def _status(self, ch: Channel) -> int:
        """A DMASR read: settle completions, detect a busy-wait that can never end."""
        self._pump()
        self.settle()
        now = self.device.clock()
        if ch.t_done is not None and not ch.busy and not ch.sr & ERRORS:
            if now < ch.t_done:
                return ch.sr  # the modelled transfer time has not passed yet
            ch.sr |= IDLE | IOC_IRQ
            ch.t_done = None
            if ch is self.s2mm:
                self.settle(flush=True)
            if not ch.cr & RS:
                ch.sr |= HALTED
        want, halted, idle = ch.want_rs, bool(ch.sr & HALTED), bool(ch.sr & IDLE)
        sleeps, ch.sleeps = ch.sleeps, SLEEPS[0]
        waiting = (want and not halted and not idle) or (want and halted) or (not want and not halted)
        if self.mm2s_timed and self.mm2s.busy:  # still moving on the board's clock: not a hang
            ch.stuck_since = None
        elif waiting and ch.t_done is None:
            slept = SLEEPS[0] != sleeps  # time.sleep between two polls: still the same waiting loop
            if ch.stuck_since is None or (now - ch.last_poll > POLL_GAP_S and not slept):
                ch.stuck_since = now
            ch.last_poll = now
            limit = self.device.hang_timeout_s
            if limit is not None and now - ch.stuck_since > limit:
                ch.stuck_since = None
                raise VirtualBoardHang(self.diagnose(ch))
        return ch.sr

    def diagnose(self, ch: Channel) -> str:
        """Why ``ch`` never becomes idle (or never starts/stops), and what to do."""
        head = (f"{self.name}.{ch.label} ({ch.name}) never changes state: on a real board this loop polls "
                "the DMA forever (interrupt the kernel, then reload the overlay).")
        fin, fout = self._frame_bytes()
        if ch.sr & ERRORS:
            return (f"{head} The channel halted after an error ({_error_names(ch.sr)}: {ch.error_note}) "
                    "and only a reset restarts it; setting RS (what start() does) is ignored. Fix: reload "
                    "the overlay (Overlay(...)), or reset the DMA by writing 4 to DMACR (offset 0x00), "
                    "then start both channels again.")
        if not ch.want_rs:
            return (f"{head} stop() cleared RS, but a transfer is still in flight and cannot finish "
                    f"({ch.done:,} of {ch.length:,} bytes moved). Reload the overlay to reset the DMA.")
        if not ch.started:
            verb = "send" if ch is self.mm2s else "receive"
            return (f"{head} No {verb} transfer was started since the channel was (re)started, so it "
                    f"never becomes idle. Fix: call dma.{ch.label}.transfer(buffer) before "
                    f"dma.{ch.label}.wait().")
        if ch is self.mm2s:
            if self.endpoint is None and not self.loopback:
                return f"{head} {self.name}/M_AXIS_MM2S is not connected to anything in the .hwh."
            return (f"{head} The send transfer moved {ch.done:,} of {ch.length:,} bytes and is stuck: the "
                    f"accelerator's results ({len(self.out_q):,} bytes) fill the stream FIFOs (about "
                    f"{self.slack_bytes:,} bytes) and no receive transfer is running to drain them, so the "
                    "accelerator and then MM2S stop (back-pressure). Fix: start "
                    "dma.recvchannel.transfer(obuf) before dma.sendchannel.wait(); the usual order is "
                    "send transfer, receive transfer, send wait, receive wait.")
        # S2MM
        msg = [head, f"The receive transfer has {ch.done:,} of {ch.length:,} bytes and waits for TLAST."]
        if not self.tlast:
            src = self.path.source if self.path else "?"
            msg.append(f"This design has no TLAST on the accelerator output: the .hwh shows no "
                       f"axis_tlast_packetizer between {src} and {self.name}/S_AXIS_S2MM, and a FINN "
                       "accelerator never asserts TLAST, so an S2MM transfer can never complete. Fix: use "
                       "the kit's block design (accelerator output -> axis_tlast_packetizer -> S2MM).")
        elif self.in_buf and self.endpoint is not None and not self.mm2s.busy:
            msg.append(f"{len(self.in_buf):,} byte(s) of an incomplete sample sit in front of the "
                       f"accelerator (one sample is {fin:,} bytes): the data sent is not a whole number of "
                       "samples, and the packetizer ends a packet only after whole samples. Fix: send "
                       f"batch x {fin:,} bytes, and reload the overlay to clear the leftover bytes (they "
                       "would shift every later sample).")
        elif self.mm2s.busy:
            msg.append("The send transfer is still waiting as well (see its diagnosis).")
        else:
            msg.append("Nothing more was sent: did you call dma.sendchannel.transfer(ibuf) for this batch? "
                       f"Each send of N samples gives one packet of N x {fout} result bytes.")
        return " ".join(msg)


def _error_names(sr: int) -> str:
    """The names of the error bits set in a DMASR value."""
    bits = ((INTERR, "DMAIntErr"), (SLVERR, "DMASlvErr"), (DECERR, "DMADecErr"))
    names = [n for bit, n in bits if sr & bit]
    return "+".join(names) or "no error"


def _bytes_per_cycle(params: dict, side: str) -> float:
    """Bytes per cycle a channel moves: the narrowest of its memory-map and stream widths and the 64-bit
    HP port between the DMA and DDR (a 128-bit stream still gets at most 8 bytes per FCLK0 cycle)."""
    stream_key = "c_m_axis_mm2s_tdata_width" if side == "mm2s" else "c_s_axis_s2mm_tdata_width"
    widths = [int(params[k]) for k in (f"c_m_axi_{side}_data_width", stream_key) if k in params]
    return max(1, min(*widths, HP_PORT_BYTES * 8) // 8) if widths else 4
