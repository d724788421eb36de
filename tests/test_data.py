"""course_utils.data: loading from the local mirror, cache verification, IDX parsing, status lines."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _mirror import MIRROR, needs_mirror, raw_bytes

from course_utils import data

MNIST_TRAIN_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
MNIST_TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
FASHION_TEST_FIRST = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]



@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every test caches into its own folder and starts with an empty in-memory cache."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DATA_URLS", "http://127.0.0.1:9/never-used/")  # no internet in tests
    data.clear_cache()
    yield
    data.clear_cache()


def _files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images_shape=(12, 28, 28)) -> data.Dataset:
    """Register a tiny dataset 'tiny' and write it, gzipped, to a mirror folder ``tmp_path/tiny-mirror``."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, images_shape, dtype=np.uint8),
              "train_labels": rng.integers(0, 10, images_shape[0], dtype=np.uint8),
              "test_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "test_labels": np.arange(5, dtype=np.uint8)}
    names = dict(zip(data.ROLES, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")))
    folder = tmp_path / "tiny-mirror" / "tiny"
    folder.mkdir(parents=True)
    files = {}
    for role, arr in arrays.items():
        raw = data.idx_bytes(arr)
        (folder / (names[role] + ".gz")).write_bytes(gzip.compress(raw))
        files[role] = data.DataFile(names[role], hashlib.sha256(raw).hexdigest(), len(raw))
    ds = data.Dataset(name="tiny", title="tiny test set", files=files, urls=(), licence="test",
                      attribution="tests", homepage="", classes=tuple("0123456789"))
    monkeypatch.setitem(data.DATASETS, "tiny", ds)
    return ds


@needs_mirror
def test_load_mnist_from_mirror_into_tmp_dir(tmp_path: Path) -> None:
    target = tmp_path / "explicit"
    images, labels = data.load("mnist", "train", data_dir=target)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == MNIST_TRAIN_FIRST
    assert images.max() == 255 and images.min() == 0
    assert 33.0 < images.mean() < 33.6  # MNIST's well-known mean pixel value 33.3
    test_images, test_labels = data.load("mnist", "test", data_dir=target)
    assert test_images.shape == (10000, 28, 28) and test_labels[:10].tolist() == MNIST_TEST_FIRST
    assert np.bincount(test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    names = {f.name for f in data.DATASETS["mnist"].files.values()}
    assert set(_files_under(target / "mnist")) == names | {data.STAMP_NAME}  # no .tmp, no .gz left
    for f in data.DATASETS["mnist"].files.values():
        assert (target / "mnist" / f.name).stat().st_size == f.size
    assert not (tmp_path / "cache").exists()  # data_dir= wins over COURSE_DATA_DIR


@needs_mirror
def test_fashion_mnist_via_env_dir(tmp_path: Path) -> None:
    images, labels = data.load("Fashion_MNIST", "test")  # name normalised
    assert images.shape == (10000, 28, 28) and labels[:10].tolist() == FASHION_TEST_FIRST
    assert (tmp_path / "cache" / "fashion-mnist" / "t10k-images-idx3-ubyte").is_file()
    assert data.get("fashion-mnist").classes[int(labels[0])] == "Ankle boot"


@needs_mirror
def test_arrays_are_read_only_and_cached() -> None:
    images, labels = data.load("mnist", "test")
    assert not images.flags.writeable and not labels.flags.writeable
    with pytest.raises(ValueError):
        images[0, 0, 0] = 1
    with pytest.raises(ValueError):
        labels[0] = 3
    again = data.load("mnist", "test")
    assert again[0] is images and again[1] is labels  # memoised, not re-read
    mine = images.copy()
    mine[0, 0, 0] = 7
    assert data.load("mnist", "test")[0][0, 0, 0] == 0


@needs_mirror
def test_raw_files_in_mirror_are_accepted(tmp_path: Path) -> None:
    raw_mirror = tmp_path / "raw-mirror" / "mnist"
    raw_mirror.mkdir(parents=True)
    for f in data.DATASETS["mnist"].files.values():
        (raw_mirror / f.name).write_bytes(raw_bytes("mnist", f.name))
    log: list[str] = []
    data.fetch("mnist", mirror=tmp_path / "raw-mirror", progress=False, log=log.append)
    assert all("raw-mirror/mnist/" in line and ".gz" not in line for line in log), log
    assert data.load("mnist", "test")[1][:10].tolist() == MNIST_TEST_FIRST


@needs_mirror
def test_tampered_cache_file_is_detected_and_replaced(tmp_path: Path) -> None:
    folder = data.fetch("mnist", progress=False)
    path = folder / "t10k-labels-idx1-ubyte"
    good = path.read_bytes()
    before = path.stat()
    bad = bytearray(good)
    bad[100] ^= 0x01  # same size: only the hash can tell
    path.write_bytes(bytes(bad))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the old mtime
    log: list[str] = []
    data.fetch("mnist", progress=False, log=log.append)
    assert path.read_bytes() == good
    assert any("t10k-labels" in line and "from mirror" in line for line in log), log
    assert data.load("mnist", "test")[1][:10].tolist() == MNIST_TEST_FIRST

    # A truncated cache file is caught by the size check alone.
    path.write_bytes(good[:5000])
    data.fetch("mnist", progress=False)
    assert path.read_bytes() == good


@needs_mirror
def test_verify_rehashes_even_when_the_stamp_agrees(tmp_path: Path) -> None:
    folder = data.fetch("mnist", progress=False)
    path = folder / "t10k-images-idx3-ubyte"
    good = path.read_bytes()
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    path.write_bytes(bytes(bad))
    stamps = json.loads((folder / data.STAMP_NAME).read_text())  # forge the record: the fast path trusts it
    st = path.stat()
    stamps[path.name]["stat"] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    (folder / data.STAMP_NAME).write_text(json.dumps(stamps))
    data.fetch("mnist", progress=False)
    assert path.read_bytes() == bytes(bad)  # no hashing without verify: the documented fast path
    log: list[str] = []
    data.fetch("mnist", progress=False, verify=True, log=log.append)
    assert path.read_bytes() == good
    assert sum("cached and verified" in line for line in log) == 3


@needs_mirror
def test_bad_cache_file_without_any_source_is_an_error_and_removed(tmp_path: Path) -> None:
    folder = data.fetch("mnist", progress=False)
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(b"\0" * path.stat().st_size)
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(data.DataError) as err:
        data.fetch("mnist", mirror=empty, urls=[], progress=False)
    msg = str(err.value)
    assert "train-labels-idx1-ubyte" in msg and "does not match" in msg and "removed" in msg
    assert data.DATASETS["mnist"].file("train", "labels").sha256 in msg  # by-hand instructions
    assert not path.exists()
    assert "train-labels-idx1-ubyte" not in _files_under(folder)
    assert "t10k-labels-idx1-ubyte" in _files_under(folder)  # good files stay


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(data.DataError, match="unknown dataset 'cifar10'.*fashion-mnist, mnist"):
        data.load("cifar10")
    with pytest.raises(data.DataError, match="fashion-mnist, mnist"):
        data.fetch("emnist", progress=False)
    with pytest.raises(data.DataError, match="unknown split 'validation'.*train, test"):
        data.load("mnist", "validation")
    assert data.get(" MNIST ").name == "mnist"


def test_idx_header_errors() -> None:
    good = data.idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert data.parse_idx(good).tolist() == np.arange(12).reshape(3, 4).tolist()
    ints = data.parse_idx(data.idx_bytes(np.array([[1, -2], [300000, 4]], dtype=np.int32)))
    assert ints.tolist() == [[1, -2], [300000, 4]]
    with pytest.raises(data.DataError, match="not an IDX file.*magic bytes 01000802"):
        data.parse_idx(b"\x01" + good[1:])
    with pytest.raises(data.DataError, match="not an IDX file.*magic bytes 00000702"):
        data.parse_idx(good[:2] + b"\x07" + good[3:])  # unknown type code
    with pytest.raises(data.DataError, match="gzip-compressed"):
        data.parse_idx(gzip.compress(good))
    with pytest.raises(data.DataError, match=r"shape \(3, 4\) \(12 bytes of data\), the file has 11"):
        data.parse_idx(good[:-1])
    with pytest.raises(data.DataError, match=r"header says shape \(3, 4\).*has 13"):
        data.parse_idx(good + b"\0")
    with pytest.raises(data.DataError, match="cut short"):
        data.parse_idx(good[:6])
    with pytest.raises(data.DataError, match="magic bytes missing"):
        data.parse_idx(b"")


def test_read_idx_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(b"\0\0\x08\x01\0\0\0\x05abc")
    with pytest.raises(data.DataError, match=f"{path}: header says shape \\(5,\\).*course data --verify"):
        data.read_idx(path)


def test_load_rejects_wrong_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny(tmp_path, monkeypatch, images_shape=(12, 14, 14))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "tiny-mirror"))
    with pytest.raises(data.DataError, match=r"tiny train images: expected uint8 \(N, 28, 28\).*\(12, 14"):
        data.load("tiny", "train", data_dir=tmp_path / "c")
    images, labels = data.load("tiny", "test", data_dir=tmp_path / "c")  # the good split still loads
    assert images.shape == (5, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4]


def test_debian_system_folder_and_hand_placed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _tiny(tmp_path, monkeypatch)
    system = tmp_path / "tiny-mirror" / "tiny"
    monkeypatch.setitem(data.DATASETS, "tiny", data.Dataset(**{**ds.__dict__, "system_dirs": (str(system),)}))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    log: list[str] = []
    folder = data.fetch("tiny", progress=False, log=log.append)
    assert len(log) == 4 and all(f"from system {system}" in line for line in log), log
    # A .gz placed by hand in the cache folder is decompressed, verified, then removed.
    (folder / "t10k-labels-idx1-ubyte").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes((system / "t10k-labels-idx1-ubyte.gz").read_bytes())
    log.clear()
    data.fetch("tiny", progress=False, log=log.append)
    assert any("placed by hand" in line for line in log), log
    assert not (folder / "t10k-labels-idx1-ubyte.gz").exists()
    assert data.read_idx(folder / "t10k-labels-idx1-ubyte").tolist() == [0, 1, 2, 3, 4]


@needs_mirror
def test_status_lines(tmp_path: Path) -> None:
    lines = data.status()
    assert len(lines) == len(data.DATASETS)
    assert lines[0].startswith("mnist ") and "missing (4 of 4 files)" in lines[0]
    assert f"local mirror {MIRROR}" in lines[0]
    folder = data.fetch("mnist", progress=False)
    assert data.status()[0].startswith("mnist") and f"verified (4 files) in {folder}" in data.status()[0]
    assert "missing" in data.status()[1]
    (folder / data.STAMP_NAME).unlink()
    assert "present, not verified (4 of 4 files)" in data.status()[0]
    assert "--verify" in data.status()[0]
    (folder / "train-labels-idx1-ubyte").unlink()
    assert "missing (1 of 4 files)" in data.status()[0]
    data.fetch("mnist", progress=False)
    assert "verified (4 files)" in data.status()[0]


def test_status_feeds_course_doctor() -> None:
    from course_utils.commands import doctor

    lines, _ = doctor.report(check_network=False)
    rows = [line for line in lines if line.startswith("dataset")]
    assert [r.split()[1] for r in rows] == list(data.DATASETS)


@needs_mirror
def test_data_module_runs_in_the_board_env_without_torch(tmp_path: Path) -> None:
    board = Path(__file__).resolve().parents[1] / ".venv" / "board" / "bin" / "python"
    if not board.exists():
        pytest.skip("board environment .venv/board not set up")
    code = ("import sys; from course_utils import data; x, y = data.load('mnist', 'test'); "
            "print(x.shape, y[:3].tolist(), 'torch' in sys.modules, 'tqdm' in sys.modules)")
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "board-cache"), "COURSE_DATA_MIRROR": str(MIRROR)}
    env.pop("PYNQ_VIRTUAL_BOARD", None)
    res = subprocess.run([str(board), "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[0] == "(10000, 28, 28) [7, 2, 1] False True"


@needs_mirror
def test_torch_tensors_are_raw_pixels() -> None:
    torchdata = pytest.importorskip("course_utils.torchdata")
    import torch

    images, labels = data.load("mnist", "test")
    x, y = torchdata.tensors("mnist", "test")
    assert x.dtype == torch.float32 and x.shape == (10000, 400)  # the 20x20 centre crops
    assert y.dtype == torch.int64 and y[:10].tolist() == MNIST_TEST_FIRST
    assert float(x.max()) == 255.0
    assert torch.equal(x[3], torch.from_numpy(images[3, 4:24, 4:24].reshape(-1).astype("float32")))
    assert torch.equal(torchdata.tensors("mnist", "test", crop=None)[0][3],
                       torch.from_numpy(images[3].reshape(-1).astype("float32")))
    x[0, 0] = 123.0  # a fresh, writable copy: the cached uint8 arrays are untouched
    assert images[4, 4, 4] == 0 and torchdata.tensors("mnist", "test")[0][0, 0] == 0.0


@needs_mirror
def test_loaders_are_seeded_and_split() -> None:
    torchdata = pytest.importorskip("course_utils.torchdata")
    import torch

    def first_labels(dl: object, n: int = 3) -> list[list[int]]:
        return [yb[:8].tolist() for _, (_, yb) in zip(range(n), dl)]

    a = torchdata.loaders("mnist", batch_size=100, seed=1)
    b = torchdata.loaders("mnist", batch_size=100, seed=1)
    c = torchdata.loaders("mnist", batch_size=100, seed=2)
    assert a.val is None and len(a.train) == 600 and len(a.test) == 100
    assert first_labels(a.train) == first_labels(b.train) != first_labels(c.train)
    assert first_labels(a.train) != first_labels(a.train)  # a new order every epoch, from the seeded RNG
    assert next(iter(a.test))[1][:10].tolist() == MNIST_TEST_FIRST  # test split in file order
    xb, yb = next(iter(a.train))
    assert xb.shape == (100, 400) and xb.dtype == torch.float32 and yb.dtype == torch.int64

    s = torchdata.loaders("mnist", batch_size=500, seed=3, val_size=0.1)
    t = torchdata.loaders("mnist", batch_size=500, seed=3, val_size=6000)
    val_x = torch.cat([xb for xb, _ in s.val])
    train_x = s.train.dataset.tensors[0]  # the shuffled loader's source (iterating 54k rows is slow)
    assert len(val_x) == 6000 and len(train_x) == 54000
    assert torch.equal(val_x, torch.cat([xb for xb, _ in t.val]))  # same seed, same held-out set
    full = torchdata.tensors("mnist", "train")[0]
    w = torch.rand(400, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    key = lambda m: set((m.double() @ w).tolist())  # noqa: E731 - one number per image (a random projection)
    assert len(key(full)) > 59000  # distinct enough to compare sets (MNIST has a few duplicate images)
    assert key(val_x) | key(train_x) == key(full) and not key(val_x) & key(train_x)
    with pytest.raises(ValueError, match="val_size"):
        torchdata.loaders("mnist", val_size=60000)
    with pytest.raises(ValueError, match="val_size"):
        torchdata.loaders("mnist", val_size=-5)
