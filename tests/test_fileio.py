"""course_utils.fileio: the one way the kit writes files (atomic_file, atomic_path, publish).

The last test scans the kit's Python (course_utils/, scripts/, docker/, bench/) and fails on a hand-written
rename or temp file outside fileio, naming file:line.
"""
from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from course_utils import fileio

ROOT = Path(__file__).resolve().parents[1]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- atomic_path: files
def test_atomic_path_keeps_the_suffix_so_path_writers_write_exactly_there(tmp_path):
    target = tmp_path / "sub" / "preds.npy"
    with fileio.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".npy" and tmp.name.startswith(".preds.")
        assert not tmp.exists()  # the writer creates it
        np.save(tmp, np.arange(5))  # would append ".npy" to any other name
    np.testing.assert_array_equal(np.load(target), np.arange(5))
    assert _names(target.parent) == ["preds.npy"]
    with fileio.atomic_path(tmp_path / "golden.npz") as tmp:
        np.savez(tmp, x=np.ones(3))
    assert _names(tmp_path) == ["golden.npz", "sub"]


def test_atomic_path_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with fileio.atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_a_failing_writer_leaves_no_target_and_no_temp_file(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError, match="crash"), fileio.atomic_path(target) as tmp:
        tmp.write_bytes(b"half a model")
        raise RuntimeError("crash mid-write")
    assert _names(tmp_path) == []


def test_a_failing_writer_keeps_the_previous_file(tmp_path):
    target = fileio.write_text_atomic(tmp_path / "estimates.json", '{"good": 1}')
    with pytest.raises(ValueError), fileio.atomic_path(target) as tmp:
        tmp.write_text('{"half')
        raise ValueError("bad input")
    assert json.loads(target.read_text()) == {"good": 1}
    assert _names(tmp_path) == ["estimates.json"]


def test_a_writer_that_writes_elsewhere_is_an_error_not_an_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"), \
            fileio.atomic_path(tmp_path / "x.npy") as tmp:
        assert not tmp.exists()  # e.g. a writer given str(tmp.with_suffix("")) that wrote "x...tmp.npy"
    assert _names(tmp_path) == []


