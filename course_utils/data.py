"""The course datasets (MNIST, Fashion-MNIST): download, verify, cache and load them.

``load("mnist", "train")`` returns ``(images uint8 (N, 28, 28), labels uint8 (N,))``. The first call
makes sure the four IDX files of the dataset sit, decompressed and verified (sha256 of the
decompressed bytes), in ``<data_dir>/<name>/`` (``data/`` or ``$COURSE_DATA_DIR``). Sources, in
order: the cache, a local mirror folder (``$COURSE_DATA_MIRROR``: ``<mirror>/<name>/<file>.gz``),
the Debian package folder (Fashion-MNIST only), then the HTTP mirrors (``$COURSE_DATA_URLS``
overrides them). Every file is written to a temp file beside its target and renamed into place only
once verified, so a half-written or corrupt file never looks good.

numpy and the standard library only: this module also runs in the board environment.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.client
import json
import os
import struct
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np

from course_utils import __version__
from course_utils.fileio import atomic_file, sha256_file, write_bytes_atomic
from course_utils.paths import data_dir as _default_data_dir

SPLITS = ("train", "test")
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
DEFAULT_TIMEOUT = 30.0
STAMP_NAME = ".verified.json"
_CHUNK = 1 << 20
_STALE_TMP_SECONDS = 3600.0
_USER_AGENT = f"course-utils/{__version__} (course kit 'Neural Networks: From Python to FPGA')"


class DataError(RuntimeError):
    """A dataset could not be found, fetched, verified or parsed; the message says what to do."""


@dataclass(frozen=True)
class DataFile:
    """One IDX file of a dataset: its decompressed name, sha256 and size."""

    name: str
    sha256: str
    size: int

    @property
    def gz(self) -> str:
        """The canonical compressed name, as the mirrors publish it."""
        return self.name + ".gz"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset the kit can fetch: its files, mirrors, licence and class names."""

    name: str
    title: str
    files: dict[str, DataFile]
    urls: tuple[str, ...]
    licence: str
    attribution: str
    homepage: str
    classes: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()

    def file(self, split: str, kind: str) -> DataFile:
        """The file of ``split`` ("train"/"test") and ``kind`` ("images"/"labels")."""
        return self.files[f"{split}_{kind}"]


def _files(sha: dict[str, str]) -> dict[str, DataFile]:
    """The four standard IDX files of a 60k/10k 28x28 dataset, with the given sha256 sums."""
    sizes = {"train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
             "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008}
    names = dict(zip(ROLES, sizes))
    return {role: DataFile(names[role], sha[role], sizes[names[role]]) for role in ROLES}


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist", title="MNIST handwritten digits",
        files=_files({
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}),
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/"),
        licence="CC BY-SA 3.0",
        attribution="Y. LeCun, C. Cortes, C. J. C. Burges: The MNIST database of handwritten digits",
        homepage="http://yann.lecun.com/exdb/mnist/",
        classes=tuple(str(d) for d in range(10))),
    "fashion-mnist": Dataset(
        name="fashion-mnist", title="Fashion-MNIST (Zalando article images)",
        files=_files({
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}),
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
              "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        licence="MIT",
        attribution="H. Xiao, K. Rasul, R. Vollgraf (Zalando Research): Fashion-MNIST, arXiv:1708.07747",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        system_dirs=("/usr/share/datasets/fashion-mnist",)),
}


# --------------------------------------------------------------------------- names and places

def get(name: str) -> Dataset:
    """The registered dataset called ``name`` (case and ``_``/``-`` do not matter)."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}.")
    return DATASETS[key]


def dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder of a dataset: ``<data_dir>/<name>/``."""
    base = Path(data_dir).expanduser() if data_dir is not None else _default_data_dir()
    return base / get(name).name


def _mirror_root(mirror: str | os.PathLike | None) -> Path | None:
    """The local mirror folder: ``mirror`` or ``$COURSE_DATA_MIRROR`` (None when neither is set)."""
    value = os.fspath(mirror) if mirror is not None else os.environ.get("COURSE_DATA_MIRROR", "")
    return Path(value).expanduser() if value else None


def _base_urls(ds: Dataset, urls: Iterable[str] | None) -> list[str]:
    """HTTP base URLs: ``urls``, else ``$COURSE_DATA_URLS`` (comma-separated), else the built-in list.

    A ``{name}`` in a base URL is replaced by the dataset name."""
    if urls is None:
        env = os.environ.get("COURSE_DATA_URLS", "")
        urls = [u for u in env.split(",")] if env.strip() else ds.urls
    out = []
    for url in urls:
        url = url.strip().replace("{name}", ds.name)
        if url:
            out.append(url if url.endswith("/") else url + "/")
    return out


