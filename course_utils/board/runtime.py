"""Helpers for running a deploy package through an overlay, once the raw pynq API has been taught.

Lab 3.1 does every step by hand (``Overlay``, ``allocate``, pack, ``transfer``/``wait``, unpack); these
helpers wrap the same calls for the rest of the lab: :func:`infer` (a batch loop within the DMA's length
limit), :class:`Stopwatch` (measured wall time on a board; modelled hardware time on the virtual board,
labelled as such), :func:`board_kind` / :func:`check_environment`, :func:`reset_dma`. pynq is imported
only inside functions, so this module imports with numpy alone.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .package import DeployPackage, PackageError

__all__ = ["board_kind", "check_environment", "max_batch", "batches", "infer", "Stopwatch", "Timing",
           "reset_dma"]


def board_kind(device: Any = None) -> str:
    """Which kind of PYNQ device runs the notebook.

    Parameters
    ----------
    device : pynq.Device, optional
        The device to classify; default: pynq's active device.

    Returns
    -------
    str
        ``"virtual"`` (the kit's virtual board), ``"board"`` (a real Zynq), ``"remote"``
        (``PYNQ_REMOTE_DEVICES``) or ``"none"`` (pynq missing or no device).
    """
    if device is None:
        try:
            from pynq import Device
        except ImportError:
            return "none"
        try:
            device = Device.active_device
        except RuntimeError:
            return "none"
    name = type(device).__name__
    if name == "VirtualZynqDevice":
        return "virtual"
    if "Remote" in name:
        return "remote"
    return "board"


def check_environment(pkg: DeployPackage) -> str:
    """Check that a board (real, remote or virtual) is there and can load ``pkg``; say which one.

    Parameters
    ----------
    pkg : DeployPackage
        The deploy package the notebook will load (:func:`course_utils.board.package.find_package`).

    Returns
    -------
    str
        A one-line description such as ``"virtual board (emulated Zynq-7020; timings are modelled): ..."``.

    Raises
    ------
    RuntimeError
        No PYNQ device: the message says which Jupyter kernel to select.
    PackageError
        A real board and a placeholder bitstream (a package made without Vivado).
    """
    kind = board_kind()
    if kind == "none":
        raise RuntimeError(
            "No PYNQ device found. Off-board, run this notebook with the Jupyter kernel 'PYNQ virtual board "
            "(Zynq-7020)' (Kernel > Change Kernel; it sets PYNQ_VIRTUAL_BOARD=Pynq-Z2); on a board, use the "
            "board's own Python 3 kernel; for a shared board set PYNQ_REMOTE_DEVICES=<board IP>.")
    if kind in ("board", "remote") and pkg.placeholder_bitstream:
        raise PackageError(
            f"{pkg.bitfile.name} is a placeholder (the package was made without Vivado), so a real board "
            "cannot load it. Build the bitstream with Vivado (docs/hardware.md: Lab 2's package + the kit's "
            "block design), copy the new package to the board, or use the virtual board for now.")
    from pynq import Device

    dev = Device.active_device
    where = {"virtual": "virtual board (emulated Zynq-7020; timings are modelled)",
             "board": "real board", "remote": "remote board over the network"}[kind]
    return f"{where}: {getattr(dev, 'name', type(dev).__name__)}"


def accelerator_source(overlay: Any) -> str:
    """What computes the outputs: the FPGA, or on the virtual board its RTL simulation or numpy model.

    Parameters
    ----------
    overlay : pynq.Overlay
        The loaded overlay (or its device).

    Returns
    -------
    str
        A sentence naming the source of the outputs and of the timings.
    """
    dev = getattr(overlay, "device", overlay)
    if board_kind(dev) != "virtual":
        return "the FPGA (the bitstream's accelerator)"
    eps = [d.endpoint for d in getattr(dev, "dmas", {}).values() if d.endpoint is not None]
    if not eps:
        return "no accelerator behind the DMA (loopback or unconnected)"
    ep = eps[0]
    if ep.mode == "rtl":
        return (f"RTL-simulated: the accelerator's stitched RTL from the deploy package, compiled with "
                f"Verilator (library {ep.rtl.key}); cycle-accurate outputs and cycles")
    return ("model: the deploy package's numpy executor (the same code that wrote the golden outputs; "
            "timings from FINN's estimates). Set PYNQ_VIRTUAL_ACCEL=rtl for the RTL")


def where_time_goes(overlay: Any, pkg: DeployPackage, x: np.ndarray) -> dict[str, float | str]:
    """Per image: accelerator cycles, HP-port cycles (bytes in and out at 8 bytes per FCLK0 cycle) and the
    CPU's packing time (measured here on ``x``). On the virtual board the accelerator's cycles are what its
    RTL simulation measured (or FINN's estimate with the numpy model); on a board FINN's estimate."""
    dev = getattr(overlay, "device", overlay)
    cycles = float(pkg.estimates.get("cycles_per_sample", 0))
    source = "FINN's estimate"
    for d in getattr(dev, "dmas", {}).values():
        if d.endpoint is not None:
            cycles, source = d.endpoint.cycles_per_sample, d.endpoint.label
    t0 = time.perf_counter()
    pkg.input.pack(x)
    pack_s = (time.perf_counter() - t0) / max(1, len(x))
    hp = 8  # the S_AXI_HP port: 64 bit per FCLK0 cycle
    return {"accelerator_cycles": cycles, "accelerator_source": source,
            "hp_in_cycles": pkg.input.bytes_per_sample / hp,
            "hp_out_cycles": pkg.output.bytes_per_sample / hp,
            "stream_in_cycles": pkg.input.bytes_per_sample / (pkg.input.stream_width_bits / 8),
            "cpu_pack_us": pack_s * 1e6, "clock_mhz": float(pkg.clock_mhz)}


def max_batch(dma: Any, pkg: DeployPackage) -> int:
    """Most samples one transfer may carry: the DMA's length limit over the bytes per sample (both ways).

    Parameters
    ----------
    dma : pynq.lib.dma.DMA
        The overlay's DMA (``getattr(overlay, pkg.dma_name)``); its ``buffer_max_size`` is the limit.
    pkg : DeployPackage
        The deploy package (bytes per sample in and out).

    Returns
    -------
    int
    """
    limit = int(dma.buffer_max_size)
    return min(limit // pkg.input.bytes_per_sample, limit // pkg.output.bytes_per_sample)


def batches(n: int, batch: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive batches of at most ``batch`` samples covering ``n``."""
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}.")
    for start in range(0, n, batch):
        yield start, min(start + batch, n)


def infer(overlay: Any, pkg: DeployPackage, x: Any, batch: int | None = None,
          progress: bool = True) -> np.ndarray:
    """Run samples ``x`` through the accelerator of ``overlay``; return the integer outputs.

    Packs each batch into one input buffer, starts the receive then the send transfer, waits for both
    and unpacks: the steps of Lab 3.1, in batches that respect the DMA's length register.

    Parameters
    ----------
    overlay : pynq.Overlay
        The overlay loaded from ``pkg.bitfile``.
    pkg : DeployPackage
        Its deploy package (stream geometry, DMA name).
    x : array_like, shape (N, ...)
        Input samples as the accelerator takes them (``pkg.input.from_images(images)``).
    batch : int, optional
        Samples per transfer; default: as many as the DMA's length register allows (:func:`max_batch`).
    progress : bool, default True
        Show a tqdm progress bar over the batches.

    Returns
    -------
    numpy.ndarray of int64, shape ``(N, *pkg.output.shape_normal[1:])``
        The accelerator's integer outputs (``pkg.logits(y)`` gives the logits).

    Raises
    ------
    ValueError
        ``batch`` larger than one DMA transfer can carry.
    """
    from pynq import allocate

    x = np.asarray(x)
    n = int(x.shape[0])
    dma = getattr(overlay, pkg.dma_name)
    limit = max_batch(dma, pkg)
    batch = min(limit, n) if batch is None else int(batch)
    if batch > limit:
        raise ValueError(f"batch {batch} needs {batch * pkg.input.bytes_per_sample:,} bytes per transfer, "
                         f"more than the DMA's limit of {dma.buffer_max_size:,} bytes: use batch <= {limit}.")
    ibuf = allocate(shape=(batch, *pkg.input.shape_packed[1:]), dtype=np.uint8)
    obuf = allocate(shape=(batch, *pkg.output.shape_packed[1:]), dtype=np.uint8)
    out = np.empty((n, *pkg.output.shape_normal[1:]), dtype=np.int64)
    spans = list(batches(n, batch))
    bar = _progress(len(spans), progress, f"{n:,} samples, batches of {batch:,}")
    try:
        for start, stop in spans:
            k = stop - start
            ibuf[:k] = pkg.input.pack(x[start:stop])
            dma.recvchannel.transfer(obuf, nbytes=k * pkg.output.bytes_per_sample)
            dma.sendchannel.transfer(ibuf, nbytes=k * pkg.input.bytes_per_sample)
            dma.sendchannel.wait()
            dma.recvchannel.wait()
            out[start:stop] = pkg.output.unpack(np.asarray(obuf[:k]))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        ibuf.freebuffer()
        obuf.freebuffer()
    return out


def _progress(total: int, enabled: bool, desc: str) -> Any:
    """A tqdm.auto bar when tqdm is installed and ``enabled``, else None."""
    if not enabled or total <= 1:
        return None
    import importlib.util

    if importlib.util.find_spec("tqdm") is None:
        return None
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:  # tqdm.auto would warn that it cannot draw a widget: use the text bar directly
        from tqdm.std import tqdm
    return tqdm(total=total, desc=desc, unit="batch")


@dataclass
class Timing:
    """What a :class:`Stopwatch` saw: wall time, and on the virtual board the modelled hardware time."""

    wall_s: float
    samples: int
    modelled_s: float | None = None
    board: str = "board"
    accelerator: str | None = None
    """On the virtual board: "RTL-simulated" (the accelerator's Verilator RTL) or "model" (numpy model)."""
    cycles: float | None = None
    """On the virtual board: the FCLK0 cycles of the modelled time."""

    @property
    def seconds(self) -> float:
        """The time to report: measured on a board, modelled on the virtual board."""
        return self.modelled_s if self.modelled_s is not None else self.wall_s

    @property
    def label(self) -> str:
        """How :attr:`seconds` was obtained."""
        if self.modelled_s is not None:
            cyc = f"{self.cycles:,.0f} cycles" if self.cycles else "cycles"
            if self.accelerator == "RTL-simulated":
                return (f"RTL-simulated (virtual board: {cyc} at FCLK0 from the accelerator's Verilator "
                        "simulation + the DMA model; CPU time not included)")
            return (f"{self.accelerator or 'model'} (virtual board: {cyc} at FCLK0 from FINN's estimates, "
                    "numpy model; CPU time not included)")
        return f"measured on the {self.board} (wall clock: CPU + DMA + accelerator)"

    @property
    def fps(self) -> float:
        """Samples per second."""
        return self.samples / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        line = (f"{self.samples:,} samples in {self.seconds * 1e3:.3f} ms = {self.fps:,.0f} samples/s, "
                f"{self.label}")
        if self.modelled_s is not None:
            line += f"; the emulation itself took {self.wall_s:.3f} s of wall time"
        return line


class Stopwatch:
    """Time a block of board work: ``with Stopwatch(overlay, samples=n) as sw: ...; print(sw.timing)``.

    On a real board it measures the wall clock. On the virtual board wall time says nothing about the
    hardware, so it adds up the modelled time of the DMA packets completed inside the block.
    """

    def __init__(self, overlay: Any, samples: int | None = None):
        self.device = getattr(overlay, "device", overlay)
        self.samples = samples
        self.timing: Timing | None = None

    def __enter__(self) -> Stopwatch:
        self._virtual = board_kind(self.device) == "virtual"
        self._mark = len(self.device.records) if self._virtual else 0
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.perf_counter() - self._t0
        if self._virtual:
            modelled, samples = self.device.modelled_seconds(self._mark)
            source, cycles = self.device.timing_source(self._mark)
            self.timing = Timing(wall, self.samples or samples, modelled, "virtual board", source, cycles)
        else:
            self.timing = Timing(wall, self.samples or 0, None, board_kind(self.device))


def reset_dma(dma: Any) -> None:
    """Soft-reset an AXI DMA (DMACR bit 2, both channels) and start both channels again."""
    dma.mmio.write(0x00, 0x4)
    for _ in range(1000):
        if not dma.mmio.read(0x00) & 0x4:
            break
    for ch in (dma.sendchannel, dma.recvchannel):
        if ch is not None:
            ch.start()

