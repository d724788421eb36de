"""Build a simulated accelerator from a folded FINN model, and run batches through it.

``design = build(model)`` stitches, patches, generates the top and compiles it (cached);
``result = design.run(x)`` streams ``x`` (N samples of the input datatype's values) through the RTL
and returns the outputs and the cycle counts. ``build(model, kind="nodes")`` puts every layer on its
own channel; ``design.run(x, channel=k)`` then drives layer ``k`` alone.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils import fileio
from course_utils.board.rtlsim import open_library
from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART
from course_utils.rtl import top as gen
from course_utils.rtl.errors import AssertionFailedError, RTLError, StallError
from course_utils.rtl.patches import apply_patches
from course_utils.rtl.stitch import NodeInfo, collect_sources, read_nodes, stitch_model, write_nodes
from course_utils.rtl.verilate import compile_design

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


def default_folder(kind: str = "stitched") -> Path:
    """``build/rtl/<kind>`` (follows ``$COURSE_BUILD_DIR``)."""
    from course_utils.paths import build_dir

    return build_dir("rtl") / kind


def default_cache() -> Path:
    """Where compiled designs are cached: ``$COURSE_RTL_CACHE``, else the kit's ``build/rtl/cache``.

    Not under ``$COURSE_BUILD_DIR``: entries are keyed by a hash of their content, so every build
    folder (a notebook's, a test's) can share them, and a design is compiled once per checkout.
    """
    from course_utils.paths import kit_root

    return Path(os.environ.get("COURSE_RTL_CACHE") or kit_root() / "build" / "rtl" / "cache")


TRACE = ("in_tvalid", "in_tready", "out_tvalid", "out_tready", "out_tlast", "in_tdata", "out_tdata")
"""Columns of ``RunResult.trace`` (tdata: the low 32 bits of the word)."""


@dataclass
class RunResult:
    """Outputs and cycle counts of one batch through a simulated design."""

    outputs: np.ndarray
    out_cycle: np.ndarray
    samples: int
    cycles: int
    first_input_cycle: int
    words_out_per_sample: int
    clock_mhz: float
    wall_seconds: float
    cpu_seconds: float = 0.0
    """CPU time of the simulation (its speed on a loaded machine, where wall time also counts waiting)."""
    fifo_max: dict[str, int] = field(default_factory=dict)
    tlast_ok: bool | None = None
    taps: dict[str, np.ndarray] = field(default_factory=dict)
    tap_counts: dict[str, int] = field(default_factory=dict)
    """Words that moved on each internal stream (counted when ``capture`` > 0)."""
    trace: np.ndarray | None = None
    """With ``run(trace=n)``: one row per cycle of the first n cycles after reset, columns ``TRACE``."""

    @property
    def done_cycles(self) -> np.ndarray:
        """Cycle at which each sample's last output word left the design."""
        return self.out_cycle[self.words_out_per_sample - 1::self.words_out_per_sample]

    @property
    def latency_cycles(self) -> int:
        """Cycles from the first input word accepted to the first sample's last output word (inclusive)."""
        return int(self.done_cycles[0] - self.first_input_cycle + 1)

    @property
    def interval_cycles(self) -> float:
        """Initiation interval: cycles between consecutive samples' outputs in steady state (median of the
        second half of the batch); the latency when there is one sample."""
        d = np.diff(self.done_cycles)
        return float(np.median(d[len(d) // 2:])) if len(d) else float(self.latency_cycles)

    @property
    def fps(self) -> float:
        """Samples per second at the clock, from the measured interval."""
        return self.clock_mhz * 1e6 / self.interval_cycles

    def summary(self) -> dict[str, Any]:
        """Measured figures as a JSON-friendly dict."""
        return {"samples": self.samples, "cycles": self.cycles, "interval_cycles": self.interval_cycles,
                "latency_cycles": self.latency_cycles, "fps": self.fps,
                "latency_us": self.latency_cycles / self.clock_mhz, "clock_mhz": self.clock_mhz,
                "fifo_max_occupancy": dict(self.fifo_max),
                "max_fifo_occupancy": max(self.fifo_max.values(), default=0), "tlast_ok": self.tlast_ok,
                "sim_seconds": round(self.wall_seconds, 3), "sim_cpu_seconds": round(self.cpu_seconds, 3)}


@dataclass
class Design:
    """A compiled, simulatable design: its nodes, channels, taps, FIFOs and library."""

    kind: str
    folder: Path
    nodes: list[NodeInfo]
    taps: list[dict]
    fifos: list[str]
    lib: Path
    key: str
    build_seconds: float
    clock_mhz: float
    _dll: Any = field(default=None, repr=False)

    @property
    def hdl(self) -> Path:
        return self.folder / "hdl"

    @property
    def channels(self) -> list[tuple[NodeInfo, NodeInfo]]:
        """``(first node, last node)`` of each channel."""
        if self.kind == "stitched":
            return [(self.nodes[0], self.nodes[-1])]
        return [(n, n) for n in self.nodes]

    def channel_of(self, layer: str) -> int:
        """Channel index of ``layer`` in a node-by-node design."""
        for k, n in enumerate(self.nodes):
            if n.name == layer:
                return k
        raise KeyError(f"no layer {layer!r} in this design; layers: {', '.join(n.name for n in self.nodes)}")

    def _lib(self) -> Any:
        if self._dll is None:
            self._dll = open_library(self.lib)
        return self._dll

    def words(self, x: np.ndarray, channel: int = 0) -> np.ndarray:
        """Pack samples ``x`` into the channel's input stream words: ``(N * words, bytes)`` uint8."""
        from course_utils.board.packing import pack

        first = self.channels[channel][0]
        x = np.asarray(x)
        n = len(x)
        per = int(np.prod(first.in_folded[1:]))
        if x.size != n * per:
            raise ValueError(f"{first.name} takes {per} values per sample (folded {first.in_folded}); got "
                             f"{x.shape}.")
        packed = pack(x.reshape(n, *first.in_folded[1:]), first.in_dtype, word_bytes=first.in_bits // 8)
        return np.ascontiguousarray(packed.reshape(-1, first.in_bits // 8))

    def run(self, x: np.ndarray, channel: int = 0, *, capture: int = 0, max_idle: int | None = None,
            out_ready_from: int = 0, words: np.ndarray | None = None, trace: int = 0) -> RunResult:
        """Stream samples ``x`` through channel ``channel``; return outputs (N, values) and cycle counts.

        ``capture``: record the data of the first ``capture`` words on every internal stream (taps).
        ``max_idle``: cycles without any input or output handshake before it stops with StallError
        (default: 4x the sum of the layers' expected cycles, at least 10,000). ``out_ready_from``: cycle
        from which the output is read (-1: never; to show back-pressure). ``words``: already packed
        input words (else packed from ``x``). ``trace``: record the channel's handshake signals for
        the first ``trace`` cycles (``RunResult.trace``, columns ``TRACE``).
        """
        from course_utils.board.packing import unpack

        first, last = self.channels[channel]
        w = self.words(x, channel) if words is None else np.ascontiguousarray(words, dtype=np.uint8)
        n = len(x) if x is not None else len(w) // int(np.prod(first.in_folded[1:-1]))
        in_words = int(np.prod(first.in_folded[1:-1]))
        out_words = int(np.prod(last.out_folded[1:-1]))
        ob = last.out_bits // 8
        n_out = n * out_words
        out = np.zeros((n_out, ob), np.uint8)
        out_cycle = np.zeros(n_out, np.int64)
        stats = np.zeros(8, np.int64)
        taps = self.taps if self.kind == "stitched" else []
        stall = np.zeros(4 + 2 * len(taps), np.uint8)
        tap_bytes = [t["bits"] // 8 for t in taps]
        tap_buf = np.zeros(max(1, capture * sum(tap_bytes)), np.uint8)
        tap_counts = np.zeros(max(1, len(taps)), np.int64)
        fifo_max = np.zeros(max(1, len(self.fifos)), np.uint32)
        trace_buf = np.zeros((max(1, trace), len(TRACE)), np.uint32)
        if max_idle is None:
            max_idle = max(10_000, 4 * sum(nd.exp_cycles for nd in self.nodes))
        ptr = ctypes.c_void_p
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.chdir(self.hdl), _c_stdout() as printed:  # $readmemh: paths relative to cwd
            status = self._lib().rtlsim_run(
                channel, w.ctypes.data_as(ptr), len(w), w.shape[1], in_words * n if self.kind == "stitched"
                else 0, out.ctypes.data_as(ptr), n_out, ob, out_cycle.ctypes.data_as(ptr), int(max_idle), 0,
                int(out_ready_from), stats.ctypes.data_as(ptr), stall.ctypes.data_as(ptr),
                tap_buf.ctypes.data_as(ptr), int(capture), tap_counts.ctypes.data_as(ptr),
                fifo_max.ctypes.data_as(ptr), trace_buf.ctypes.data_as(ptr), int(trace))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if status == 3:
            raise AssertionFailedError(self._assertion_message(printed, stats, len(w), n_out))
        if status != 0:
            raise StallError(self._stall_message(channel, stats, stall, len(w), n_out, in_words, max_idle))
        y = unpack(out, last.out_dtype, last.out_folded[-1]).reshape(n, -1)
        tap_data, off = {}, 0
        for t, nb, cnt in zip(taps, tap_bytes, tap_counts):
            k = min(int(cnt), capture)
            tap_data[t["name"]] = tap_buf[off:off + k * nb].reshape(k, nb)
            off += capture * nb
        return RunResult(
            outputs=y, out_cycle=out_cycle, samples=n, cycles=int(stats[0]), first_input_cycle=int(stats[5]),
            words_out_per_sample=out_words, clock_mhz=self.clock_mhz, wall_seconds=wall, cpu_seconds=cpu,
            fifo_max={name: int(v) for name, v in zip(self.fifos, fifo_max)},
            tlast_ok=(bool(stats[4] == 1 and stats[6] == 1) if self.kind == "stitched" else None),
            taps=tap_data, tap_counts={t["name"]: int(c) for t, c in zip(taps, tap_counts)},
            trace=trace_buf[:min(trace, int(stats[0]))] if trace else None)

    def _assertion_message(self, printed: list[str], stats: np.ndarray, n_in: int, n_out: int) -> str:
        errors = [line.strip() for line in printed[0].splitlines() if "%Error" in line]
        first = errors[0] if errors else "(the simulator printed no %Error line)"
        hint = ""
        if "Overflowing output queue" in first:
            hint = (" FINN 1.6.1's RTL MVAU drops a result when it is back-pressured while it produces one "
                    "result per cycle (SIMD = MW); fold it with SIMD <= MW/2 (the kit's check_folding "
                    "refuses SIMD = MW for MVAU_rtl).")
        return (f"an assertion inside the simulated RTL failed at cycle {int(stats[0]):,} (after "
                f"{int(stats[1])}/{n_in} input and {int(stats[2])}/{n_out} output words): {first}. The "
                f"design lost or corrupted data, so its outputs are not trustworthy.{hint}")

    def _stall_message(self, channel: int, stats: np.ndarray, stall: np.ndarray, n_in: int, n_out: int,
                       in_words: int, max_idle: int) -> str:
        first, last = self.channels[channel]
        what = "the stitched design" if self.kind == "stitched" else f"layer {first.name}"
        head = (f"{what} stalled: no input or output word moved for {max_idle:,} cycles (cycle "
                f"{int(stats[0]):,}), after {int(stats[1])}/{n_in} input words and {int(stats[2])}/{n_out} "
                "output words. ")
        taps = self.taps if self.kind == "stitched" else []
        state = [(t["name"], bool(stall[4 + 2 * k]), bool(stall[5 + 2 * k])) for k, t in enumerate(taps)]
        blocked = [name for name, v, r in state if v and not r]
        if not stall[3]:
            where = (f"The output stream ({last.name} out) is not being read (TREADY low): whoever reads "
                     "it (the DMA's S2MM channel) stopped; the pipeline filled up"
                     + (f" back to stream {blocked[0]}." if blocked else "."))
        elif blocked:
            name = blocked[-1]
            where = (f"Data stopped at stream {name}: its data is valid but "
                     f"{name.split(' -> ')[1]} no longer "
                     "accepts it.")
        elif not stall[0]:
            where = (f"The input stream ran dry: {int(stats[1])} words were given, but a sample is "
                     f"{in_words} "
                     f"words, so the last sample is incomplete ({int(stats[1]) % in_words} "
                     f"of {in_words}) and "
                     f"{first.name} waits for the rest. Send whole samples.")
        else:
            where = "Every stream is idle though input is offered: the first node does not accept input."
        if state:
            where += " Streams (valid/ready): " + "; ".join(f"{n} {int(v)}/{int(r)}" for n, v, r in state)
            where += "."
        return head + where

    def save(self) -> Path:
        """Write ``design.json`` (nodes, taps, FIFOs, key) next to the HDL."""
        meta = {"kind": self.kind, "taps": self.taps, "fifos": self.fifos, "lib": str(self.lib),
                "key": self.key,
                "build_seconds": self.build_seconds, "clock_mhz": self.clock_mhz}
        write_nodes(self.nodes, self.folder / "nodes.json")
        return fileio.write_text_atomic(self.folder / "design.json", json.dumps(meta, indent=1))


@contextlib.contextmanager
def _c_stdout():
    """Capture what the compiled simulation prints on file descriptor 1 (Verilator's ``$error``/``$info``
    lines) into ``printed[0]``, then pass it on to ``sys.stdout``."""
    import sys
    import tempfile

    printed = [""]
    sys.stdout.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1)
        os.dup2(tmp.fileno(), 1)
        try:
            yield printed
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            printed[0] = tmp.read().decode(errors="replace")
    if printed[0]:
        sys.stdout.write(printed[0])


def build(model: ModelWrapper, folder: str | Path | None = None, kind: str = "stitched", *,
          clock_mhz: float = DEFAULT_CLOCK_MHZ, fpgapart: str = FPGA_PART, fifo_depth: int | None = None,
          quiet: bool = False, cache: str | Path | None = None) -> Design:
    """Stitch, patch, generate and compile ``model`` (folded, specialized, all RTL) for simulation.

    ``kind``: ``"stitched"`` (the whole accelerator with width converters, FIFOs and the TLAST
    packetizer) or ``"nodes"`` (each layer on its own channel). ``folder``: where the HDL goes
    (default ``build/rtl/<kind>``); the compiled library is cached in ``cache/<hash>`` (default
    ``default_cache()``).
    Raises HLSLayerError (HLS layers named), VerilatorError (missing, or its first error lines).
    """
    if kind not in ("stitched", "nodes"):
        raise ValueError(f"kind must be 'stitched' or 'nodes', not {kind!r}.")
    folder = Path(folder) if folder is not None else default_folder(kind)
    from course_utils.rtl.verilate import verilator_version

    verilator_version()  # fail early, with what to do, when Verilator is missing
    stitched = stitch_model(model, fpgapart, clock_mhz, fifo_depth)
    with fileio.atomic_path(folder, folder=True) as tmp:
        nodes = collect_sources(stitched, tmp / "hdl")
        apply_patches(tmp / "hdl")
        shutil.copy(gen.PACKETIZER, tmp / "hdl" / gen.PACKETIZER.name)
        if kind == "stitched":
            text, taps, fifos = gen.stitched_top(tmp / "hdl", nodes)
            channels = [(nodes[0].in_bits, nodes[-1].out_bits, True)]
        else:
            nodes = [n for n in nodes if n.layer]
            text, taps, fifos = gen.nodes_top(tmp / "hdl", nodes), [], []
            channels = [(n.in_bits, n.out_bits, False) for n in nodes]
            (tmp / "hdl" / gen.PACKETIZER.name).unlink()
        (tmp / "hdl" / "top.sv").write_text(text)
        cpp = gen.harness(channels, taps, len(fifos))
        stitched.save(str(tmp / "stitched_model.onnx"))
    cache = Path(cache) if cache is not None else default_cache()
    lib, key, seconds = compile_design(folder / "hdl", cpp, cache, quiet=quiet)
    design = Design(kind, folder, nodes, taps, fifos, lib, key, seconds, float(clock_mhz))
    design.save()
    return design


def load(folder: str | Path) -> Design:
    """A design built earlier (``design.json`` in ``folder``)."""
    folder = Path(folder)
    meta_path = folder / "design.json"
    if not meta_path.is_file():
        raise RTLError(f"{folder} holds no built design (no design.json): build it with "
                       "course_utils.rtl.build.")
    meta = json.loads(meta_path.read_text())
    return Design(meta["kind"], folder, read_nodes(folder / "nodes.json"), meta["taps"], meta["fifos"],
                  Path(meta["lib"]), meta["key"], meta["build_seconds"], meta["clock_mhz"])
