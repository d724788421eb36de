"""The board part (``course_utils.board``) imports only numpy, pynq, the standard library and its own
modules. It runs on a PYNQ image (Python 3.10, numpy 1.x, pynq) where torch, FINN, qonnx, Brevitas and a Tcl
runtime are absent (docs/ARCHITECTURE.md). Two checks:

* static: every ``import`` statement in ``course_utils/board/**.py`` (module level *and* inside functions,
  read with ``ast``) names the standard library (``sys.stdlib_module_names``), numpy, pynq (with its own
  ``pynqmetadata``), a board module, one of the few optional display packages every PYNQ image has (imported
  inside functions only), or a ``course_utils`` module outside ``board`` that passes the same rule itself
  (followed transitively, so a shared helper cannot pull in tkinter or torch behind the board's back);
* dynamic: in the board environment (``.venv/board``), a subprocess blocks tkinter, torch, Brevitas, qonnx,
  FINN and onnx with a meta-path finder that raises, imports every module of ``course_utils.board``, and
  lists the modules that appeared beyond those ``import numpy, pynq`` loads: each must be standard library,
  ``course_utils.board`` or one of the shared helpers the static check followed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _imports import import_statements

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "course_utils"
BOARD_PY = ROOT / ".venv" / "board" / "bin" / "python"

# Third-party packages the board part may import anywhere: numpy and pynq (pynqmetadata ships with pynq).
ALLOWED = {"numpy", "pynq", "pynqmetadata"}
# Present on every PYNQ image, used for display only: allowed inside functions, never at module level.
OPTIONAL_IN_FUNCTIONS = {"matplotlib", "tqdm", "ipywidgets"}
BLOCKED = ("tkinter", "_tkinter", "torch", "brevitas", "qonnx", "finn", "onnx", "onnxruntime")


def _module_file(name: str) -> Path | None:
    """The source file of ``course_utils`` module ``name`` (package ``__init__`` or module), or None."""
    rel = Path(*name.split("."))
    for cand in (ROOT / rel / "__init__.py", ROOT / rel.with_suffix(".py")):
        if cand.is_file():
            return cand
    return None


def _imports(name: str) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function?, line) for every import statement of module ``name``."""
    path = _module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for base, alias, stmt, inner in import_statements(path, package):
        found.append((base, inner, stmt.lineno))
        # ``from course_utils import tools``: the submodule is imported too
        if alias is not None and _module_file(f"{base}.{alias}") is not None:
            found.append((f"{base}.{alias}", inner, stmt.lineno))
    return found


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def board_modules() -> list[str]:
    names = []
    for f in sorted((PKG / "board").rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def check_board_imports() -> tuple[list[str], set[str]]:
    """Walk the imports from every board module; return (violations, shared course_utils modules reached)."""
    problems: list[str] = []
    shared: set[str] = set()
    todo = list(board_modules())
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        for target, inner, line in _imports(mod):
            top = target.split(".")[0]
            where = f"{mod}:{line} imports {target}"
            if top == "course_utils":
                for m in _parents(target):  # importing a.b.c runs a/__init__ and a/b/__init__ first
                    if _module_file(m) is None:
                        problems.append(f"{where}: no such course_utils module")
                    elif m not in seen:
                        if not m.startswith("course_utils.board") and m != "course_utils":
                            shared.add(m)
                        todo.append(m)
            elif top in sys.stdlib_module_names or top == "__future__" or top in ALLOWED:
                if top in BLOCKED:
                    problems.append(f"{where}: blocked on the board")
            elif top in OPTIONAL_IN_FUNCTIONS:
                if not inner:
                    problems.append(f"{where}: display packages only inside functions")
            else:
                problems.append(f"{where}: not numpy, pynq, the standard library or course_utils.board")
    return problems, shared


def test_board_imports_static():
    problems, shared = check_board_imports()
    assert not problems, "the board part imports host-only modules:\n" + "\n".join(sorted(problems))
    # The shared helpers the board reaches are small standard-library modules; the .hwh generator is not one.
    assert not any(m.startswith(("course_utils.hw", "course_utils.finnflow.flow", "course_utils.train"))
                   for m in shared), sorted(shared)


def test_static_check_catches_a_host_import(tmp_path, monkeypatch):
    """The checker is not blind: a host-only import inside a function (as the old ``package.write_variant``
    imported the .hwh generator) and a display package at module level are both reported."""
    board = tmp_path / "course_utils" / "board"
    board.mkdir(parents=True)
    for rel in ("course_utils/__init__.py", "course_utils/board/__init__.py"):
        (tmp_path / rel).write_text("", encoding="utf-8")
    (board / "bad.py").write_text("import numpy\n\ndef f():\n    import torch\n    from . import good\n",
                                  encoding="utf-8")
    (board / "good.py").write_text("import json\nimport matplotlib\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PKG", tmp_path / "course_utils")
    problems, _ = check_board_imports()
    assert any("course_utils.board.bad:4 imports torch" in p for p in problems), problems
    assert any("course_utils.board.good:2 imports matplotlib: display packages only inside functions" in p
               for p in problems), problems
    assert len(problems) == 2, problems


_PROBE = r"""
import importlib, importlib.abc, json, pkgutil, sys
BLOCKED = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked on the board: {name}")
        return None

for name in list(sys.modules):  # the board env's start-up hook may have loaded something already
    if name.split(".")[0] in BLOCKED:
        raise SystemExit(f"{name} was imported at interpreter start-up")
sys.meta_path.insert(0, Block())
import numpy, pynq  # noqa: E401  (the baseline: everything these load is allowed)
base = set(sys.modules)
import course_utils.board as board
names = [board.__name__] + [m.name for m in pkgutil.walk_packages(board.__path__, board.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "new": sorted(set(sys.modules) - base),
                  "stdlib": sorted(sys.stdlib_module_names), "numpy": numpy.__version__}))
"""


@pytest.mark.skipif(not BOARD_PY.is_file(), reason="board environment .venv/board not set up (`make setup`)")
def test_board_imports_in_board_env():
    proc = subprocess.run([str(BOARD_PY), "-c", _PROBE, ",".join(BLOCKED)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["numpy"].startswith("1."), out["numpy"]
    assert "course_utils.board.virtual.device" in out["imported"], out["imported"]
    assert len(out["imported"]) >= 10, out["imported"]
    _, shared = check_board_imports()  # small stdlib-only course_utils helpers (checked by the static test)
    stdlib = set(out["stdlib"])
    foreign = [m for m in out["new"] if m.split(".")[0] not in stdlib and m not in shared
               and m != "course_utils" and not m.startswith("course_utils.board")]
    assert not foreign, f"importing course_utils.board loaded modules outside numpy/pynq/stdlib: {foreign}"
