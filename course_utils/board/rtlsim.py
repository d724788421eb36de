"""The accelerator's stitched RTL, Verilator-compiled, loaded from a deploy package (board side).

Lab 2 (``course_utils.hw.deploy.add_rtl_to_package``) copies into the deploy package's ``rtl/`` folder
everything needed to simulate the accelerator's real hardware description without FINN: the patched
HDL sources with their weight/threshold files (``hdl/``), the generated C++ harness (``harness.cpp``)
and ``design.json`` (stream widths, words per sample, the content key of the compiled library).

The compiled library is cached by that content key (``$COURSE_RTL_CACHE``, else ``build/rtl/cache``
of the kit, the same cache Lab 2 compiles into). If it is not there, it is compiled with Verilator
(1-3 minutes, once). Only numpy and ctypes are needed to run it: this module is importable on a PYNQ
image (Python 3.10, numpy 1.x) and imports neither FINN nor torch.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RTL_DIR = "rtl"
LIB = "librtlsim.so"
ROOT = Path(__file__).resolve().parents[2]


def open_library(lib: str | Path) -> ctypes.CDLL:
    """Load a compiled simulation library (``librtlsim.so``) and declare its ``rtlsim_run`` entry point.

    The one binding of the harness's C interface (``course_utils.rtl.top.harness``), shared by the board
    side and ``course_utils.rtl.design``.
    """
    dll = ctypes.CDLL(str(lib))
    f = dll.rtlsim_run
    i64, p = ctypes.c_int64, ctypes.c_void_p
    f.argtypes = [ctypes.c_int, p, i64, ctypes.c_int, i64, p, i64, ctypes.c_int, p, i64, i64, i64, p,
                  p, p, i64, p, p, p, i64]
    f.restype = ctypes.c_int
    return dll


class RTLUnavailable(RuntimeError):
    """The package carries no RTL, or its compiled library cannot be found or built here."""


def cache_dir() -> Path:
    """Where compiled designs are cached: ``$COURSE_RTL_CACHE``, else ``build/rtl/cache`` of the kit.

    The same place as the host's ``course_utils.rtl.design.default_cache`` (not under ``$COURSE_BUILD_DIR``):
    entries are keyed by content, so a design Lab 2 or a test compiled is reused by the virtual board.
    """
    env = os.environ.get("COURSE_RTL_CACHE")
    return Path(env) if env else ROOT / "build" / "rtl" / "cache"


def has_rtl(package: str | Path) -> bool:
    """True if the deploy package folder carries the accelerator's RTL (``rtl/design.json``)."""
    return (Path(package) / RTL_DIR / "design.json").is_file()


@dataclass
class RTLBatch:
    """Output bytes and cycle numbers of one batch streamed through the RTL."""

    out: np.ndarray             # (words, out_bytes) uint8, the output stream's words
    out_cycle: np.ndarray       # cycle (after reset) at which each output word left the design
    first_input_cycle: int
    cycles: int


