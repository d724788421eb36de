#!/usr/bin/env python3
"""Entry point of the course image: set up the Vivado tools if mounted, prepare the work folder, run.

    lab                     copy new course notebooks into the work folder, then JupyterLab (token required)
    jupyterhub-singleuser   the same folder preparation, then JupyterHub's server (the hub does the auth)
    grade ARGS              `course grade ARGS`; as root, the students' kernels run as `nobody` and the
                            results are handed to the owner of the --out folder afterwards
    anything else           run it as given: `course data`, `course doctor`, `bash`, ...

Environment: COURSE_ROOT (the kit, /opt/course), COURSE_WORK (the student's folder, a volume),
COURSE_LAB_TOKEN (>= 16 URL-safe characters; default: a random token kept in COURSE_WORK/.course/lab-token,
so bookmarks survive restarts), COURSE_LAB_IP (0.0.0.0: inside the container only; compose publishes the
port on the host's 127.0.0.1), COURSE_LAB_PORT (8888), COURSE_LAB_URL_PORT (the host port, for the printed
URL), FINN_XILINX_PATH + FINN_XILINX_VERSION (Vivado profile: Xilinx's settings64.sh scripts are sourced),
COURSE_ALLOW_ROOT=1 (serve as root: for tests on a root-only machine, never in the image).
Standard library only (and the kit's stdlib-only ``course_utils.fileio`` for atomic writes).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from course_utils.fileio import atomic_file, atomic_path

SEEDED = ("labs", "lectures")
SKIP_PARTS = {".ipynb_checkpoints", "__pycache__", "node_modules"}
SKIP_NAMES = {"package.json", "package-lock.json"}  # the lectures' slide tooling, not course material
MIN_TOKEN = 16
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]+")
XILINX_TOOLS = ("Vivado", "Vitis_HLS", "Vitis")
XILINX_VARS = ("XILINX_VIVADO", "XILINX_HLS", "XILINX_VITIS")
KERNEL_USER = "nobody"  # who runs the submissions' code when the grader runs as root


class EntrypointError(RuntimeError):
    """The container cannot start as asked; the message says what to do."""


def say(msg: str) -> None:
    print(f"[course] {msg}", file=sys.stderr, flush=True)


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy a file through a temp file beside ``dst`` and a rename (never a half-written notebook)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def seed_work(root: Path, work: Path) -> list[Path]:
    """Copy the course's student files (labs/, lectures/) that the work folder lacks; never overwrite."""
    copied = []
    for sub in SEEDED:
        src_dir = root / sub
        if not src_dir.is_dir():
            continue
        for src in sorted(src_dir.rglob("*")):
            rel = src.relative_to(root)
            if not src.is_file() or SKIP_PARTS.intersection(rel.parts) or src.name in SKIP_NAMES:
                continue
            dst = work / rel
            if not dst.exists():
                copy_atomic(src, dst)
                copied.append(dst)
    return copied


def write_secret(path: Path, text: str) -> None:
    """Write a secret (mode 0600) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_file(path, "w", permissions=0o600) as fh:
        fh.write(text)  # no newline: Jupyter reads JUPYTER_TOKEN_FILE verbatim


def check_token(token: str) -> str:
    """Return the token if it is long and URL-safe enough, else raise saying what to do."""
    if len(token) < MIN_TOKEN or not _TOKEN_RE.fullmatch(token):
        raise EntrypointError(
            f"COURSE_LAB_TOKEN must be at least {MIN_TOKEN} characters of A-Z a-z 0-9 . _ ~ - "
            "(or unset it for a random one): JupyterLab is never served without a real token.")
    return token


def lab_token(work: Path, environ: dict[str, str]) -> tuple[str, Path]:
    """The server's token and the file that holds it: COURSE_LAB_TOKEN, else the kept one, else a new one."""
    path = work / ".course" / "lab-token"
    given = (environ.get("COURSE_LAB_TOKEN") or environ.get("JUPYTER_TOKEN") or "").strip()
    if given:
        token = check_token(given)
    else:
        kept = path.read_text().strip() if path.is_file() else ""
        token = kept if len(kept) >= MIN_TOKEN and _TOKEN_RE.fullmatch(kept) else secrets.token_hex(24)
    write_secret(path, token)
    return token, path


def source_scripts(scripts: list[Path], environ: dict[str, str]) -> dict[str, str]:
    """The environment after sourcing shell scripts (Xilinx settings64.sh) in bash."""
    code = 'for f in "$@"; do . "$f" >/dev/null 2>&1 || exit 3; done; env -0'
    res = subprocess.run(["bash", "-c", code, "source", *map(str, scripts)], env=environ,
                         capture_output=True, timeout=120)
    if res.returncode != 0:
        raise EntrypointError(f"sourcing {', '.join(map(str, scripts))} failed (exit {res.returncode}): "
                              "check the Xilinx installation mounted at FINN_XILINX_PATH.")
    pairs = (item.split("=", 1) for item in res.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs}


