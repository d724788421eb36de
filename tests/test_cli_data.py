"""``course data``: the real entry point fetches into a tmp data dir; bad input exits non-zero, says why."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _mirror import MIRROR, needs_mirror

from course_utils import cli, data

COURSE = Path(sys.executable).with_name("course")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DATA_URLS", f"http://127.0.0.1:{_closed_port()}/")  # never the internet
    data.clear_cache()
    yield
    data.clear_cache()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_mirror
def test_course_data_mnist_from_mirror(tmp_path: Path) -> None:
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "cache")}
    env.pop("COURSE_DATA_MIRROR", None)  # only --mirror may provide the files
    res = subprocess.run([str(COURSE), "data", "--dataset", "mnist", "--mirror", str(MIRROR)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "mnist: ready in" in res.stdout and "CC BY-SA 3.0" in res.stdout
    assert res.stdout.count("(sha256 verified)") == 4
    folder = tmp_path / "cache" / "mnist"
    for f in data.DATASETS["mnist"].files.values():
        assert data.sha256_file(folder / f.name) == f.sha256
    assert not (tmp_path / "cache" / "fashion-mnist").exists()
    # Second run: the cache answers; --verify re-hashes it.
    res = subprocess.run([str(COURSE), "data", "--dataset", "mnist", "--verify"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("cached and verified") == 4


@needs_mirror
def test_verify_repairs_a_damaged_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "--dataset", "mnist", "--mirror", str(MIRROR), "--no-progress"]) == 0
    path = tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte"
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    capsys.readouterr()
    assert cli.main(["data", "--dataset", "mnist", "--mirror", str(MIRROR), "--verify", "--no-progress"]) == 0
    assert path.read_bytes() == good
    assert "t10k-labels-idx1-ubyte: from mirror" in capsys.readouterr().out


def test_bad_dataset_name_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "--dataset", "cifar10"]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'cifar10'" in err and "fashion-mnist, mnist" in err
    res = subprocess.run([str(COURSE), "data", "--dataset", "nope"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode != 0 and "unknown dataset 'nope'" in res.stderr


def test_no_source_exits_1_with_instructions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["data", "--dataset", "mnist", "--mirror", str(empty), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "mnist: could not get 4 of 4 files" in err and "cannot connect" in err
    assert "place the files by hand" in err and data.DATASETS["mnist"].files["train_images"].sha256 in err
    assert "course data: failed for mnist" in err
    assert not (tmp_path / "cache" / "mnist").exists()
