"""``course doctor``: what is installed, which tools and boards are found, what will be skipped."""
from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import platform
import socket
import sys
from pathlib import Path

from course_utils import tools
from course_utils.paths import build_dir, data_dir, kit_root

HOST_PACKAGES = ("torch", "brevitas", "finn-plus", "qonnx", "onnx", "onnxruntime", "numpy",
                 "jupyterlab", "nbval", "matplotlib", "tqdm", "ipywidgets", "netron")
BOARD_PACKAGES = ("pynq", "pynqmetadata", "numpy")
PYNQ_REMOTE_PORT = 7967


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-network", action="store_true",
                        help="do not try to reach boards named in PYNQ_REMOTE_DEVICES")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


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


def report(check_network: bool = True) -> tuple[list[str], list[str]]:
    """Lines describing the installation, and the list of things that will be skipped (and why)."""
    lines, skipped = [], []
    lines.append(f"kit root     {kit_root()}")
    lines.append(f"build dir    {build_dir(create=False)}")
    lines.append(f"data dir     {data_dir()}")
    lines.append(f"python       {platform.python_version()} ({sys.executable})")
    names = BOARD_PACKAGES if _version("pynq") and not _version("torch") else HOST_PACKAGES
    for dist in names:
        lines.append(f"  {dist:<12} {_version(dist) or 'not installed'}")
    try:
        from course_utils import data
        for row in data.status():
            lines.append(f"dataset      {row}")
    except Exception as err:  # noqa: BLE001 - doctor reports, never crashes
        lines.append(f"dataset      status unavailable: {type(err).__name__}: {err}")
    vivado, hls = tools.find_vivado(), tools.find_vitis_hls()
    for tool in (vivado, hls):
        where = f"{tool.executable} ({tool.version() or 'version unknown'})" if tool.found else tool.source
        lines.append(f"{tool.name:<12} {'found' if tool.found else 'NOT found'}: {where}")
    if not (vivado.found and hls.found):
        skipped.append("Lab 2: HLS synthesis, FIFO sizing, stitched IP, block design and bitstream "
                       f"(no Vivado/Vitis HLS; {tools.USING_VIVADO}). Everything before them runs.")
        skipped.append("Lab 3 deploy package: the .bit is a marked placeholder; the .hwh is generated "
                       "from the kit's block-design description (works on the virtual board only).")
    virtual = os.environ.get("PYNQ_VIRTUAL_BOARD", "")
    if on_board():
        lines.append("board        running ON a PYNQ board: Lab 3 uses the real hardware")
    elif virtual not in ("", "0"):
        lines.append(f"board        virtual board '{virtual}' enabled in this process")
    else:
        lines.append("board        none here; Lab 3 runs on the kernel 'PYNQ virtual board (Zynq-7020)'")
    if check_network:
        for host, ok in remote_boards():
            lines.append(f"remote board {host}:{PYNQ_REMOTE_PORT} {'answers' if ok else 'does NOT answer'}")
    if not on_board():
        skipped.append("Lab 3 timings are modelled from the accelerator's cycle estimate (no board here).")
    return lines, skipped


def run(args: argparse.Namespace) -> int:
    lines, skipped = report(check_network=not args.no_network)
    print("\n".join(lines))
    print("\nWhat will be skipped here:" if skipped else "\nNothing will be skipped.")
    for s in skipped:
        print(f"  - {s}")
    return 0