@dataclass
class PackageRTL:
    """The compiled stitched RTL of a deploy package: stream bytes in, stream bytes and cycles out."""

    folder: Path
    meta: dict
    lib: Path
    compiled_seconds: float = 0.0
    _dll: Any = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return str(self.meta["key"])

    @property
    def in_bytes(self) -> int:
        """Bytes of one input stream word."""
        return int(self.meta["in_bits"]) // 8

    @property
    def out_bytes(self) -> int:
        """Bytes of one output stream word."""
        return int(self.meta["out_bits"]) // 8

    @property
    def in_words(self) -> int:
        """Input words per sample."""
        return int(self.meta["in_words"])

    @property
    def out_words(self) -> int:
        """Output words per sample."""
        return int(self.meta["out_words"])

    @property
    def clock_mhz(self) -> float:
        return float(self.meta["clock_mhz"])

    def _lib(self) -> Any:
        if self._dll is None:
            self._dll = open_library(self.lib)
        return self._dll

    def run_bytes(self, data: np.ndarray, max_idle: int = 100_000) -> RTLBatch:
        """Stream whole samples of input bytes (uint8, as the DMA reads them from DDR) through the RTL.

        The input word is the bytes the MM2S channel delivers, little-endian, exactly as on the board;
        returns the output stream's words as the S2MM channel would write them, with their cycles.
        """
        data = np.ascontiguousarray(np.asarray(data, dtype=np.uint8).reshape(-1))
        per = self.in_words * self.in_bytes
        if data.size % per:
            raise ValueError(f"the RTL takes whole samples of {per} bytes; got {data.size} bytes.")
        n = data.size // per
        w = data.reshape(-1, self.in_bytes)
        n_out = n * self.out_words
        out = np.zeros((n_out, self.out_bytes), np.uint8)
        out_cycle = np.zeros(n_out, np.int64)
        stats = np.zeros(8, np.int64)
        ntaps = int(self.meta.get("n_taps", 0))
        stall = np.zeros(4 + 2 * ntaps, np.uint8)
        tap_buf = np.zeros(1, np.uint8)
        tap_counts = np.zeros(max(1, ntaps), np.int64)
        fifo_max = np.zeros(max(1, int(self.meta.get("n_fifos", 0))), np.uint32)
        trace_buf = np.zeros((1, 7), np.uint32)
        ptr = ctypes.c_void_p
        if n == 0:
            return RTLBatch(out, out_cycle, 0, 0)
        with _cwd(self.folder / "hdl"):  # $readmemh reads the weight files relative to the working folder
            status = self._lib().rtlsim_run(
                0, w.ctypes.data_as(ptr), len(w), self.in_bytes, self.in_words * n, out.ctypes.data_as(ptr),
                n_out, self.out_bytes, out_cycle.ctypes.data_as(ptr), int(max_idle), 0, 0,
                stats.ctypes.data_as(ptr), stall.ctypes.data_as(ptr), tap_buf.ctypes.data_as(ptr), 0,
                tap_counts.ctypes.data_as(ptr), fifo_max.ctypes.data_as(ptr), trace_buf.ctypes.data_as(ptr),
                0)
        if status != 0:
            raise RuntimeError(
                f"the accelerator's RTL stalled after {int(stats[1])}/{len(w)} input words and "
                f"{int(stats[2])}/{n_out} output words (cycle {int(stats[0]):,}): the package's RTL is "
                "broken; rebuild the deploy package in Lab 2.")
        return RTLBatch(out, out_cycle, int(stats[5]), int(stats[0]))


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def load_package_rtl(package: str | Path, *, compile: bool = True, quiet: bool = False) -> PackageRTL:
    """The compiled RTL of the deploy package folder ``package`` (compiled with Verilator if needed).

    Raises :class:`RTLUnavailable` with what to do when the package has no RTL, or the library is not
    cached and cannot be compiled here (no Verilator).
    """
    folder = Path(package) / RTL_DIR
    meta_path = folder / "design.json"
    if not meta_path.is_file():
        raise RTLUnavailable(
            f"{Path(package)} carries no RTL of the accelerator (no {RTL_DIR}/design.json). Re-create the "
            "deploy package with Lab 2's RTL flow (write_deploy_package(..., rtl_design=design)), or use the "
            "numpy model explicitly: PYNQ_VIRTUAL_ACCEL=model.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    lib = cache_dir() / meta["key"] / LIB
    if lib.is_file():
        return PackageRTL(folder, meta, lib)
    if not compile:
        raise RTLUnavailable(f"the compiled RTL {meta['key']} is not in {cache_dir()}.")
    lib, seconds = _compile(folder, meta, quiet)
    return PackageRTL(folder, meta, lib, seconds)


def _compile(folder: Path, meta: dict, quiet: bool) -> tuple[Path, float]:
    """Compile the package's HDL + harness with Verilator into the cache (same key as Lab 2's build)."""
    from course_utils import tools

    if tools.find_verilator() is None:
        raise RTLUnavailable(
            f"the accelerator's RTL ({meta['key']}) is not compiled on this machine and Verilator is not "
            "available in this environment. Run Lab 2's RTL simulation once in the host environment (it "
            f"fills {cache_dir()}), or `make setup`; or use the numpy model explicitly: "
            "PYNQ_VIRTUAL_ACCEL=model.")
    from course_utils.rtl.verilate import compile_design

    harness = (folder / "harness.cpp").read_text(encoding="utf-8")
    lib, key, seconds = compile_design(folder / "hdl", harness, cache_dir(), quiet=quiet)
    if key != meta["key"]:
        meta["key"] = key  # another Verilator version: its own cache entry
    return lib, seconds