def _timeout(timeout: float | None) -> float:
    """Socket timeout in seconds: ``timeout``, else ``$COURSE_DATA_TIMEOUT``, else 30."""
    if timeout is not None:
        return float(timeout)
    try:
        return float(os.environ.get("COURSE_DATA_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError as err:
        raise DataError(f"COURSE_DATA_TIMEOUT must be a number of seconds: {err}") from None


# --------------------------------------------------------------------------- verification stamps

def _stat_key(path: Path) -> list[int]:
    """What changes when a file is rewritten: size, mtime, ctime and inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read_stamps(folder: Path) -> dict[str, Any]:
    """The record of files already hashed in ``folder`` (empty if absent or unreadable)."""
    try:
        data = json.loads((folder / STAMP_NAME).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_stamps(folder: Path, stamps: dict[str, Any]) -> None:
    """Save the verification record atomically (silently skipped on a read-only cache)."""
    with contextlib.suppress(OSError):
        write_bytes_atomic(folder / STAMP_NAME, json.dumps(stamps, indent=1, sort_keys=True).encode())


def _stamp_ok(path: Path, f: DataFile, stamps: dict[str, Any]) -> bool:
    """True if ``path`` was hashed as ``f`` and has not changed since."""
    entry = stamps.get(f.name)
    try:
        return (isinstance(entry, dict) and entry.get("sha256") == f.sha256
                and entry.get("stat") == _stat_key(path))
    except OSError:
        return False


def _stamp(path: Path, f: DataFile, stamps: dict[str, Any]) -> None:
    """Record that ``path`` was verified as ``f`` (in memory; saved by ``_write_stamps``)."""
    stamps[f.name] = {"sha256": f.sha256, "stat": _stat_key(path)}


def _check_cached(path: Path, f: DataFile, stamps: dict[str, Any], full: bool) -> str | None:
    """None if the cached ``path`` is a good copy of ``f``, else the reason it is not.

    The size is always checked; the sha256 when ``full`` or when the file is not stamped yet."""
    size = path.stat().st_size
    if size != f.size:
        return f"{size:,} bytes, expected {f.size:,} (truncated or wrong file)"
    if not full and _stamp_ok(path, f, stamps):
        return None
    digest = sha256_file(path)
    if digest != f.sha256:
        return f"sha256 {digest[:16]}... does not match the expected {f.sha256[:16]}..."
    _stamp(path, f, stamps)
    return None


# --------------------------------------------------------------------------- sources

class _SourceFailed(Exception):
    """One source could not deliver a good copy of a file; ``str()`` is the reason."""


class _Unreachable(_SourceFailed):
    """The host could not be reached at all: later files skip it."""


@dataclass
class _Source:
    """A place a file may come from: a local path or a URL."""

    label: str
    kind: str  # "file" | "url"
    location: str
    owned: bool = False  # a file in our own cache folder: delete it once used or found bad
    host: str = ""

    @property
    def gzipped(self) -> bool:
        return self.location.endswith(".gz")


class _NullBar:
    """Stands in for a tqdm bar when progress is off or tqdm is missing."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A byte-counting ``tqdm.auto`` bar (or a silent stand-in)."""
    if not enabled:
        return _NullBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NullBar()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


class _Counting:
    """A read-only stream wrapper that advances a progress bar by the bytes read."""

    def __init__(self, raw: BinaryIO, bar: Any) -> None:
        self.raw, self.bar = raw, bar

    def read(self, n: int = -1) -> bytes:
        chunk = self.raw.read(n)
        self.bar.update(len(chunk))
        return chunk

    def readable(self) -> bool:
        return True


def _sources(ds: Dataset, f: DataFile, folder: Path, mirror: Path | None, urls: list[str]) -> list[_Source]:
    """Where ``f`` may come from, in the order they are tried (after the cache itself)."""
    out = []
    hand = folder / f.gz
    if hand.is_file():
        out.append(_Source(f"placed by hand {hand}", "file", str(hand), owned=True))
    if mirror is not None:
        for cand in (mirror / ds.name / f.gz, mirror / ds.name / f.name):
            out.append(_Source(f"mirror {cand}", "file", str(cand)))
    for system in ds.system_dirs:
        out.append(_Source(f"system {Path(system) / f.gz}", "file", str(Path(system) / f.gz)))
    for base in urls:
        out.append(_Source(base + f.gz, "url", base + f.gz, host=base))
    return out


def _open_source(src: _Source, timeout: float) -> tuple[BinaryIO, int | None]:
    """Open a source: the raw (possibly gzipped) byte stream and its length if known."""
    if src.kind == "file":
        path = Path(src.location)
        if not path.is_file():
            raise _SourceFailed("not found")
        return open(path, "rb"), path.stat().st_size
    req = urllib.request.Request(src.location, headers={"User-Agent": _USER_AGENT})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) mirrors by design
    except urllib.error.HTTPError as err:
        raise _SourceFailed(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise _Unreachable(f"cannot connect: {err.reason}") from None
    except TimeoutError:
        raise _Unreachable(f"no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as err:
        raise _Unreachable(f"cannot connect: {type(err).__name__}: {err}") from None
    length = resp.headers.get("Content-Length")
    return resp, int(length) if length and length.isdigit() else None


def _install(src: _Source, f: DataFile, target: Path, timeout: float, progress: bool) -> None:
    """Copy ``src`` (decompressing .gz) to ``target`` via a temp file; keep it only if verified."""
    bar: Any = _NullBar()
    try:
        raw, total = _open_source(src, timeout)
        bar = _bar(total, f"{target.parent.name}/{f.gz if src.gzipped else f.name}", progress)
        with raw, atomic_file(target) as out:  # renamed into place only if nothing below raised
            counted = _Counting(raw, bar)
            stream = gzip.GzipFile(fileobj=cast(BinaryIO, counted), mode="rb") if src.gzipped else counted
            h, n = hashlib.sha256(), 0
            while chunk := stream.read(_CHUNK):
                n += len(chunk)
                if n > f.size:
                    raise _SourceFailed(f"more than the expected {f.size:,} bytes (wrong file)")
                h.update(chunk)
                out.write(chunk)
            if n != f.size:
                raise _SourceFailed(f"{n:,} bytes after decompression, expected {f.size:,} (truncated)")
            if h.hexdigest() != f.sha256:
                raise _SourceFailed(f"sha256 {h.hexdigest()[:16]}... does not match the expected "
                                    f"{f.sha256[:16]}... (corrupt or wrong file)")
    except TimeoutError:
        raise _Unreachable(f"timed out after {timeout:g} s without data") from None
    except EOFError:
        raise _SourceFailed("the gzip stream ends early (truncated download)") from None
    except (gzip.BadGzipFile, zlib.error) as err:
        raise _SourceFailed(f"not a valid gzip file ({err})") from None
    except (OSError, http.client.HTTPException) as err:
        raise _SourceFailed(f"read failed: {type(err).__name__}: {err}") from None
    finally:
        bar.close()


def _remove_stale_tmp(folder: Path) -> None:
    """Delete temp files older than an hour left by an interrupted run (not a concurrent one)."""
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                tmp.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------- fetch

def _by_hand(ds: Dataset, folder: Path, missing: list[DataFile]) -> str:
    """Instructions to place the missing files by hand."""
    where = f" from {' or '.join(ds.urls)}" if ds.urls else ""
    rows = "\n".join(f"      {f.gz:<30} sha256 (decompressed) {f.sha256}  {f.size:,} bytes" for f in missing)
    return (f"What to do: check your network (or proxy: HTTPS_PROXY) and run "
            f"`course data --dataset {ds.name}` again, or place the files by hand:\n"
            f"  1. download them{where} (or copy them from a machine that has them);\n"
            f"  2. put them, gzipped (.gz) or decompressed (without .gz), into\n      {folder}/\n"
            f"     with these names; the decompressed bytes must match:\n{rows}\n"
            f"     (check one with: gunzip -c FILE.gz | sha256sum)\n"
            f"  3. run `course data --dataset {ds.name} --verify`.\n"
            f"  Or point --mirror / COURSE_DATA_MIRROR at a folder holding {ds.name}/<file>.gz.")


def fetch(name: str, *, mirror: str | os.PathLike | None = None, urls: Iterable[str] | None = None,
          data_dir: str | os.PathLike | None = None, progress: bool = True, force: bool = False,
          verify: bool = False, timeout: float | None = None,
          log: Callable[[str], None] | None = None) -> Path:
    """Make sure the four decompressed, verified files of ``name`` are in ``<data_dir>/<name>/``.

    Tries the cache, the local mirror, the system folder, then the HTTP mirrors, per file.
    ``verify`` re-hashes cached files; ``force`` also fetches fresh copies. Returns the folder;
    raises ``DataError`` listing every source tried (nothing unverified is kept)."""
    ds = get(name)
    folder = dataset_dir(ds.name, data_dir)
    root, bases, secs = _mirror_root(mirror), _base_urls(ds, urls), _timeout(timeout)
    say = log or (lambda _msg: None)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the data folder {folder}: {err}. "
                        "Set COURSE_DATA_DIR to a writable folder.") from None
    _remove_stale_tmp(folder)
    stamps = _read_stamps(folder)
    before = json.dumps(stamps, sort_keys=True)
    dead: dict[str, str] = {}
    failures: dict[str, list[tuple[str, str]]] = {}
    try:
        for f in ds.files.values():
            tried = _fetch_file(ds, f, folder, root, bases, secs, stamps, dead, progress, force, verify, say)
            if tried is not None:
                failures[f.name] = tried
    finally:
        if json.dumps(stamps, sort_keys=True) != before:
            _write_stamps(folder, stamps)
    if failures:
        if created and not any(p.name != STAMP_NAME for p in folder.iterdir()):
            with contextlib.suppress(OSError):  # a concurrent run may be writing here
                (folder / STAMP_NAME).unlink(missing_ok=True)
                folder.rmdir()
        missing = [f for f in ds.files.values() if f.name in failures]
        lines = [f"{ds.name}: could not get {len(failures)} of {len(ds.files)} files. Sources tried:"]
        for fname, tried in failures.items():
            lines.append(f"  {fname}:")
            lines += [f"    - {label}: {reason}" for label, reason in tried]
        if root is None:
            lines.append("  (no local mirror: --mirror / COURSE_DATA_MIRROR not set)")
        lines.append("Nothing unverified was kept.")
        lines.append(_by_hand(ds, folder, missing))
        raise DataError("\n".join(lines))
    return folder


def _fetch_file(ds: Dataset, f: DataFile, folder: Path, root: Path | None, bases: list[str], secs: float,
                stamps: dict[str, Any], dead: dict[str, str], progress: bool, force: bool, verify: bool,
                say: Callable[[str], None]) -> list[tuple[str, str]] | None:
    """Get one file into the cache; None on success, else the (source, reason) pairs tried."""
    target = folder / f.name
    tried: list[tuple[str, str]] = []
    cached_ok = False
    if target.is_file():
        problem = _check_cached(target, f, stamps, full=verify or force)
        if problem is None and not force:
            say(f"{ds.name}/{f.name}: cached and verified")
            return None
        if problem is None:
            cached_ok = True
            tried.append((f"cache {target}", "verified; --force asks for a fresh copy"))
        else:
            target.unlink()
            stamps.pop(f.name, None)
            tried.append((f"cache {target}", f"{problem}; removed"))
    else:
        tried.append((f"cache {target}", "missing"))
    for src in _sources(ds, f, folder, root, bases):
        if src.host in dead:
            tried.append((src.label, f"skipped: {dead[src.host]}"))
            continue
        try:
            _install(src, f, target, secs, progress)
        except _SourceFailed as err:
            if isinstance(err, _Unreachable) and src.host:
                dead[src.host] = str(err)
            if src.owned:
                Path(src.location).unlink(missing_ok=True)
                tried.append((src.label, f"{err}; removed"))
            else:
                tried.append((src.label, str(err)))
            continue
        _stamp(target, f, stamps)
        if src.owned:
            Path(src.location).unlink(missing_ok=True)
        say(f"{ds.name}/{f.name}: from {src.label} (sha256 verified)")
        return None
    if cached_ok:
        say(f"{ds.name}/{f.name}: no source answered; kept the verified cached copy")
        return None
    return tried


# --------------------------------------------------------------------------- IDX parsing and load

_IDX_DTYPES: dict[int, np.dtype] = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(buf: bytes, where: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an IDX file into a read-only array (magic, dims and length checked)."""
    fix = "delete the file and run `course data --verify`" if where != "IDX data" else "check the input"
    if buf[:2] == b"\x1f\x8b":
        raise DataError(f"{where} is gzip-compressed, not a raw IDX file: decompress it first "
                        "(or let `course data` do it).")
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES or buf[3] == 0:
        raise DataError(f"{where} is not an IDX file (magic bytes {bytes(buf[:4]).hex() or 'missing'}; "
                        f"expected 0000 + type code 08..0e + number of dims): {fix}.")
    ndim, dtype = buf[3], _IDX_DTYPES[buf[2]]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{where}: IDX header for {ndim} dims is cut short ({len(buf)} bytes): {fix}.")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    if len(buf) - header != count * dtype.itemsize:
        raise DataError(f"{where}: header says shape {dims} ({count * dtype.itemsize:,} bytes of data), "
                        f"the file has {len(buf) - header:,}: {fix}.")
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=header).reshape(dims)
    arr.flags.writeable = False
    return arr


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode an array as an IDX file (the inverse of ``parse_idx``)."""
    arr = np.asarray(arr)
    codes = {dt.str.lstrip("<>|="): code for code, dt in _IDX_DTYPES.items()}
    key = arr.dtype.str.lstrip("<>|=")
    if key not in codes or arr.ndim == 0 or arr.ndim > 255:
        raise DataError(f"cannot encode {arr.dtype} array of shape {arr.shape} as IDX: use uint8, int8, "
                        "int16, int32, float32 or float64 with 1 to 255 dims.")
    code = codes[key]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=_IDX_DTYPES[code]).tobytes()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw bytes, not .gz) into a read-only array."""
    return parse_idx(Path(path).read_bytes(), where=str(path))


def load(name: str, split: str = "train", *,
         data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of one split of a dataset, fetched (and verified) on first use.

    The arrays are cached in memory and read-only: ``images.copy()`` to change them.

    Parameters
    ----------
    name : str
        A dataset of :data:`DATASETS`: ``"mnist"`` or ``"fashion-mnist"``.
    split : {"train", "test"}, default "train"
    data_dir : str or os.PathLike, optional
        Where datasets are cached; default ``$COURSE_DATA_DIR`` or ``data/`` in the kit.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 28, 28)
    labels : numpy.ndarray of uint8, shape (N,)

    Raises
    ------
    DataError
        An unknown dataset or split, or a download that failed or did not verify (the message says what
        to do).
    """
    ds = get(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
    folder = dataset_dir(ds.name, data_dir).resolve()
    return _load_cached(ds.name, split, str(folder.parent))


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, split: str, base: str) -> tuple[np.ndarray, np.ndarray]:
    """Fetch (if needed), read and check one split; memoised per data folder."""
    ds = DATASETS[name]
    folder = fetch(name, data_dir=base)
    images = read_idx(folder / ds.file(split, "images").name)
    labels = read_idx(folder / ds.file(split, "labels").name)
    fix = f"run `course data --dataset {name} --verify`"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{name} {split} images: expected uint8 (N, 28, 28), got {images.dtype} "
                        f"{images.shape}: {fix}.")
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{name} {split} labels: expected uint8 ({len(images)},), got {labels.dtype} "
                        f"{labels.shape}: {fix}.")
    if len(labels) and int(labels.max()) >= len(ds.classes):
        raise DataError(f"{name} {split} labels: found label {int(labels.max())}, the dataset has "
                        f"{len(ds.classes)} classes: {fix}.")
    return images, labels


