#!/usr/bin/env python3
"""Create or update the kit's two Python environments from the pinned lock files.

    python3 scripts/bootstrap.py [host] [board] [--force]

* ``.venv/host``  (Python >= 3.11): CPU torch, Brevitas, finn-plus, JupyterLab, test tools.
* ``.venv/board`` (Python 3.10 like a PYNQ image if found, else >= 3.10): pynq 3.1.2 and
  numpy 1.x, registered as the Jupyter kernel "PYNQ virtual board (Zynq-7020)".

Both get the kit (``course_utils``) installed in editable mode. An environment whose inputs
(lock file, pyproject.toml, this script) did not change since its last successful set-up is
left alone, so re-running is fast. Only the standard library is used here.

Environment variables:
  TORCH_INDEX_URL  where the CPU build of torch comes from when pip does not already see a
                   local wheel (default: https://download.pytorch.org/whl/cpu).
  TORCH_WHEEL      path of a torch wheel file to install instead of any index.
  HOST_PYTHON / BOARD_PYTHON   interpreters to use for the two environments.
  COURSE_KERNEL_PREFIX  the environment whose Jupyter sees the board kernel (default .venv/host;
                   e.g. $CONDA_PREFIX for conda users).
"""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv"
TORCH_PIN = "torch==2.13.0"
DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
KERNEL_NAME = "pynq-virtual-board"
KERNEL_DISPLAY = "PYNQ virtual board (Zynq-7020)"
VIRTUAL_BOARD = "Pynq-Z2"
# runs at interpreter start-up in the board environment; does nothing unless the variable is set
PTH_LINE = ("import os; os.environ.get('PYNQ_VIRTUAL_BOARD', '') not in ('', '0') and "
            "__import__('course_utils.board.virtual.autoload')\n")


class SetupError(RuntimeError):
    """A set-up step failed; the message says what to do."""


def say(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def run(cmd: list[str], what: str, **kw) -> None:
    """Run a command quietly; on failure show its output and raise SetupError naming the step."""
    t0 = time.perf_counter()
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    res = subprocess.run(cmd, text=True, **kw)
    if res.returncode != 0:
        if res.stdout:
            print(res.stdout[-6000:], file=sys.stderr)
        raise SetupError(f"{what} failed (exit {res.returncode}): {' '.join(cmd)}")
    say(f"{what}: {time.perf_counter() - t0:.1f} s")


def version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def find_python(env_var: str, preferred: list[str], lo: tuple[int, int],
                hi: tuple[int, int]) -> str:
    """First interpreter with lo <= version < hi: $env_var, then preferred names on PATH or
    under pyenv, then the one running this script."""
    candidates = []
    if os.environ.get(env_var):
        candidates.append(os.environ[env_var])
    for name in preferred:
        if shutil.which(name):
            candidates.append(shutil.which(name))
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
        ver = name.removeprefix("python")
        candidates += sorted(glob.glob(str(pyenv / f"{ver}*" / "bin" / name)), reverse=True)
    candidates.append(sys.executable)
    for cand in candidates:
        v = version_of(cand)
        if v is not None and lo <= v < hi:
            return cand
    raise SetupError(
        f"no Python {lo[0]}.{lo[1]}..{hi[0]}.{hi[1] - 1} found (tried {', '.join(candidates)}). "
        f"Install one (e.g. `pyenv install 3.11`) or point {env_var} at it.")


def stamp_of(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def fresh_venv(path: Path, python: str) -> Path:
    """(Re)create a venv, upgrade pip; return its interpreter."""
    if path.exists():
        shutil.rmtree(path)
    run([python, "-m", "venv", str(path)], f"create {path.name} venv at {path}")
    py = path / "bin" / "python"
    run([str(py), "-m", "pip", "install", "-q", "pip==26.3"], "upgrade pip")
    return py


def install_torch(py: Path) -> None:
    """CPU torch: a given wheel, else a local wheel pip already sees, else the CPU index."""
    pip = [str(py), "-m", "pip", "install", "-q", "--no-deps"]
    wheel = os.environ.get("TORCH_WHEEL")
    if wheel:
        run(pip + [wheel], f"install torch from {wheel}")
        return
    local = subprocess.run(pip + ["--no-index", TORCH_PIN], capture_output=True, text=True)
    if local.returncode == 0:
        say("torch: installed the CPU wheel found locally (no index contacted)")
        return
    index = os.environ.get("TORCH_INDEX_URL", DEFAULT_TORCH_INDEX)
    say(f"torch: no local wheel; fetching the CPU build from {index}")
    try:
        run(pip + ["--index-url", index, "--timeout", "30", "--retries", "2", TORCH_PIN],
            "install CPU torch", timeout=3600)
    except (SetupError, subprocess.TimeoutExpired) as err:
        raise SetupError(
            f"could not install {TORCH_PIN} (CPU build) from {index}. Set TORCH_INDEX_URL to a "
            "reachable index with CPU wheels, or TORCH_WHEEL to a downloaded wheel file. "
            "Do not install plain `torch` from PyPI: that is a multi-GB CUDA build.") from err


def site_packages(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def setup_host(force: bool) -> None:
    venv = VENVS / "host"
    lock = ROOT / "requirements" / "host.lock"
    stamp = stamp_of(lock, ROOT / "pyproject.toml", Path(__file__))
    if not force and (venv / ".kit-stamp").is_file() and (venv / ".kit-stamp").read_text() == stamp \
            and (venv / "bin" / "python").exists():
        say("host environment is up to date (.venv/host)")
        return
    python = find_python("HOST_PYTHON", ["python3.11", "python3.12"], (3, 11), (3, 13))
    say(f"creating the host environment with {python} (about 2 minutes)")
    py = fresh_venv(venv, python)
    install_torch(py)
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-r", str(lock)],
        "install the host lock file")
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(ROOT)],
        "install course_utils (editable)")
    run([str(py), "-c", "import torch, brevitas, qonnx, finn, jupyterlab, course_utils"],
        "import check (host)")
    (venv / ".kit-stamp").write_text(stamp)


