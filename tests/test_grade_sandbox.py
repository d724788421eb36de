"""The bubblewrap sandbox of the grader, for real: one submission's kernel sees nothing of the grader.

Runs on Linux whenever bubblewrap can make a sandbox (``make system-deps`` installs it); a missing
``bwrap`` on Linux fails the test rather than skipping it, so the sandbox is exercised by ``make test``.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
import test_grade

from course_utils.authoring import sandbox as sb
from course_utils.authoring.grade import (
    FLAG_PROCESSES,
    Grader,
    GradingError,
    Options,
    bwrap_problem,
    discover,
)

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="bubblewrap is Linux only")

MARK = "course-grader-detached-survivor"
kit = test_grade.kit  # the small synthetic lab of test_grade.py
_grader_key = test_grade._grader_key


@pytest.fixture(scope="module", autouse=True)
def _bwrap_works():
    problem = bwrap_problem()
    if problem:
        pytest.fail(f"the grader's sandbox cannot run here: {problem} (run `make system-deps`)")


def _probe_cells(port: int, secrets: dict[str, str]) -> list[str]:
    """Cells that try each escape and print one line per attempt."""
    return [
        "import os, socket, subprocess, sys, errno\n"
        "print('uid', os.getuid(), 'gid', os.getgid())\n"
        "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
        f"paths = {json.dumps(secrets)}\n"
        "for what, p in paths.items():\n"
        "    print('sees', what, os.path.exists(p))",
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        "    print('network: reached the host')\n"
        "except OSError as err:\n"
        "    print('network: blocked', type(err).__name__)",
        "for target in (os.environ['COURSE_ROOT'] + '/course_utils/x.py', '/usr/x',\n"
        "               os.path.join(os.getcwd(), '01_demo.ipynb')):\n"
        "    try:\n"
        "        open(target, 'w').write('x')\n"
        "        print('wrote', target)\n"
        "    except OSError as err:\n"
        "        print('read-only' if err.errno in (errno.EROFS, errno.EACCES) else 'other error', target)",
        "written = 0\n"
        "try:\n"
        "    for i in range(20):\n"
        "        with open(os.path.join(os.environ['HOME'], f'fill{i}.bin'), 'wb') as f:\n"
        "            f.write(b'0' * 20 * 2**20)\n"
        "        written += 20\n"
        "    print('disk: wrote', written, 'MB')\n"
        "except OSError as err:\n"
        "    print('disk: full after', written, 'MB', errno.errorcode[err.errno])\n"
        "for i in range(20):\n"
        "    try:\n"
        "        os.remove(os.path.join(os.environ['HOME'], f'fill{i}.bin'))\n"
        "    except OSError:\n"
        "        pass",
        # a detached process (setsid + double fork) that would outlive the grader
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sh', ['sh', '-c', 'exec -a {MARK} sleep 600'])\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('detached a process')",
        "print('env', sorted(k for k in os.environ if 'SECRET' in k))",
    ]


def _survivors() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if MARK in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _printed(path):
    """What the executed notebook's cells printed, as one text.

    Stream outputs carry their own newlines, and one print can arrive as two stream messages when the kernel
    flushes between its writes (as it does on a loaded machine): they are joined as they came.
    """
    return "".join(o.get("text", "") for c in nbformat.read(path, as_version=4).cells
                   if c.cell_type == "code" for o in c.outputs)


def test_a_kernel_in_the_sandbox_sees_only_its_own_world(kit, tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    reached = threading.Event()

    def accept():
        listener.settimeout(60)
        try:
            listener.accept()
            reached.set()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    subs, out = tmp_path / "submissions", tmp_path / "out"
    secrets = {"solutions": str(kit / "solutions"), "the output folder": str(out),
               "other submissions": str(subs / "other"),
               "the grader's kit": str(kit / "course_utils" / "checks"),
               "the home of root": "/root/.bash_history", "shadow": "/etc/shadow"}
    nb = nbformat.read(kit / "labs" / "lab9_demo" / "01_demo.ipynb", as_version=4)
    cells = _probe_cells(listener.getsockname()[1], secrets)
    nb.cells[2:2] = [nbformat.v4.new_code_cell(src) for src in cells]
    for name in ("probe", "other"):
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / "01_demo.ipynb")
    grader = Grader(kit, [kit / "solutions" / "lab9_demo" / "01_demo.ipynb"], out,
                    Options(workers=1, progress=False, sandbox="bwrap", limits={"disk_mb": 100}))
    assert grader.sandbox == "bwrap"
    grader.grade([s for s in discover(subs, grader.stems) if s.student == "probe"])
    text = _printed(out / "executed" / "probe" / "01_demo.ipynb")
    assert f"uid {sb.SANDBOX_UID} gid {sb.SANDBOX_UID}" in text, text
    pids = json.loads(text.split("pids ", 1)[1].splitlines()[0])
    assert max(pids) < 50, f"the kernel sees the host's processes: {pids}"
    for what in secrets:
        assert f"sees {what} False" in text, text
    assert "network: blocked" in text and not reached.is_set()
    assert text.count("read-only ") == 3 and "wrote " not in text, text
    assert "disk: full after" in text and "ENOSPC" in text, text
    full = int(text.split("disk: full after ", 1)[1].split()[0])
    assert full < 100, text
    assert "detached a process" in text and "env []" in text, text
    deadline = time.monotonic() + 30
    while _survivors() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _survivors() == [], "a detached process outlived the sandbox"
    listener.close()


def test_bwrap_command_line_shares_only_the_socket_folder(tmp_path):
    argv = sb.bwrap_argv(programs=[shutil.which("python3") or "/usr/bin/python3"],
                         ro_binds={str(tmp_path / "kit"): "/course/kit"}, dirs=["/course/tmp"],
                         ipc_dir=str(tmp_path / "ipc"), disk_mb=64)
    binds = [(argv[i], argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    assert [b for b in binds if b[0] == "--bind"] == [("--bind", str(tmp_path / "ipc"), sb.INSIDE_IPC)]
    assert ("--ro-bind", str(tmp_path / "kit"), "/course/kit") in binds
    assert "--unshare-all" in argv and "--die-with-parent" in argv and argv[-1] == "--"
    assert argv[argv.index("--size") + 1] == str(64 * 2**20) and argv[argv.index("--size") + 2] == "--tmpfs"
    assert not any(b[1] in ("/", "/etc", "/root", "/home", "/work") for b in binds)


def test_sandbox_choice_is_explicit(kit, tmp_path):
    assert "did not run" in bwrap_problem(str(tmp_path / "no-such-bwrap"))
    solution = [kit / "solutions" / "lab9_demo" / "01_demo.ipynb"]

    def make(**options):
        return Grader(kit, solution, tmp_path / "out", Options(progress=False, **options))

    with pytest.raises(GradingError, match="--sandbox 'nowhere'"):
        make(sandbox="nowhere")
    with pytest.raises(GradingError, match="--kernel-user is for --sandbox limits"):
        make(sandbox="bwrap", kernel_user="nobody")
    assert make(sandbox="limits").sandbox == "limits" and make().sandbox == "bwrap"


# --------------------------------------------------------------------------- the process-count limit

def _fork_bomb() -> str:
    """The corpus's fork-bomb cell (tests/grading_corpus/corpus.py)."""
    sys.path.insert(0, str(Path(__file__).parent / "grading_corpus"))
    try:
        import corpus
    finally:
        sys.path.pop(0)
    return corpus.FORK_BOMB


