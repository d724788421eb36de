"""Start a command under resource limits (the grader's kernels): ``python -m ...sandbox [opts] -- cmd``.

Standard library only. Sets ``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE`` (file size: a flood of writes
fails with "File too large"), ``RLIMIT_CPU`` (a backstop for runaway children), no core files,
asks Linux to kill the process when its parent dies, writes its pid, optionally drops root
privileges to another user, then ``exec``s the command (so the pid is the kernel's).
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
    parser.add_argument("--pidfile", default="")
    parser.add_argument("--user", default="")
    parser.add_argument("--home", default="")
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1:]
    if not cmd:
        raise SystemExit("sandbox: no command given after --")
    _die_with_parent()
    if args.memory_mb:
        _limit(resource.RLIMIT_AS, args.memory_mb * MB)
    if args.file_mb:
        _limit(resource.RLIMIT_FSIZE, args.file_mb * MB)
    if args.cpu_seconds:
        _limit(resource.RLIMIT_CPU, args.cpu_seconds)
    _limit(resource.RLIMIT_CORE, 0)
    if args.pidfile:
        Path(args.pidfile).write_text(str(os.getpid()))
    if args.user:
        cmd = _drop_to(args.user, cmd, Path(args.home or os.getcwd()))
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
