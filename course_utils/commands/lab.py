"""``course lab``: JupyterLab on 127.0.0.1 with a random token, opened at the course's start page."""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from course_utils.paths import kit_root


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=int(os.environ.get("COURSE_LAB_PORT", 8888)),
                        help="port on 127.0.0.1 (default 8888; the next free one is used if taken)")
    parser.add_argument("--token", default=os.environ.get("COURSE_LAB_TOKEN"),
                        help="access token (default: a new random one)")
    parser.add_argument("--browser", action="store_true", help="also open a web browser")
    parser.add_argument("--dry-run", action="store_true", help="print the command and exit")


def lab_command(port: int, token: str, root: Path, open_browser: bool = False) -> list[str]:
    """The ``jupyter lab`` command line: loopback only, token required, course folder as root."""
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter) if jupyter.exists() else shutil.which("jupyter") or "jupyter", "lab",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=20",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--ServerApp.open_browser={open_browser}", "--ServerApp.disable_check_xsrf=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def run(args: argparse.Namespace) -> int:
    root = kit_root()
    token = args.token or secrets.token_hex(24)
    cmd = lab_command(args.port, token, root, args.browser)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    print(f"Starting JupyterLab for the course in {root}")
    print(f"  Open: http://127.0.0.1:{args.port}/lab/tree/README.md?token={token}")
    print("  (if the port was taken, Jupyter picks the next one: use the URL it prints below)")
    print("  Lab 3 notebooks use the kernel 'PYNQ virtual board (Zynq-7020)'. Stop with Ctrl-C.")
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle torch threads must not spin on small machines
    return subprocess.call(cmd, cwd=root, env=env)
