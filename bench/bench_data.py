"""Benchmark of the data module: fetch + verify MNIST from the local mirror, load, torch tensors/loaders.

Run: .venv/host/bin/python bench/bench_data.py [--mirror DIR]   (default: $COURSE_DATA_MIRROR or
../shared/data). Caches into a temporary folder; prints seconds per step (best of --repeat runs).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from course_utils import data


def _best(fn: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    """Best wall time of ``fn`` over ``repeat`` runs, ``setup`` untimed before each."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Time each step and print one line per figure."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    default = os.environ.get("COURSE_DATA_MIRROR") or str(shared)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", default=default)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (Path(args.mirror) / "mnist").is_dir():
        print(f"no dataset mirror at {args.mirror}: pass --mirror DIR (a folder with mnist/<file>.gz)")
        return 1
    os.environ["COURSE_DATA_MIRROR"] = args.mirror  # load() finds its files there, never the internet
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        fetch = lambda **kw: data.fetch("mnist", data_dir=cache, progress=False, **kw)  # noqa: E731
        load = lambda: data.load("mnist", "train", data_dir=cache)  # noqa: E731

        def wipe() -> None:
            for p in (cache / "mnist").glob("*"):
                p.unlink()
            data.clear_cache()

        rows = [
            ("fetch mnist from mirror (decompress + sha256, cold cache)",
             _best(fetch, args.repeat, wipe)),
            ("fetch mnist, cached (size + stamp check)",
             _best(fetch, args.repeat)),
            ("fetch mnist --verify (sha256 of 55 MB cached)",
             _best(lambda: fetch(verify=True), args.repeat)),
            ('load("mnist", "train"), files cached, first call in process',
             _best(load, args.repeat, data.clear_cache)),
            ('load("mnist", "train"), memoised', _best(load, 3)),
            ('cold: fetch from mirror + load("mnist", "train")',
             _best(load, args.repeat, wipe)),
        ]
        os.environ["COURSE_DATA_DIR"] = str(cache)
        start = time.perf_counter()
        from course_utils import torchdata
        rows.append(("import course_utils.torchdata (torch)", time.perf_counter() - start))
        rows.append(('torchdata.tensors("mnist", "train")',
                     _best(lambda: torchdata.tensors("mnist", "train"), args.repeat)))
        dl = torchdata.loaders("mnist", batch_size=256, seed=0)
        rows.append(("one epoch of the train DataLoader (batch 256)",
                     _best(lambda: sum(len(xb) for xb, _ in dl.train), args.repeat)))
    for label, seconds in rows:
        print(f"{label:<64} {seconds * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
