"""The board part imports with numpy (+ pynq) only; the start-up hook; the pynq internals it relies on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST_ONLY = ("torch", "finn", "qonnx", "onnx", "brevitas", "onnxruntime")


def run(code: str, env_extra: dict[str, str] | None = None,
        drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter of this (board) environment."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(ROOT))


def test_host_only_packages_are_absent_here() -> None:
    r = run(f"import importlib.util as u; print([m for m in {HOST_ONLY!r} if u.find_spec(m)])")
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


@pytest.mark.parametrize("module", ["packing", "package", "runtime", "accel", "cgen", "plots", "rtlsim"])
def test_board_modules_import_without_pynq_or_host_packages(module: str) -> None:
    r = run(f"import sys, course_utils.board.{module}; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HOST_ONLY + ('pynq',)!r}))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_autoload_is_cheap_and_registers_the_device_when_pynq_is_imported() -> None:
    code = ("import sys, course_utils.board.virtual.autoload as a; "
            "print('pynq' in sys.modules, 'course_utils.board.virtual.device' in sys.modules); "
            "import pynq; from pynq.pl_server.device import DeviceMeta; "
            "print(sorted((k, v.__name__) for k, v in DeviceMeta._subclasses.items())); "
            "print(type(pynq.Device.active_device).__name__)")
    r = run(code, {"PYNQ_VIRTUAL_BOARD": "Pynq-Z2"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "False False"          # nothing heavy at start-up
    assert "(900, 'VirtualZynqDevice')" in lines[1]
    assert lines[2] == "VirtualZynqDevice"
    assert "pkg_resources" not in r.stderr


def test_the_board_env_pth_switches_the_virtual_board_on_at_start_up() -> None:
    """The kernel sets PYNQ_VIRTUAL_BOARD; the board env's .pth does the rest (no import in user code)."""
    r = run("from pynq import allocate; import numpy as np; b = allocate((4,), np.uint8); "
            "print(hex(b.physical_address), type(b.device).__name__)", {"PYNQ_VIRTUAL_BOARD": "Pynq-Z2"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "VirtualZynqDevice"


def test_a_spec_lookup_before_the_import_does_not_lose_the_device() -> None:
    """A setup cell's kernel check looks pynq up (find_spec) before importing it: the device still appears."""
    r = run("import importlib.util; from course_utils import checks; checks.environment('lab3'); "
            "assert importlib.util.find_spec('pynq'); from pynq import Device; "
            "print(type(Device.active_device).__name__)", {"PYNQ_VIRTUAL_BOARD": "Pynq-Z2"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "VirtualZynqDevice"


def test_without_the_variable_pynq_finds_no_device() -> None:
    r = run("import pynq; pynq.allocate((4,))", drop=("PYNQ_VIRTUAL_BOARD",))
    assert r.returncode != 0 and "No Devices Found" in r.stderr


def test_remote_devices_requested_means_no_silent_emulation(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.board.virtual.device import VirtualZynqDevice

    monkeypatch.setenv("PYNQ_REMOTE_DEVICES", "192.0.2.1")
    assert VirtualZynqDevice._probe_() == []
    monkeypatch.delenv("PYNQ_REMOTE_DEVICES")
    monkeypatch.setattr("course_utils.board.virtual.device.real_board_present", lambda: True)
    assert VirtualZynqDevice._probe_() == []


def test_board_names() -> None:
    from course_utils.board.virtual.device import board_name

    assert board_name("1") == "Pynq-Z2" and board_name("pynq-z1") == "Pynq-Z1"
    assert board_name("Zybo-Z7-20") == "Zybo-Z7-20"
    with pytest.raises(ValueError, match="use one of Pynq-Z1, Pynq-Z2, Zybo-Z7-20"):
        board_name("ZCU104")


# ---- the pynq 3.1.2 internals the virtual board relies on (they would break on a pynq upgrade) ----

def test_pynq_version_is_pinned() -> None:
    from importlib.metadata import version

    assert version("pynq") == "3.1.2"


def _probe_priority(module: str) -> int:
    """``_probe_priority_`` of a pynq device module, read from its source (it only imports on a board)."""
    import ast

    import pynq

    tree = ast.parse((Path(pynq.__file__).parent / "pl_server" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_probe_priority_":
            return node.value.value
    raise AssertionError(f"no _probe_priority_ in {module}")


def test_device_probing_orders_by_priority_and_caches() -> None:
    import pynq
    from pynq.pl_server.device import DeviceMeta

    assert DeviceMeta._subclasses[900].__name__ == "VirtualZynqDevice"
    # on a board (XILINX_XRT set) the real devices register too, and probe first (lower = preferred)
    assert {m: _probe_priority(m) for m in ("embedded_device", "remote_device", "xrt_device")} == \
        {"embedded_device": 50, "remote_device": 100, "xrt_device": 200}
    src = (Path(pynq.__file__).parent / "pl_server" / "device.py").read_text()
    assert "for key in sorted(DeviceMeta._subclasses.keys()):" in src
    assert "cls._active_device = cls.devices[0]" in src
    assert pynq.Device.devices is pynq.Device.devices  # probed once
    assert pynq.Device.active_device is pynq.Device.devices[0]


def test_mmio_goes_through_register_rw(device) -> None:
    from pynq import MMIO

    m = MMIO(0xF8000000, 0x200)
    assert m.read(0x170) == device.slcr.regs[0x170]
    m.write(0x1A0, 0x123)
    assert device.slcr.regs[0x1A0] == 0x123


def test_pynqbuffer_frees_through_pointer_and_return_to(device) -> None:
    from pynq import allocate
    from pynq.buffer import PynqBuffer

    b = allocate((16,), np.uint32)
    assert isinstance(b, PynqBuffer) and b.pointer and b.return_to is not None
    bo = b.pointer
    assert bo in device.memory.buffers
    b.freebuffer()
    assert bo not in device.memory.buffers and b.pointer == 0
    b.freebuffer()  # twice is harmless (pynq calls it again from __del__)
    view = allocate((32,), np.uint8)[8:]
    assert view.physical_address % 8 == 0 and view.device is device


def test_the_rtl_compile_path_imports_no_host_packages() -> None:
    """The board side compiles a package's RTL with course_utils.rtl.verilate: no FINN/torch on that path."""
    r = run("import sys, course_utils.board.rtlsim, course_utils.rtl.verilate as v; v.verilator_version(); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HOST_ONLY!r}))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