def test_a_fork_bomb_stops_at_the_process_limit_and_the_others_are_unaffected(kit, tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    bomb = test_grade._solved(kit)
    bomb.cells.insert(4, nbformat.v4.new_code_cell(_fork_bomb()))
    test_grade._save(subs, "bomber", bomb)
    test_grade._save(subs, "other", test_grade._solved(kit))
    grader = Grader(kit, [kit / "solutions" / "lab9_demo" / "01_demo.ipynb"], out,
                    Options(workers=2, progress=False, sandbox="bwrap", limits={"processes": 64}))
    assert grader.process_limit is not None, grader.describe_process_limit()  # never bomb an unlimited host
    results = {r["student"]: r for r in grader.grade(discover(subs, grader.stems))}
    bomber, other = results["bomber"], results["other"]
    assert bomber["total"] == bomber["max"] == other["total"] and bomber["status"] == "graded"
    assert bomber["flags"] == [FLAG_PROCESSES] and other["flags"] == []
    text = _printed(out / "executed" / "bomber" / "01_demo.ipynb")
    alive = int(text.split("fork bomb: ", 1)[1].split()[0])
    assert 0 < alive <= 64, text
    assert "refused more" in (out / "feedback" / "bomber.md").read_text()
    if grader.process_limit == "cgroup":  # its folders are gone with the run
        from course_utils.authoring import cgroups
        base = cgroups.controller_dir("pids")
        assert base is not None and not list(base.glob(f"course-grade-{os.getpid()}-*"))


def test_rlimit_nproc_bounds_a_sandbox_started_by_an_unprivileged_user():
    """The path without a writable cgroup: RLIMIT_NPROC set inside the sandbox's own user namespace (by
    sandbox.inner_argv) counts that sandbox's processes only; it needs a non-root uid outside, so as root
    the launcher first drops to ``nobody``."""
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="sandbox-nproc-", dir="/tmp"))  # readable by nobody, unlike tmp_path
    try:
        (base / "kit" / "course_utils" / "authoring").mkdir(parents=True)
        shutil.copy(sb.__file__, base / "kit" / "course_utils" / "authoring" / "sandbox.py")
        (base / "ipc").mkdir()
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        python = "/usr/bin/python3"
        fork = ("import os, time\nn = 0\nfor i in range(200):\n    try:\n        pid = os.fork()\n"
                "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n"
                "        os._exit(0)\n    n += 1\nprint('forked', n)")
        argv = [*sb.bwrap_argv(programs=[python], ro_binds={str(base / "kit" / "course_utils"):
                                                             f"{sb.INSIDE_ROOT}/course_utils"},
                               dirs=[f"{sb.INSIDE_ROOT}/tmp"], ipc_dir=str(base / "ipc"), disk_mb=16,
                               bwrap=shutil.which("bwrap") or "/usr/bin/bwrap"),
                *sb.inner_argv(python, 40), python, "-c", fork]
        if os.geteuid() == 0:
            argv = [sys.executable, "-I", "-S", sb.__file__, "--user", "nobody", "--home", str(base), "--",
                    *argv]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert res.stdout.startswith("forked "), res.stderr
        assert 20 < int(res.stdout.split()[1]) < 40, res.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)
