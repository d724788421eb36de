"""The kit's numpy packer (course_utils.board.packing) against FINN's own finn.util.data_packing."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.board import packing

finn_packing = pytest.importorskip("finn.util.data_packing")
from qonnx.core.datatype import DataType as QDataType  # noqa: E402

DATATYPES = ["BINARY", "BIPOLAR", "TERNARY", "UINT2", "UINT3", "UINT4", "UINT5", "UINT7", "UINT8", "UINT9",
             "UINT12", "UINT16", "UINT17", "UINT24", "UINT31", "UINT32", "UINT33", "UINT48", "INT2", "INT3",
             "INT4", "INT5", "INT7", "INT8", "INT9", "INT12", "INT15", "INT16", "INT20", "INT24", "INT32",
             "INT40", "FIXED<8,3>", "FIXED<12,4>", "FIXED<6,5>", "FLOAT32"]
# (batch..., folds, elements per word): word widths with and without padding bits
SHAPES = [(3, 7, 16), (2, 5, 2), (4, 1, 10), (2, 3, 5, 3), (5, 1)]


def random_values(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random values allowed by the qonnx datatype, in FINN's float32 container."""
    dt = QDataType[name]
    if name == "FLOAT32":
        return rng.normal(0, 100, shape).astype(np.float32)
    if dt.is_fixed_point():
        sf = dt.scale_factor()
        ints = rng.integers(round(dt.min() / sf), round(dt.max() / sf) + 1, shape)
        return (ints * sf).astype(np.float32)
    if name == "BIPOLAR":
        return rng.choice([-1.0, 1.0], shape).astype(np.float32)
    if name == "TERNARY":
        return rng.integers(-1, 2, shape).astype(np.float32)
    # exact in float32 only up to 24 bits: FINN's container limits what it can round-trip
    lo, hi = max(int(dt.min()), -(1 << 24)), min(int(dt.max()), 1 << 24)
    vals = rng.integers(lo, hi + 1, shape)
    vals.flat[0], vals.flat[-1] = lo, hi  # extremes included
    return vals.astype(np.float32)


@pytest.mark.parametrize("name", DATATYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("reverse", [(True, True), (False, False), (True, False), (False, True)],
                         ids=["ri-re", "plain", "ri", "re"])
def test_pack_and_unpack_equal_finn(name: str, shape: tuple[int, ...], reverse: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(abs(hash((name, shape, reverse))) % 2**32)
    x = random_values(name, shape, rng)
    ri, re = reverse
    expected = np.ascontiguousarray(finn_packing.finnpy_to_packed_bytearray(
        x, QDataType[name], reverse_inner=ri, reverse_endian=re))
    got = packing.pack(x, name, reverse_inner=ri, reverse_endian=re)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    back = packing.unpack(got, name, shape, reverse_inner=ri, reverse_endian=re)
    assert back.shape == shape
    np.testing.assert_array_equal(back.astype(np.float64), x.astype(np.float64))
    if name.startswith("FIXED") and QDataType[name].bitwidth() in (8, 16) and ri and re:
        return  # finn-plus 1.6.1 bug: its 8/16-bit fast unpack path views FIXED bytes as float32
    finn_back = finn_packing.packed_bytearray_to_finnpy(expected, QDataType[name], shape,
                                                        reverse_inner=ri, reverse_endian=re)
    np.testing.assert_array_equal(back.astype(np.float64), finn_back.astype(np.float64))


@pytest.mark.parametrize("container", [np.uint8, np.int16, np.int64, np.float64])
def test_integer_containers_give_the_same_bytes(container: type) -> None:
    x = np.random.default_rng(1).integers(0, 256, (4, 49, 16))
    expected = finn_packing.finnpy_to_packed_bytearray(x.astype(np.float32), QDataType["UINT8"],
                                                      reverse_inner=True, reverse_endian=True)
    np.testing.assert_array_equal(packing.pack(x.astype(container), "UINT8"), expected)


def test_large_widths_beyond_float32_round_trip() -> None:
    """Widths FINN's float32 container cannot carry exactly still pack like an int64 reference."""
    rng = np.random.default_rng(2)
    for bits in (40, 57, 63, 64):
        x = rng.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1, (6, 3), dtype=np.int64)
        p = packing.pack(x, f"INT{bits}")
        words = [int.from_bytes(row.tobytes(), "little") for row in p]
        mask = (1 << bits) - 1
        expected = [sum((int(v) & mask) << (i * bits) for i, v in enumerate(r)) for r in x]
        assert words == expected
        np.testing.assert_array_equal(packing.unpack(p, f"INT{bits}", 3), x)


def test_mnist_batch_matches_finn_and_the_deploy_contract() -> None:
    """A batch of UINT8 images folded (N, 49, 16): 784 bytes per image, element i at byte i of a word."""
    x = np.random.default_rng(3).integers(0, 256, (100, 784), dtype=np.uint8)
    spec = packing.StreamSpec.from_dict({"datatype": "UINT8", "shape_normal": [1, 784],
                                         "shape_folded": [1, 49, 16], "shape_packed": [1, 49, 16],
                                         "stream_width_bits": 128, "bytes_per_sample": 784})
    got = spec.pack(x)
    expected = finn_packing.finnpy_to_packed_bytearray(x.reshape(100, 49, 16).astype(np.float32),
                                                       QDataType["UINT8"], reverse_inner=True,
                                                       reverse_endian=True)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(spec.unpack(got.reshape(-1)), x)


def test_padded_output_words_match_finn_plus_zero_bytes() -> None:
    """INT12 x 2 per word on a 32-bit stream: FINN's 3 bytes, then one zero pad byte."""
    y = np.random.default_rng(4).integers(-2048, 2048, (50, 5, 2))
    spec = packing.StreamSpec.from_dict({"datatype": "INT12", "shape_normal": [1, 10],
                                         "shape_folded": [1, 5, 2], "shape_packed": [1, 5, 4],
                                         "stream_width_bits": 32, "bytes_per_sample": 20})
    finn3 = finn_packing.finnpy_to_packed_bytearray(y.astype(np.float32), QDataType["INT12"],
                                                    reverse_inner=True, reverse_endian=True)
    p = packing.pack(y, "INT12", word_bytes=4)
    np.testing.assert_array_equal(p[..., :3], finn3)
    assert not p[..., 3].any()
    np.testing.assert_array_equal(spec.unpack(p.reshape(-1)), y.reshape(50, 10))


def test_qonnx_datatype_objects_and_driver_strings_are_accepted() -> None:
    assert packing.datatype(QDataType["INT12"]) == packing.datatype("INT12")
    assert packing.datatype("DataType['UINT8']").bitwidth == 8
    assert packing.datatype("UINT1").name == "BINARY"
