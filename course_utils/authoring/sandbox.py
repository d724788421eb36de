"""Start a command under resource limits (the grader's kernels): ``python -m ...sandbox [opts] -- cmd``.

Standard library only. Sets ``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE`` (file size: a flood of writes
fails with "File too large"), ``RLIMIT_CPU`` (a backstop for runaway children), optionally
``RLIMIT_NPROC`` (``--processes``: processes and threads of the user), no core files, asks Linux to
kill the process when its parent dies, moves itself into the grader's cgroups (``--cgroup``: a
process count and memory limit for everything the kernel starts, see cgroups.py), writes its pid,
optionally drops root privileges to another user, then ``exec``s the command (so the pid is the
kernel's).

``RLIMIT_NPROC`` counts the processes of a uid *in the current user namespace*, so inside a
bubblewrap sandbox (``inner_argv``: this file again, run by the sandbox's first process) it bounds
that sandbox alone; Linux does not enforce it when the uid outside is root (a sandbox started by
root), which is why the grader also uses a ``pids`` cgroup where it can.

With ``--ipc OUTSIDE:INSIDE`` the command is a bubblewrap sandbox (``bwrap_argv`` builds it) whose
kernel talks to the grader over unix sockets in a folder the sandbox sees at another path: the
kernel's connection file is copied there with its socket prefix rewritten to the inside path.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
from pathlib import Path

MB = 1024 * 1024
PR_SET_PDEATHSIG = 1


def _limit(which: int, value: int) -> None:
    """Lower a soft and hard limit to ``value`` (never raise one above its current hard limit)."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _join_cgroup(folder: str) -> None:
    """Move this process (and so everything it starts) into the cgroup ``folder``."""
    try:
        with open(Path(folder) / "cgroup.procs", "w") as fh:
            fh.write(str(os.getpid()))
    except OSError as err:
        raise SystemExit(f"sandbox: could not join the cgroup {folder}: {err}") from None


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the process that started it exits."""
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the grader still kills the process group
        pass


def _drop_to(user: str, cmd: list[str], home: Path) -> list[str]:
    """Switch to ``user`` (root only); copy the kernel's connection file where that user can read it."""
    import pwd
    entry = pwd.getpwnam(user)
    if "-f" in cmd:
        i = cmd.index("-f") + 1
        private = home / ".kernel-connection.json"
        shutil.copyfile(cmd[i], private)
        os.chown(private, entry.pw_uid, entry.pw_gid)
        os.chmod(private, 0o600)
        cmd = [*cmd[:i], str(private), *cmd[i + 1:]]
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.getuid() != entry.pw_uid or os.geteuid() == 0:
        raise SystemExit(f"sandbox: could not drop privileges to {user}")
    return cmd


# Files of /etc a Python kernel needs (dynamic linker, users, time zone, certificates); the rest of
# /etc (shadow, the grader's configuration) is not visible in the sandbox.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "hosts",
             "localtime", "ssl", "ca-certificates", "alternatives", "fonts", "mime.types", "os-release")
SANDBOX_UID = 1000
INSIDE_ROOT = "/course"
INSIDE_IPC = "/run/kernel"


def python_roots(program: str) -> list[str]:
    """The folders an interpreter needs: its virtual environment (if any) and its installation."""
    exe = Path(program)
    roots: list[Path] = []
    venv = exe.parent.parent
    cfg = venv / "pyvenv.cfg"
    if cfg.is_file():
        roots.append(venv.resolve())
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                roots.append(Path(value.strip()).resolve().parent)
    roots.append(exe.resolve().parent.parent)
    out: list[str] = []
    for root in roots:
        if str(root) not in out and not any(str(root).startswith(o + "/") for o in out):
            out.append(str(root))
    return [r for r in out if r not in ("/usr", "/")]