def setup_board(force: bool) -> None:
    venv = VENVS / "board"
    host = VENVS / "host"
    lock = ROOT / "requirements" / "board.lock"
    stamp = stamp_of(lock, ROOT / "pyproject.toml", Path(__file__))
    prefix = Path(os.environ["COURSE_KERNEL_PREFIX"]) if os.environ.get("COURSE_KERNEL_PREFIX") else host
    kernel_json = prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    if not force and (venv / ".kit-stamp").is_file() and (venv / ".kit-stamp").read_text() == stamp \
            and (venv / "bin" / "python").exists() and kernel_json.exists():
        say("board environment is up to date (.venv/board)")
        return
    python = find_python("BOARD_PYTHON", ["python3.10", "python3.11"], (3, 10), (3, 13))
    say(f"creating the board environment with {python} (about 1 minute)")
    py = fresh_venv(venv, python)
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-r", str(lock)],
        "install the board lock file")
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(ROOT)],
        "install course_utils (editable, board part)")
    (site_packages(py) / "zz_course_virtual_board.pth").write_text(PTH_LINE)
    prefix = Path(os.environ["COURSE_KERNEL_PREFIX"]) if os.environ.get("COURSE_KERNEL_PREFIX") else host
    if not prefix.is_dir():
        raise SetupError(f"no environment at {prefix} to register the board kernel in: run "
                         "`python3 scripts/bootstrap.py host` first (or set COURSE_KERNEL_PREFIX, e.g. to "
                         "$CONDA_PREFIX)")
    run([str(py), "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", KERNEL_NAME,
         "--display-name", KERNEL_DISPLAY, "--env", "PYNQ_VIRTUAL_BOARD", VIRTUAL_BOARD],
        "register the virtual-board Jupyter kernel")
    run([str(py), "-c", "import numpy, pynq, course_utils.board"], "import check (board)")
    (venv / ".kit-stamp").write_text(stamp)


def main(argv: list[str]) -> int:
    force = "--force" in argv
    which = [a for a in argv if not a.startswith("-")] or ["host", "board"]
    unknown = set(which) - {"host", "board"}
    if unknown:
        print(f"unknown environment(s) {sorted(unknown)}: choose host and/or board", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        if "host" in which:
            setup_host(force)
        if "board" in which:
            setup_board(force)
    except SetupError as err:
        print(f"[setup] ERROR: {err}", file=sys.stderr)
        return 1
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
