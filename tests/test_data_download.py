"""course_utils.data over real HTTP: a local server with good, corrupt, truncated, missing, stalled files."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _mirror import gz_bytes, needs_mirror

from course_utils import data

VARIANTS = ("good", "corrupt", "badhash", "truncated")  # anything else (e.g. /404/) is a 404


class _Server:
    """A threaded HTTP server on 127.0.0.1 serving ``/<variant>/<dataset>/<file>.gz`` from memory."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.release = threading.Event()  # stalled handlers wait on this
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                if self.path.startswith("/stall/"):
                    server.release.wait(20)  # accept, then never answer
                    return
                key = self.path.replace("/stallbody/", "/good/", 1)
                body = server.files.get(key)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path.startswith("/stallbody/"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    server.release.wait(20)  # half the body, then silence
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, variant: str, name: str = "{name}") -> str:
        return f"http://127.0.0.1:{self.port}/{variant}/{name}/"

    def add(self, name: str, fname: str, raw: bytes, gz: bytes | None = None,
            variants: tuple[str, ...] = VARIANTS) -> None:
        """Serve ``raw`` (decompressed IDX bytes; ``gz`` if already compressed) under ``variants``."""
        gz = gzip.compress(raw, compresslevel=1, mtime=0) if gz is None else gz
        for variant in variants:
            if variant == "good":
                body = gz
            elif variant == "corrupt":  # one byte of the compressed stream flipped
                body = gz[: len(gz) // 2] + bytes([gz[len(gz) // 2] ^ 0x01]) + gz[len(gz) // 2 + 1:]
            elif variant == "badhash":  # a valid gzip of content with one byte flipped
                bad = raw[: len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0x01]) + raw[len(raw) // 2 + 1:]
                body = gzip.compress(bad, compresslevel=1, mtime=0)
            else:  # truncated
                body = gz[: len(gz) * 2 // 3]
            self.files[f"/{variant}/{name}/{fname}.gz"] = body

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def tiny(server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> data.Dataset:
    """A tiny dataset 'tiny' registered for the test, served by ``server``; cache in tmp, no local mirror."""
    rng = np.random.default_rng(1)
    arrays = {"train_images": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 40, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
              "test_labels": np.arange(8, dtype=np.uint8)}
    files = {}
    for role, arr in arrays.items():
        raw = data.idx_bytes(arr)
        fname = data.DATASETS["mnist"].files[role].name
        server.add("tiny", fname, raw)
        files[role] = data.DataFile(fname, hashlib.sha256(raw).hexdigest(), len(raw))
    ds = data.Dataset(name="tiny", title="tiny", files=files, urls=(server.url("good", "tiny"),),
                      licence="test", attribution="tests", homepage="", classes=tuple("0123456789"))
    monkeypatch.setitem(data.DATASETS, "tiny", ds)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.delenv("COURSE_DATA_URLS", raising=False)
    data.clear_cache()
    yield ds
    data.clear_cache()


def _all_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_good_mirror_after_bad_ones(server: _Server, tiny: data.Dataset, tmp_path: Path) -> None:
    urls = [server.url(v) for v in ("404", "corrupt", "truncated", "badhash", "good")]
    log: list[str] = []
    folder = data.fetch("tiny", urls=urls, progress=False, log=log.append)
    assert folder == tmp_path / "cache" / "tiny"
    for f in tiny.files.values():
        assert data.sha256_file(folder / f.name) == f.sha256
        for variant in ("404", "corrupt", "truncated", "badhash", "good"):
            assert f"/{variant}/tiny/{f.gz}" in server.requests  # every bad mirror really was tried first
    assert len(log) == 4 and all(server.url("good", "tiny") in line for line in log), log
    assert sorted(p.name for p in _all_files(folder)) == sorted([*(f.name for f in tiny.files.values()),
                                                                 data.STAMP_NAME])  # no .tmp, no bad copy
    images, labels = data.load("tiny", "test")
    assert images.shape == (8, 28, 28) and labels.tolist() == list(range(8))


def test_each_bad_variant_alone_is_rejected(server: _Server, tiny: data.Dataset) -> None:
    reasons = {"404": "HTTP 404", "corrupt": "", "truncated": "ends early", "badhash": "does not match"}
    for variant, reason in reasons.items():
        with pytest.raises(data.DataError) as err:
            data.fetch("tiny", urls=[server.url(variant)], progress=False)
        line = next(x for x in str(err.value).splitlines() if f"/{variant}/tiny/t10k-images" in x)
        if variant == "corrupt":  # a flipped compressed byte: zlib or the gzip CRC notices
            assert "gzip" in line or "does not match" in line, line
        else:
            assert reason in line, line


def test_all_bad_mirrors_give_full_error_and_keep_nothing(server: _Server, tiny: data.Dataset,
                                                          tmp_path: Path) -> None:
    urls = [server.url(v) for v in ("404", "corrupt", "truncated", "badhash")]
    with pytest.raises(data.DataError) as err:
        data.fetch("tiny", urls=urls, progress=False)
    msg = str(err.value)
    assert "tiny: could not get 4 of 4 files" in msg
    for f in tiny.files.values():
        for url in urls:
            assert url.replace("{name}", "tiny") + f.gz in msg  # every URL tried, per file
        assert f.sha256 in msg and f.gz in msg  # by-hand: names and checksums
    assert "HTTP 404 Not Found" in msg and "truncated" in msg and "does not match" in msg
    assert f"{tmp_path / 'cache' / 'tiny'}/" in msg and "place the files by hand" in msg
    assert "course data --dataset tiny --verify" in msg
    assert _all_files(tmp_path / "cache") == []  # no file, no .tmp, no stamp
    assert not (tmp_path / "cache" / "tiny").exists()


def test_closed_port_fails_fast(tiny: data.Dataset) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(data.DataError) as err:
        data.fetch("tiny", urls=[f"http://127.0.0.1:{port}/"], progress=False, timeout=30)
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"a refused connection took {elapsed:.1f} s (should not wait for the 30 s timeout)"
    msg = str(err.value)
    assert "cannot connect" in msg and "refused" in msg.lower()
    assert msg.count("skipped: cannot connect") == 3  # later files do not retry a dead host


def test_stalled_server_times_out(server: _Server, tiny: data.Dataset, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(data.DataError) as err:
        data.fetch("tiny", urls=[server.url("stall")], progress=False, timeout=0.5)
    assert time.monotonic() - start < 10
    assert "no answer within 0.5 s" in str(err.value)
    assert sum(r.startswith("/stall/") for r in server.requests) == 1  # then skipped as unreachable
    # Headers and half the body, then silence: the read times out, nothing is kept, next mirror wins.
    log: list[str] = []
    data.fetch("tiny", urls=[server.url("stallbody"), server.url("good")], progress=False, timeout=0.5,
               log=log.append)
    assert all("/good/tiny/" in line for line in log), log
    assert not [p for p in _all_files(tmp_path / "cache") if p.suffix == ".tmp"]


def test_env_urls_override_and_name_placeholder(server: _Server, tiny: data.Dataset,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_DATA_URLS", f"{server.url('404')} , {server.url('good')}")
    data.fetch("tiny", progress=False)
    assert f"/404/tiny/{tiny.files['test_labels'].gz}" in server.requests
    assert f"/good/tiny/{tiny.files['test_labels'].gz}" in server.requests


def test_progress_bar_counts_bytes(server: _Server, tiny: data.Dataset,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    data.fetch("tiny", urls=[server.url("good")], progress=True)
    err = capsys.readouterr().err
    assert "tiny/train-images-idx3-ubyte.gz" in err and "B/s" in err


def test_force_refetches_and_keeps_a_verified_copy(server: _Server, tiny: data.Dataset) -> None:
    folder = data.fetch("tiny", urls=[server.url("good")], progress=False)
    n = len(server.requests)
    data.fetch("tiny", urls=[server.url("good")], progress=False)
    assert len(server.requests) == n  # cached: no traffic
    data.fetch("tiny", urls=[server.url("good")], progress=False, force=True)
    assert len(server.requests) == n + 4
    log: list[str] = []
    data.fetch("tiny", urls=[server.url("404")], progress=False, force=True, log=log.append)
    assert all("kept the verified cached copy" in line for line in log) and len(log) == 4
    assert all(data.sha256_file(folder / f.name) == f.sha256 for f in tiny.files.values())


@needs_mirror
def test_real_mnist_over_http_after_a_truncated_mirror(server: _Server, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Real-size files: the whole of MNIST through HTTP, with a truncated mirror listed first."""
    for f in data.DATASETS["mnist"].files.values():
        gz = gz_bytes("mnist", f.name)
        server.add("mnist", f.name, b"", gz=gz, variants=("good", "truncated"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    data.clear_cache()
    cache = tmp_path / "http-cache"
    data.fetch("mnist", urls=[server.url("truncated"), server.url("good")], data_dir=cache, progress=False)
    assert "/truncated/mnist/train-images-idx3-ubyte.gz" in server.requests
    images, labels = data.load("mnist", "test", data_dir=cache)
    assert images.shape == (10000, 28, 28) and labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert len(_all_files(cache)) == 5
    data.clear_cache()
