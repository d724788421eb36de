"""``course lab``: JupyterLab on 127.0.0.1 with a random token, opened in the student's ``work/`` folder.

The kit picks a free port itself (Jupyter is told not to move), waits until that port answers the API
*with this server's token*, and only then prints the URL: the printed URL is the server that really answers.
The token reaches Jupyter through the environment (``JUPYTER_TOKEN``), never the command line, so ``ps``
does not show it.
Before starting, the notebooks of ``labs/`` that ``work/`` lacks are copied there (course_utils.workspace).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

from course_utils.paths import kit_root

PORT_TRIES = 20
START_TIMEOUT = float(os.environ.get("COURSE_LAB_START_TIMEOUT", 300))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=int(os.environ.get("COURSE_LAB_PORT", 8888)),
                        help="preferred port on 127.0.0.1 (default 8888; the next free one is used if taken)")
    parser.add_argument("--browser", action="store_true", help="also open a web browser")
    parser.add_argument("--dry-run", action="store_true", help="print the command and exit")
    parser.epilog = ("The token is random, or COURSE_LAB_TOKEN (environment only: never on a command line, "
                     "where `ps` shows it to every local user).")


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port (and nothing holds it on all interfaces)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(preferred: int, tries: int = PORT_TRIES) -> int:
    """``preferred`` or the next free port after it."""
    for port in range(preferred, preferred + tries):
        if port_is_free(port):
            return port
    raise RuntimeError(f"ports {preferred}-{preferred + tries - 1} on 127.0.0.1 are all taken: stop another "
                       "server or pass --port with a free one.")


def lab_command(port: int, root: Path, open_browser: bool = False) -> list[str]:
    """The ``jupyter lab`` command line: loopback only, exactly this port, token from the environment."""
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter) if jupyter.exists() else shutil.which("jupyter") or "jupyter", "lab",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", f"--ServerApp.open_browser={open_browser}",
           "--ServerApp.disable_check_xsrf=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def answers_with_token(port: int, token: str, timeout: float = 5) -> int:
    """HTTP status of /api/status on the port with the token (0: nothing answers yet)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return 0


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and its kernels: its whole process group."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _start(port: int, root: Path, env: dict[str, str], token: str, browser: bool) -> subprocess.Popen | None:
    """Start Jupyter on ``port``; the process once it answers with the token, None if the port was lost."""
    proc = subprocess.Popen(lab_command(port, root, browser), cwd=root, env=env, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None if not port_is_free(port) else _exited(proc)
        status = answers_with_token(port, token)
        if status == 200:
            return proc
        if status in (401, 403):  # another server took the port between our check and Jupyter's bind
            _stop(proc)
            return None
        time.sleep(0.3)
    _stop(proc)
    raise RuntimeError(f"JupyterLab did not answer on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s: see its "
                       "log above; `course doctor` checks the installation.")


def _exited(proc: subprocess.Popen) -> NoReturn:
    raise RuntimeError(f"JupyterLab exited with status {proc.returncode} before it answered (its log is "
                       "above); `course doctor` checks the installation.")


def run(args: argparse.Namespace) -> int:
    from course_utils import workspace

    root = kit_root()
    token = os.environ.get("COURSE_LAB_TOKEN") or secrets.token_hex(24)
    if args.dry_run:
        cmd = " ".join(lab_command(args.port, root, args.browser))
        print(cmd + "   (token: JUPYTER_TOKEN in the environment)")
        return 0
    work = workspace.work_dir()
    for line in workspace.sync(root, work).lines():
        print(line)
    env = dict(os.environ, JUPYTER_TOKEN=token)
    env.pop("JUPYTER_TOKEN_FILE", None)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle torch threads must not spin on small machines
    proc = None
    port = args.port
    for _ in range(3):
        port = free_port(port)
        print(f"Starting JupyterLab for the course in {root} (port {port}) ...", flush=True)
        proc = _start(port, root, env, token, args.browser)
        if proc is not None:
            break
        port += 1
    if proc is None:
        print("course lab: could not keep a free port (other servers keep taking them): pass --port.")
        return 1
    start = (Path(os.path.relpath(work, root)) / "labs").as_posix() if work.is_relative_to(root) else ""
    url = f"http://127.0.0.1:{port}/lab/tree/{start}?token={token}"
    print("\n  JupyterLab is ready. Open:\n\n    " + url + "\n")
    print(f"  Your notebooks are in {work}/labs: edit those (labs/ is the course's generated copy).")
    print("  Lab 3 notebooks use the kernel 'PYNQ virtual board (Zynq-7020)'. Stop with Ctrl-C.", flush=True)
    stop = {"sig": None}

    def on_signal(signum, _frame):
        stop["sig"] = signum
        _stop(proc)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        code = proc.wait()
    finally:
        _stop(proc)
    return 0 if stop["sig"] is not None else code
