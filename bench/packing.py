"""Benchmark: the kit's stream packer (course_utils.board.packing) against FINN's on 10,000 MNIST images.

Runs in the host env (finn-plus is there):  .venv/host/bin/python bench/packing.py
Both packers get the same batch in the same run; each figure is the best of several repetitions.
FINN's packing helpers work on "finnpy" arrays (values in a float32 container, as FINN's Python
execution produces them); finn-plus 1.6.1 also has a zero-copy path for whole-byte integer containers
(a uint8 array for UINT8), which the kit's packer has too: both are printed. Target: >= 20x on the
FINN container.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def load_images() -> tuple[np.ndarray, str]:
    """The 10,000 MNIST test images as (N, 784) uint8, or random pixels if the dataset is not available."""
    try:
        from course_utils import data

        images, _ = data.load("mnist", "test")
        return images.reshape(len(images), -1), "MNIST test set"
    except Exception as err:  # noqa: BLE001 - a benchmark should still run offline
        print(f"(MNIST not available: {err}; using random pixels)")
        return np.random.default_rng(0).integers(0, 256, (10000, 784), dtype=np.uint8), "random pixels"


def streams() -> tuple[object, object, str]:
    """Input and output stream specs: from the deploy package if one is found, else the contract's example."""
    from course_utils.board.package import PackageError, find_package
    from course_utils.board.packing import StreamSpec

    try:
        pkg = find_package()
        return pkg.input, pkg.output, f"deploy package '{pkg.name}' ({pkg.source})"
    except PackageError:
        i = StreamSpec.from_dict({"datatype": "UINT8", "shape_normal": [1, 784], "shape_folded": [1, 49, 16],
                                  "shape_packed": [1, 49, 16], "stream_width_bits": 128})
        o = StreamSpec.from_dict({"datatype": "INT12", "shape_normal": [1, 10], "shape_folded": [1, 5, 2],
                                  "shape_packed": [1, 5, 3], "stream_width_bits": 24})
        return i, o, "docs/ARCHITECTURE.md's example streams (no deploy package found)"


def main() -> None:
    """Print the timings and speed-up ratios."""
    from finn.util.data_packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy
    from qonnx.core.datatype import DataType

    from course_utils.board import packing

    x, what = load_images()
    sin, sout, where = streams()
    n = len(x)
    print(f"{n:,} images ({what}); streams of {where}")
    print(f"input {sin}\noutput {sout}\n")
    rows = []

    folded = x.reshape(n, *sin.shape_folded[1:])
    finnpy = folded.astype(np.float32)
    qdt_in = DataType[sin.datatype.name]
    ref = np.ascontiguousarray(finnpy_to_packed_bytearray(finnpy, qdt_in, reverse_inner=True,
                                                          reverse_endian=True))
    ours = packing.pack(finnpy, sin.datatype, word_bytes=sin.word_bytes)
    assert np.array_equal(ref, ours[..., : ref.shape[-1]]), "the packers disagree"
    t_finn = best_of(lambda: finnpy_to_packed_bytearray(finnpy, qdt_in, reverse_inner=True,
                                                         reverse_endian=True), repeat=3)
    t_kit = best_of(lambda: packing.pack(finnpy, sin.datatype, word_bytes=sin.word_bytes))
    rows.append(("pack inputs, float32 container (FINN's)", t_finn, t_kit))

    t_finn8 = best_of(lambda: np.ascontiguousarray(
        finnpy_to_packed_bytearray(folded, qdt_in, reverse_inner=True, reverse_endian=True)))
    t_kit8 = best_of(lambda: np.ascontiguousarray(packing.pack(folded, sin.datatype,
                                                               word_bytes=sin.word_bytes)))
    rows.append(("pack inputs, uint8 container", t_finn8, t_kit8))

    lo, hi = int(sout.datatype.min), int(sout.datatype.max)
    y = np.random.default_rng(1).integers(lo, hi, (n, *sout.shape_folded[1:]), endpoint=True)
    qdt_out = DataType[sout.datatype.name]
    need = -(-sout.elems_per_word * sout.datatype.bitwidth // 8)
    yb = np.ascontiguousarray(finnpy_to_packed_bytearray(y.astype(np.float32), qdt_out, reverse_inner=True,
                                                         reverse_endian=True))
    assert np.array_equal(packing.unpack(yb, sout.datatype, sout.shape_folded[-1]), y)
    shape = (n, *sout.shape_folded[1:])
    t_finn_u = best_of(lambda: packed_bytearray_to_finnpy(yb, qdt_out, shape, reverse_inner=True,
                                                          reverse_endian=True))
    t_kit_u = best_of(lambda: packing.unpack(yb, sout.datatype, sout.shape_folded[-1]))
    rows.append((f"unpack outputs ({sout.datatype.name}, {need} bytes/word)", t_finn_u, t_kit_u))

    print(f"{'operation (10,000 samples)':46s} {'FINN ms':>10s} {'kit ms':>10s} {'speed-up':>9s}")
    for name, tf, tk in rows:
        print(f"{name:46s} {tf * 1e3:10.3f} {tk * 1e3:10.3f} {tf / tk:8.1f}x")
    print("(uint8 container: both return a view of the input bytes, no copy: microseconds either way)")
    ratio = rows[0][1] / rows[0][2]
    print(f"\nkit packer vs finnpy_to_packed_bytearray on FINN's container: {ratio:.1f}x "
          f"(target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")


if __name__ == "__main__":
    main()