def xilinx_env(environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Vivado profile: source the Xilinx settings of FINN_XILINX_PATH/<tool>/FINN_XILINX_VERSION.

    Returns the new environment and messages. Without a usable Vivado the XILINX_* variables are dropped,
    so the kit says "Vivado not found: <step> skipped" instead of failing inside a tool."""
    base, version = environ.get("FINN_XILINX_PATH", ""), environ.get("FINN_XILINX_VERSION", "")
    if not base:
        return environ, []
    scripts = [Path(base, tool, version, "settings64.sh") for tool in XILINX_TOOLS]
    found = [s for s in scripts if s.is_file()]
    env = dict(environ)
    if not version or scripts[0] not in found:
        for var in XILINX_VARS:
            env.pop(var, None)
        return env, [f"Vivado profile: {scripts[0]} not found. Set XILINX_HOST_DIR to the folder that "
                     "holds Vivado/<version> (default /tools/Xilinx) and XILINX_VERSION to its version "
                     "(e.g. 2022.2 or 2024.2); continuing without Vivado (the kit skips the Vivado steps)."]
    env = source_scripts(found, env)
    env.setdefault("XILINX_LOCAL_USER_DATA", "no")  # as finn-plus sets it: no per-user Xilinx data folder
    vivado = Path(env.get("XILINX_VIVADO", "")) / "bin" / "vivado"
    if not vivado.is_file():
        for var in XILINX_VARS:
            env.pop(var, None)
        return env, [f"Vivado profile: sourced {scripts[0]}, but {vivado} does not exist; continuing "
                     "without Vivado."]
    return env, [f"Vivado profile: {', '.join(s.parent.parent.name + ' ' + version for s in found)} "
                 f"from {base} (XILINX_VIVADO={env['XILINX_VIVADO']})."]


def lab_command(work: Path, environ: dict[str, str]) -> list[str]:
    """The ``jupyter lab`` command of the container: all interfaces inside it, a fixed port, no browser."""
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter) if jupyter.exists() else "jupyter", "lab",
           f"--ServerApp.ip={environ.get('COURSE_LAB_IP', '0.0.0.0')}",
           f"--ServerApp.port={int(environ.get('COURSE_LAB_PORT', 8888))}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={work}", "--ServerApp.open_browser=False",
           "--ServerApp.disable_check_xsrf=False"]
    if os.geteuid() == 0:
        if environ.get("COURSE_ALLOW_ROOT") != "1":
            raise EntrypointError("refusing to serve JupyterLab as root: run the image as its own user "
                                  "(uid 1000; drop `--user root` / `user: root`).")
        cmd.append("--allow-root")
    return cmd


def prepare_work(root: Path, work: Path) -> None:
    """Check the work folder is writable and copy in the course files it lacks."""
    work.mkdir(parents=True, exist_ok=True)
    if not os.access(work, os.W_OK):
        raise EntrypointError(f"the work folder {work} is not writable by uid {os.getuid()}: mount a volume "
                              "owned by uid 1000 there (docker compose does), or fix its ownership.")
    copied = seed_work(root, work)
    if copied:
        say(f"copied {len(copied)} new course file(s) into {work} (your own files are never overwritten)")


def grade_command(args: list[str], euid: int) -> list[str]:
    """``course grade ARGS``, plus ``--kernel-user nobody`` when running as root (unless one is given)."""
    course = Path(sys.executable).with_name("course")
    cmd = [str(course) if course.exists() else "course", "grade", *args]
    if euid == 0 and not any(a == "--kernel-user" or a.startswith("--kernel-user=") for a in args):
        cmd += ["--kernel-user", KERNEL_USER]
    return cmd


def option_value(args: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``args`` (the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def give_back(folder: Path) -> int:
    """Give everything under ``folder`` to the folder's owner (results written as root belong to the
    instructor who mounted it); return how many entries changed owner."""
    owner = folder.stat()
    changed = 0
    for path in folder.rglob("*"):
        st = path.lstat()
        if (st.st_uid, st.st_gid) != (owner.st_uid, owner.st_gid):
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
            changed += 1
    return changed


def run_grade(args: list[str], env: dict[str, str]) -> int:
    """Run the grader (see grade_command); afterwards hand the results to the --out folder's owner."""
    cmd = grade_command(args, os.geteuid())
    say("grading: " + " ".join(cmd))
    code = subprocess.run(cmd, env=env).returncode
    out = option_value(args, "--out")
    if os.geteuid() == 0 and out and Path(out).is_dir():
        give_back(Path(out))
    return code


def main(argv: list[str]) -> int:
    """Run the container's command; see the module docstring."""
    cmd = argv or ["lab"]
    try:
        env, messages = xilinx_env(dict(os.environ))
        for msg in messages:
            say(msg)
        root = Path(env.get("COURSE_ROOT", Path(__file__).resolve().parent.parent))
        work = Path(env.get("COURSE_WORK", Path.home() / "work"))
        if cmd[0] in ("lab", "jupyterhub-singleuser"):
            prepare_work(root, work)
        if cmd[0] == "grade":
            return run_grade(cmd[1:], env)
        if cmd[0] == "lab":
            cmd = lab_command(work, env) + cmd[1:]
            token, token_path = lab_token(work, env)
            env.pop("JUPYTER_TOKEN", None)
            env.pop("COURSE_LAB_TOKEN", None)
            env["JUPYTER_TOKEN_FILE"] = str(token_path)
            env.setdefault("JUPYTERLAB_SETTINGS_DIR", str(work / ".course" / "lab-settings"))
            env.setdefault("JUPYTERLAB_WORKSPACES_DIR", str(work / ".course" / "lab-workspaces"))
            port = env.get("COURSE_LAB_URL_PORT") or env.get("COURSE_LAB_PORT", "8888")
            say(f"JupyterLab for the course: http://127.0.0.1:{port}/lab?token={token}")
            say(f"(token kept in {token_path} inside the volume; set COURSE_LAB_TOKEN to choose your own)")
    except EntrypointError as err:
        say(f"error: {err}")
        return 2
    sys.stdout.flush()
    try:
        os.execvpe(cmd[0], cmd, env)
    except FileNotFoundError:
        say(f"error: no command {cmd[0]!r} in the image: use `lab`, `jupyterhub-singleuser`, or a program "
            "such as `course`, `python`, `bash`.")
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