def test_a_file_never_replaces_a_folder(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"), \
            fileio.atomic_path(tmp_path / "out") as tmp:
        tmp.write_text("x")
    assert _names(tmp_path) == ["out"] and _names(tmp_path / "out") == []


# ----------------------------------------------------------------------------- atomic_path: folders
def test_a_folder_replaces_the_old_one_as_a_whole(tmp_path):
    pkg = tmp_path / "deploy" / "mnist"
    with fileio.atomic_path(pkg, folder=True) as tmp:
        assert tmp.is_dir() and tmp.parent == pkg.parent and _names(tmp) == []
        (tmp / "old_only.txt").write_text("1")
        (tmp / "accelerator.json").write_text("{}")
    assert _names(pkg) == ["accelerator.json", "old_only.txt"]
    old = os.umask(0o022)
    try:
        with fileio.atomic_path(pkg, folder=True) as tmp:
            (tmp / "accelerator.json").write_text('{"v": 2}')
    finally:
        os.umask(old)
    assert _names(pkg) == ["accelerator.json"]  # nothing of the old folder survives
    assert json.loads((pkg / "accelerator.json").read_text()) == {"v": 2}
    assert stat.S_IMODE(pkg.stat().st_mode) == 0o755  # not mkdtemp's 0700: packages are shared
    assert _names(pkg.parent) == ["mnist"]  # no temp or moved-aside folder left


def test_a_failing_folder_writer_keeps_the_old_folder_and_leaves_no_temp(tmp_path):
    pkg = tmp_path / "pkg"
    with fileio.atomic_path(pkg, folder=True) as tmp:
        (tmp / "a.txt").write_text("good")
    with pytest.raises(OSError), fileio.atomic_path(pkg, folder=True) as tmp:
        (tmp / "a.txt").write_text("half")
        (tmp / "deep").mkdir()
        raise OSError("disk full")
    assert _names(tmp_path) == ["pkg"] and (pkg / "a.txt").read_text() == "good"


def test_keep_existing_keeps_a_cache_entry_another_process_finished(tmp_path):
    entry = tmp_path / "cache" / "abc123"
    with fileio.atomic_path(entry, folder=True, keep_existing=True) as tmp:
        (tmp / "lib.so").write_text("first")
    with fileio.atomic_path(entry, folder=True, keep_existing=True) as tmp:
        (tmp / "lib.so").write_text("second")
    assert (entry / "lib.so").read_text() == "first"
    assert _names(entry.parent) == ["abc123"]


def test_a_folder_never_replaces_a_file(tmp_path):
    (tmp_path / "rtl").write_text("a file")
    with pytest.raises(NotADirectoryError, match="is a file"), \
            fileio.atomic_path(tmp_path / "rtl", folder=True) as tmp:
        (tmp / "x").write_text("1")
    assert _names(tmp_path) == ["rtl"] and (tmp_path / "rtl").read_text() == "a file"


# ----------------------------------------------------------------------------- atomic_file, publish
def test_atomic_file_permissions_for_a_secret(tmp_path):
    with fileio.atomic_file(tmp_path / "token", "w", permissions=0o600) as f:
        f.write("s3cret")
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert (tmp_path / "token").read_text() == "s3cret"


def test_atomic_file_error_removes_the_temp_file(tmp_path):
    with pytest.raises(KeyError), fileio.atomic_file(tmp_path / "g.npz") as f:
        np.savez(f, x=np.zeros(2))
        raise KeyError("labels")
    assert _names(tmp_path) == []


def test_publish_moves_a_staged_file_and_a_staged_folder(tmp_path):
    staging = tmp_path / ".staging"
    (staging / "dir").mkdir(parents=True)
    (staging / "f.onnx").write_text("model")
    (staging / "dir" / "x").write_text("1")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "stale").write_text("old")
    assert fileio.publish(staging / "f.onnx", tmp_path / "f.onnx") == tmp_path / "f.onnx"
    fileio.publish(staging / "dir", tmp_path / "dir")
    assert (tmp_path / "f.onnx").read_text() == "model" and _names(tmp_path / "dir") == ["x"]
    assert _names(staging) == []


# ----------------------------------------------------------------------------- the tree uses fileio
SCANNED = ("course_utils", "scripts", "docker", "bench")
BANNED = {"os.replace", "os.rename", "os.renames", "shutil.move", "tempfile.mkstemp", "tempfile.mktemp",
          "tempfile.NamedTemporaryFile"}
# file -> reason; keep short: every entry is a writer that cannot use course_utils.fileio
ALLOWED = {
    "course_utils/fileio.py": "the helpers themselves",
}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def hand_written_renames(path: Path) -> list[tuple[int, str]]:
    """``(line, call)`` of every rename, replace or temp-file call in ``path`` (str.replace takes 2 args)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in BANNED:
            found.append((node.lineno, name))
        elif (isinstance(node.func, ast.Attribute) and node.func.attr in ("rename", "replace")
              and len(node.args) == 1 and not node.keywords):  # Path.rename(target), Path.replace(target)
            found.append((node.lineno, f".{node.func.attr}({ast.unparse(node.args[0])})"))
    return found


def test_the_scanner_finds_each_kind_of_hand_written_rename(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import os, shutil, tempfile\n"
                   "os.replace(a, b)\nos.rename(a, b)\nshutil.move(a, b)\ntmp.rename(out)\np.replace(q)\n"
                   "tempfile.mkstemp()\ntempfile.NamedTemporaryFile(delete=False)\n"
                   "s.replace('a', 'b')\ntempfile.TemporaryDirectory()\n")
    assert [line for line, _ in hand_written_renames(src)] == [2, 3, 4, 5, 6, 7, 8]


def test_no_hand_written_rename_or_temp_file_outside_fileio():
    problems = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            problems += [f"{rel}:{line}: {call}" for line, call in hand_written_renames(path)]
    assert not problems, ("write through course_utils.fileio (atomic_file for file objects, atomic_path for "
                          "writers that take a path or a whole folder, publish for a staged file):\n  "
                          + "\n  ".join(problems))
