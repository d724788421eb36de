#!/usr/bin/env python3
"""Fetch a real Vivado ``.hwh`` into a cache: the ground truth of ``tests/test_hwh_vivado.py``.

    python3 scripts/fetch_vivado_hwh.py [--force]

The ``pynqmetadata`` source distribution on the Python package index (the library pynq reads ``.hwh`` files
with) ships, among its test files, ``resizer.hwh``: Vivado 2019.2's hardware handoff of a Zynq-7020 design
with the same AXI DMA (7.1), ZYNQ7 Processing System (5.5), AXI Interconnect (2.1) and Processor System
Reset (5.0) as the kit's block design. This script downloads that sdist with pip (``--no-deps --no-binary
:all:``, hash-checked by pip with ``--require-hashes``), checks its sha256 once more, and moves it into
``build/reference/`` (or ``$COURSE_REFERENCE_CACHE``). A download whose hash differs is refused and not
kept. Offline, it says so and exits 0: the comparison test then skips with that reason. Run by
``make setup``; only the standard library is used (and the kit's stdlib-only ``course_utils.fileio``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run by the system Python before the kit is installed: the stdlib-only fileio
from course_utils.fileio import publish, sha256_file  # noqa: E402

PACKAGE, VERSION = "pynqmetadata", "0.2.0"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SHA256 = "fedfeb89f66cf945aca737af6e39225d6690548cd300729b508e2833a185dd98"
MEMBER = f"{PACKAGE}-{VERSION}/{PACKAGE}/tests/hwhs/resizer.hwh"


def cache_dir() -> Path:
    """``$COURSE_REFERENCE_CACHE`` or ``build/reference`` in the kit."""
    env = os.environ.get("COURSE_REFERENCE_CACHE")
    return Path(env).expanduser() if env else ROOT / "build" / "reference"


sha256 = sha256_file


def verified(path: Path) -> bool:
    """The file has the pinned hash and holds resizer.hwh."""
    if not path.is_file() or sha256(path) != SHA256:
        return False
    with tarfile.open(path) as tar:
        return MEMBER in tar.getnames()


def pip_python() -> str:
    """An interpreter with pip: the host environment's if set up, else this one."""
    host = ROOT / ".venv" / "host" / "bin" / "python"
    return str(host) if host.is_file() else sys.executable


def fetch(force: bool = False) -> int:
    dest = cache_dir() / SDIST
    if dest.is_file() and not force:
        if verified(dest):
            print(f"[reference] {dest}: present, sha256 ok")
            return 0
        print(f"[reference] {dest}: wrong sha256, downloading again", file=sys.stderr)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch.") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{SHA256}\n", encoding="utf-8")
        cmd = [pip_python(), "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes",
               "--disable-pip-version-check", "--timeout", "20", "--retries", "1",  # offline: give up soon
               "-q", "-d", tmp, "-r", str(req)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / SDIST
        if res.returncode != 0 or not got.is_file():
            out = (res.stdout + res.stderr).strip()
            if "HASH" in out.upper() and "MATCH" in out.upper():
                print(f"[reference] REFUSED: the downloaded {SDIST} does not have the pinned sha256 "
                      f"{SHA256}:\n{out[-1500:]}", file=sys.stderr)
                return 1
            print(f"[reference] could not download {SDIST} (offline?); tests/test_hwh_vivado.py will be "
                  f"skipped. pip said: {out.splitlines()[-1] if out else res.returncode}")
            return 0
        if not verified(got):
            print(f"[reference] REFUSED: {SDIST} has sha256 {sha256(got)}, expected {SHA256} "
                  "(or lacks resizer.hwh); not kept.", file=sys.stderr)
            return 1
        publish(got, dest)
    print(f"[reference] {SDIST} (Vivado's resizer.hwh) -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(fetch(force="--force" in sys.argv[1:]))