def clear_cache() -> None:
    """Forget the arrays ``load`` keeps in memory (the files on disk stay)."""
    _load_cached.cache_clear()


# --------------------------------------------------------------------------- status

def status(data_dir: str | os.PathLike | None = None) -> list[str]:
    """One line per dataset: verified / present, not verified / missing, and where (no hashing)."""
    lines = []
    mirror = _mirror_root(None)
    for ds in DATASETS.values():
        folder = dataset_dir(ds.name, data_dir)
        stamps = _read_stamps(folder)
        present, verified = 0, 0
        for f in ds.files.values():
            path = folder / f.name
            if path.is_file() and path.stat().st_size == f.size:
                present += 1
                verified += _stamp_ok(path, f, stamps)
        head = f"{ds.name:<14}"
        n = len(ds.files)
        if verified == n:
            lines.append(f"{head}verified ({n} files) in {folder}")
        elif present == n:
            lines.append(f"{head}present, not verified ({n - verified} of {n} files) in {folder}; "
                         f"run `course data --dataset {ds.name} --verify`")
        else:
            where = f"local mirror {mirror}" if mirror is not None else "the internet"
            lines.append(f"{head}missing ({n - present} of {n} files) in {folder}; "
                         f"`course data --dataset {ds.name}` gets them from {where}")
    return lines
