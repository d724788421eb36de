"""Kit folders (checkout, student bundle, overrides) and the shared atomic-write helpers."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from course_utils import fileio, paths


def _kit(tmp: Path, *folders: str) -> Path:
    (tmp / "course_utils").mkdir(parents=True)
    (tmp / "pyproject.toml").write_text("")
    for f in folders:
        (tmp / f).mkdir()
    return tmp


@pytest.mark.parametrize("folders", [("solutions", "labs"), ("labs",)], ids=["checkout", "student-bundle"])
def test_kit_root_found_from_a_notebook_folder(tmp_path, monkeypatch, folders):
    root = _kit(tmp_path / "kit", *folders)
    nb_dir = root / "labs" / "lab1_qat"
    nb_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    monkeypatch.delenv("COURSE_BUILD_DIR", raising=False)
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "elsewhere" / "course_utils" / "paths.py"))
    monkeypatch.chdir(nb_dir)
    assert paths.kit_root() == root.resolve()
    assert paths.build_dir("lab1", create=False) == root.resolve() / "build" / "lab1"


def test_a_folder_without_labs_or_solutions_is_not_the_kit(tmp_path, monkeypatch):
    _kit(tmp_path / "kit")
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "elsewhere" / "course_utils" / "paths.py"))
    monkeypatch.chdir(tmp_path / "kit")
    assert paths.kit_root() == (tmp_path / "kit").resolve()  # the cwd fallback, not a parent
    (tmp_path / "kit" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "kit" / "sub")
    assert paths.kit_root() == (tmp_path / "kit" / "sub").resolve()


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path / "r"))
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path / "b"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    assert paths.kit_root() == (tmp_path / "r").resolve()
    assert paths.build_dir("lab2") == tmp_path / "b" / "lab2" and (tmp_path / "b" / "lab2").is_dir()
    assert paths.data_dir() == tmp_path / "d"
    assert paths.pretrained_dir("lab1") == (tmp_path / "r").resolve() / "pretrained" / "lab1"


def test_atomic_file_keeps_nothing_on_error_and_old_content_survives(tmp_path):
    target = tmp_path / "out" / "model.bin"
    fileio.write_bytes_atomic(target, b"good")
    with pytest.raises(RuntimeError), fileio.atomic_file(target) as f:
        f.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]


def test_atomic_text_mode_and_checksum(tmp_path):
    old = os.umask(0o022)
    try:
        path = fileio.write_text_atomic(tmp_path / "a.txt", "line\r\n")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"line\r\n"  # no newline translation
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert fileio.sha256_file(path) == "893e89e669b5a4f9e5136d565f51e341a0c5e5531816c9c1a806d90df66a45f4"
