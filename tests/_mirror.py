"""The offline dataset mirror the tests read (``$COURSE_DATA_MIRROR`` or ``../shared/data``).

A mirror may hold each file gzipped (``<name>.gz``) or decompressed (``<name>``): the kit accepts both, so the
tests must too. ``raw_bytes`` and ``gz_bytes`` give either form whatever the mirror holds.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_mirror = pytest.mark.skipif(not (MIRROR / "mnist").is_dir(),
                                  reason=f"offline dataset mirror {MIRROR} not present (see its README)")


def raw_bytes(dataset: str, name: str) -> bytes:
    """The decompressed bytes of ``name`` (e.g. ``t10k-labels-idx1-ubyte``) from the mirror, either form."""
    folder = MIRROR / dataset
    if (folder / name).is_file():
        return (folder / name).read_bytes()
    if (folder / f"{name}.gz").is_file():
        return gzip.decompress((folder / f"{name}.gz").read_bytes())
    raise FileNotFoundError(f"{folder} holds neither {name} nor {name}.gz")


def gz_bytes(dataset: str, name: str) -> bytes:
    """``name`` gzipped, as an HTTP mirror serves it (the mirror's own .gz when it has one)."""
    gz = MIRROR / dataset / f"{name}.gz"
    return gz.read_bytes() if gz.is_file() else gzip.compress(raw_bytes(dataset, name), mtime=0)