def bwrap_argv(*, programs: list[str], ro_binds: dict[str, str], dirs: list[str], ipc_dir: str,
               disk_mb: int, chdir: str = INSIDE_ROOT, bwrap: str = "bwrap",
               rw_binds: dict[str, str] | None = None) -> list[str]:
    """A bubblewrap command line (ending in ``--``) that isolates one kernel.

    Own user (uid 1000, no capabilities), PID, network (loopback included), IPC and UTS namespaces;
    killed with its parent; a read-only system (/usr and a few /etc files) and interpreters; an
    empty size-limited tmpfs at ``/course`` (``disk_mb``: every file the notebook writes counts)
    holding ``dirs``, with ``ro_binds`` (outside path -> inside path) mounted read-only in it; /tmp
    is a link into that tmpfs; ``ipc_dir`` (the kernel's sockets) is the only folder shared with
    the grader, apart from ``rw_binds`` (only for the solution's own run: the build caches it fills)."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--die-with-parent", "--new-session", "--hostname", "grading-sandbox",
            # the launcher's pid means nothing in the sandbox's PID namespace (the kernel would exit)
            "--unsetenv", "JPY_PARENT_PID",
            "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    if Path("/sys/devices/system/cpu").is_dir():  # core counts for numpy / torch
        argv += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    roots: list[str] = []
    for program in programs:
        roots += [r for r in python_roots(program) if r not in roots]
    for root in roots:
        argv += ["--ro-bind", root, root]
    argv += ["--size", str(int(disk_mb) * MB), "--tmpfs", INSIDE_ROOT]
    for d in dirs:
        argv += ["--dir", d]
    argv += ["--symlink", f"{INSIDE_ROOT}/tmp", "/tmp"]
    for src, dst in ro_binds.items():
        argv += ["--ro-bind", src, dst]
    for src, dst in (rw_binds or {}).items():
        argv += ["--bind", src, dst]
    argv += ["--bind", ipc_dir, INSIDE_IPC, "--chdir", chdir, "--"]
    return argv


def inner_argv(python: str, processes: int) -> list[str]:
    """The command a bubblewrap sandbox runs before the kernel: this file, as the sandbox sees it (the
    kit's package is bound at ``/course/course_utils``), setting ``RLIMIT_NPROC`` in the sandbox's own
    user namespace (set outside, it would also count the grader's own processes)."""
    return [python, "-I", "-S", f"{INSIDE_ROOT}/course_utils/authoring/sandbox.py",
            "--processes", str(int(processes)), "--"]


def _move_connection(cmd: list[str], outside: str, inside: str) -> list[str]:
    """Copy the kernel's connection file into the shared socket folder, as the sandbox sees it."""
    import json
    if "-f" not in cmd:
        raise SystemExit("sandbox: --ipc needs a kernel command with -f CONNECTION_FILE")
    i = len(cmd) - 1 - cmd[::-1].index("-f") + 1
    info = json.loads(Path(cmd[i]).read_text(encoding="utf-8"))
    if info.get("transport") != "ipc":
        raise SystemExit("sandbox: --ipc needs a kernel started with transport 'ipc'")
    prefix = Path(str(info["ip"]))
    if str(prefix.parent) != outside:
        raise SystemExit(f"sandbox: the kernel's sockets ({prefix}) are not in {outside}")
    info["ip"] = f"{inside}/{prefix.name}"
    target = Path(outside) / "kernel-connection.json"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
    return [*cmd[:i], f"{inside}/kernel-connection.json", *cmd[i + 1:]]


def main(argv: list[str] | None = None) -> None:
    """Apply the limits given on the command line, then exec the command after ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("usage: python -m course_utils.authoring.sandbox [options] -- command ...")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="sandbox")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--file-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--processes", type=int, default=0, help="RLIMIT_NPROC (processes and threads)")
    parser.add_argument("--cgroup", action="append", default=[], help="a cgroup folder to join")
    parser.add_argument("--pidfile", default="")
    parser.add_argument("--user", default="")
    parser.add_argument("--home", default="")
    parser.add_argument("--ipc", default="", help="OUTSIDE:INSIDE socket folder of a bubblewrap kernel")
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1:]
    if not cmd:
        raise SystemExit("sandbox: no command given after --")
    _die_with_parent()
    for folder in args.cgroup:
        _join_cgroup(folder)
    if args.processes:
        _limit(resource.RLIMIT_NPROC, args.processes)
    if args.memory_mb:
        _limit(resource.RLIMIT_AS, args.memory_mb * MB)
    if args.file_mb:
        _limit(resource.RLIMIT_FSIZE, args.file_mb * MB)
    if args.cpu_seconds:
        _limit(resource.RLIMIT_CPU, args.cpu_seconds)
    _limit(resource.RLIMIT_CORE, 0)
    if args.pidfile:
        Path(args.pidfile).write_text(str(os.getpid()))
    if args.ipc:
        outside, _, inside = args.ipc.partition(":")
        cmd = _move_connection(cmd, outside, inside or INSIDE_IPC)
    if args.user:
        cmd = _drop_to(args.user, cmd, Path(args.home or os.getcwd()))
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
