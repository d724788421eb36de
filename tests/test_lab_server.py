"""`course lab` for real: its own free port, the printed URL answers with its token, no token in `ps`; and
the student's work/ folder (course_utils.workspace): copied once, never overwritten."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course_utils import workspace

ROOT = Path(__file__).resolve().parent.parent
COURSE = Path(sys.executable).with_name("course")
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/lab/tree/(\S*)\?token=([0-9a-f]+)")


# ----------------------------------------------------------------------------- workspace
def _kit(tmp: Path) -> Path:
    root = tmp / "kit"
    for rel, text in {"labs/lab1_qat/01_a.ipynb": '{"v": 1}', "labs/lab1_qat/02_b.ipynb": '{"v": 1}',
                      "labs/lab1_qat/.ipynb_checkpoints/01_a-checkpoint.ipynb": "{}"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_work_copies_once_refreshes_untouched_and_never_overwrites_edits(tmp_path):
    root = _kit(tmp_path)
    work = tmp_path / "work"
    first = workspace.sync(root, work)
    assert sorted(first.copied) == ["labs/lab1_qat/01_a.ipynb", "labs/lab1_qat/02_b.ipynb"]
    assert not (work / "labs" / "lab1_qat" / ".ipynb_checkpoints").exists()
    mine = work / "labs" / "lab1_qat" / "01_a.ipynb"
    mine.write_text('{"v": 1, "student": "my answers"}')             # the student runs and saves 01
    (root / "labs" / "lab1_qat" / "01_a.ipynb").write_text('{"v": 2}')  # git pull + course labs
    (root / "labs" / "lab1_qat" / "02_b.ipynb").write_text('{"v": 2}')
    (root / "labs" / "lab1_qat" / "03_c.ipynb").write_text('{"v": 1}')  # and adds a notebook
    second = workspace.sync(root, work)
    assert mine.read_text() == '{"v": 1, "student": "my answers"}'
    assert second.kept == ["labs/lab1_qat/01_a.ipynb"]
    assert second.refreshed == ["labs/lab1_qat/02_b.ipynb"]               # untouched: the new version
    assert (work / "labs" / "lab1_qat" / "02_b.ipynb").read_text() == '{"v": 2}'
    assert second.copied == ["labs/lab1_qat/03_c.ipynb"]
    assert any("course work --fresh labs/lab1_qat/01_a.ipynb" in line for line in second.lines())
    kept = workspace.fresh("labs/lab1_qat/01_a.ipynb", root, work)
    assert kept.read_text() == '{"v": 1, "student": "my answers"}' and mine.read_text() == '{"v": 2}'
    assert workspace.sync(root, work).kept == []
    with pytest.raises(FileNotFoundError, match="not a course file"):
        workspace.fresh("labs/nope.ipynb", root, work)


def test_course_work_command_on_the_real_kit(tmp_path):
    env = {**os.environ, "COURSE_WORK": str(tmp_path / "w")}
    res = subprocess.run([str(COURSE), "work"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    theirs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "labs").rglob("*.ipynb")
                    if ".ipynb_checkpoints" not in p.parts)
    w = tmp_path / "w"
    ours = sorted(p.relative_to(w).as_posix() for p in (w / "labs").rglob("*.ipynb"))
    assert ours == theirs and theirs
    again = subprocess.run([str(COURSE), "work"], env=env, capture_output=True, text=True, timeout=120)
    assert "copied" not in again.stdout and again.returncode == 0


# ----------------------------------------------------------------------------- course lab
def _jupyter_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                     "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython"}.items():
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    for var in ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", "COURSE_LAB_TOKEN"):
        env.pop(var, None)
    env.update(extra)
    return env


def _status(url: str, token: str | None) -> int:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback)
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _wait_url(proc: subprocess.Popen, log: Path, timeout: float = 300) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = URL.search(log.read_text(errors="replace"))
        if m:
            return m
        assert proc.poll() is None, f"course lab exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"course lab printed no URL within {timeout} s:\n{log.read_text()[-3000:]}")


def _tree_pids(pid: int) -> list[int]:
    return [int(c.split(":", 1)[0]) for c in _tree_cmdlines(pid, with_pid=True)]


def _tree_cmdlines(pid: int, with_pid: bool = False) -> list[str]:
    """Command lines of ``pid`` and all its descendants (Jupyter and its kernels run in their own session)."""
    parents, cmdlines = {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if state == "Z":  # exited, not yet reaped: not running
                continue
            parents[int(proc.name)] = int(ppid)
            raw = (proc / "cmdline").read_bytes()
            cmdlines[int(proc.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {pid} & set(parents), True
    while grew:
        new = {p for p, parent in parents.items() if parent in tree} - tree
        tree |= new
        grew = bool(new)
    return [f"{p}:{cmdlines[p]}" if with_pid else cmdlines[p] for p in sorted(tree)]


@pytest.mark.slow
def test_two_course_labs_at_once_each_url_reaches_its_own_server(tmp_path):
    """Both start at the same, taken, preferred port: each prints the URL of the server that answers its own
    token (200) and refuses requests without it (403); no process shows a token on its command line."""
    blocker = __import__("socket").socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]                 # the preferred port is taken by something else
    procs, logs = [], []
    try:
        for name in ("a", "b"):
            log = tmp_path / f"{name}.log"
            env = _jupyter_env(tmp_path / name, COURSE_WORK=str(tmp_path / name / "work"))
            with open(log, "wb") as out:
                procs.append(subprocess.Popen([str(COURSE), "lab", "--port", str(busy)], env=env, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True))
            logs.append(log)
        found = [_wait_url(p, log) for p, log in zip(procs, logs)]
        ports = [int(m.group(1)) for m in found]
        tokens = [m.group(3) for m in found]
        assert busy not in ports and len(set(ports)) == 2 and len(set(tokens)) == 2, ports
        for port, token, other in zip(ports, tokens, reversed(tokens)):
            api = f"http://127.0.0.1:{port}/api/status"
            assert _status(api, token) == 200
            assert _status(api, None) == 403 and _status(api, other) == 403
        for proc, token in zip(procs, tokens):
            lines = _tree_cmdlines(proc.pid)
            assert any("jupyter" in c for c in lines), lines
            assert not [c for c in lines if token in c], "the token is visible in ps"
        trees = [_tree_pids(p.pid) for p in procs]
        assert (tmp_path / "a" / "work" / "labs").is_dir()
        assert json.loads((tmp_path / "a" / "work" / ".course" / "seeded.json").read_text())["seeded"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        blocker.close()
    for proc, tree in zip(procs, trees):
        assert proc.returncode == 0, "course lab stops cleanly on SIGTERM"
        alive = [pid for pid in tree if Path(f"/proc/{pid}").exists() and _tree_cmdlines(pid)]
        assert alive == [], f"processes of the stopped server are still alive: {alive}"
