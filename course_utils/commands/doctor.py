"""``course doctor``: what is installed, which tools and boards are found, what will be skipped."""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from course_utils import tools
from course_utils.paths import build_dir, data_dir, kit_root
from course_utils.tools import PYNQ_REMOTE_PORT, on_board, remote_boards  # noqa: F401 (doctor's API)
from course_utils.versions import dist_version as _version

BOARD_KERNEL = "pynq-virtual-board"
HOST_PACKAGES = ("torch", "brevitas", "finn-plus", "qonnx", "onnx", "onnxruntime", "numpy",
                 "jupyterlab", "nbval", "matplotlib", "tqdm", "ipywidgets", "netron")
BOARD_PACKAGES = ("pynq", "pynqmetadata", "numpy")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-network", action="store_true",
                        help="do not try to reach boards named in PYNQ_REMOTE_DEVICES")




def board_env_python() -> Path:
    """The board environment's Python (``$COURSE_BOARD_PYTHON`` or ``.venv/board`` in the kit)."""
    env = os.environ.get("COURSE_BOARD_PYTHON")
    return Path(env) if env else kit_root() / ".venv" / "board" / "bin" / "python"


def board_env_report() -> tuple[str, str | None]:
    """One line on the board environment and, if it is missing or broken, the command that fixes it."""
    py = board_env_python()
    if not py.exists():
        return f"board env    NOT found ({py})", "make setup (creates .venv/board: pynq, numpy 1.x)"
    probe = ("import platform, numpy, pynq; print(platform.python_version(), 'pynq', pynq.__version__, "
             "'numpy', numpy.__version__)")
    try:
        res = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"board env    {py} does not run ({err})", "make distclean && make setup"
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return f"board env    {py} is broken: {last}", "make distclean && make setup"
    return f"board env    python {res.stdout.strip()} ({py})", None


def kernel_report() -> tuple[list[str], list[str]]:
    """Lines on the two Jupyter kernels the labs use, and fixes for the missing ones."""
    lines, fixes = [], []
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        specs = KernelSpecManager().find_kernel_specs()
    except Exception as err:  # noqa: BLE001 - doctor reports, never crashes
        return [f"kernels      cannot list them: {type(err).__name__}: {err}"], ["make setup"]
    for name, label in (("python3", "Labs 1-2"), (BOARD_KERNEL, "Lab 3")):
        if name not in specs:
            lines.append(f"kernel       {name} ({label}) NOT installed")
            fixes.append(f"make setup (registers the kernel {name})")
            continue
        try:
            argv0 = Path(json.loads((Path(specs[name]) / "kernel.json").read_text())["argv"][0])
        except (OSError, ValueError, KeyError, IndexError):
            argv0 = None
        ok = argv0 is None or argv0.exists() or shutil.which(str(argv0))
        lines.append(f"kernel       {name} ({label}) {'ok' if ok else 'BROKEN'}: {specs[name]}")
        if not ok:
            fixes.append(f"make setup (the kernel {name} points at a missing {argv0})")
    return lines, fixes


def report(check_network: bool = True) -> tuple[list[str], list[str]]:
    """Lines describing the installation, and the list of things that will be skipped (and why).

    Every missing part is listed under what will be skipped together with the command that fixes it."""
    lines, skipped = [], []
    lines.append(f"kit root     {kit_root()}")
    lines.append(f"build dir    {build_dir(create=False)}")
    lines.append(f"data dir     {data_dir()}")
    lines.append(f"python       {platform.python_version()} ({sys.executable})")
    on_host = not (_version("pynq") and not _version("torch"))
    names = HOST_PACKAGES if on_host else BOARD_PACKAGES
    for dist in names:
        lines.append(f"  {dist:<12} {_version(dist) or 'not installed'}")
    if on_host:
        line, fix = board_env_report()
        lines.append(line)
        if fix:
            skipped.append(f"Lab 3 on the virtual board and the board tests; fix: {fix}")
        klines, kfixes = kernel_report()
        lines += klines
        skipped += [f"notebooks on a missing kernel; fix: {f}" for f in kfixes]
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
    if on_host:
        for tool, needed_for, version_args in (
                (tools.verilator_tool(), "RTL simulation of the accelerator (Lab 2)", ("--version",)),
                (tools.find_yosys(), "synthesized resource counts (Lab 2)", None),
                (tools.find_bwrap(), "the grader's sandbox (course grade)", ("--version",)),
                (tools.find_chromium(), "the real-browser test (make test)", None)):
            if tool.found:
                ver = tools.program_version(tool, version_args) if version_args else None
                lines.append(f"{tool.name:<12} found: {tool.executable}" + (f" ({ver})" if ver else ""))
            else:
                lines.append(f"{tool.name:<12} NOT found")
                skipped.append(f"{needed_for}: {tool.name} is missing; fix: {tools.FIX[tool.name]}")
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
