"""The packer under the board's numpy 1.x: hand-computed bytes, round trips, clear errors.
(The comparison with FINN's own packer runs in the host env: tests/test_packing_vs_finn.py.)"""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.board import packing
from course_utils.board.packing import StreamSpec


def test_numpy_is_1x_here() -> None:
    assert np.__version__.startswith("1.")


@pytest.mark.parametrize("dt, values, expected", [
    ("UINT8", [1, 2, 3], [1, 2, 3]),                          # element i -> byte i
    ("INT12", [-1, 5], [0xFF, 0x5F, 0x00]),                   # 0x005_FFF little-endian
    ("UINT4", [1, 2, 3], [0x21, 0x03]),                       # nibbles, element 0 lowest
    ("BIPOLAR", [1, -1, 1, 1, -1, -1, -1, -1, 1], [0x0D, 0x01]),
    ("INT2", [-1, 0, 1, -2], [0b10010011]),
    ("FIXED<8,4>", [1.5, -0.25], [0x18, 0xFC]),
])
def test_bytes_match_the_documented_convention(dt: str, values: list, expected: list) -> None:
    got = packing.pack(np.array(values), dt)
    assert got.tolist() == expected
    back = packing.unpack(got, dt, len(values))
    np.testing.assert_array_equal(back, np.array(values))


def test_reverse_flags_and_padding() -> None:
    x = np.array([1, 2, 3])
    assert packing.pack(x, "UINT8", reverse_inner=False).tolist() == [3, 2, 1]
    assert packing.pack(x, "UINT12", reverse_endian=False).tolist() == [0x00, 0x03, 0x00, 0x20, 0x01]
    assert packing.pack(x, "UINT8", word_bytes=4).tolist() == [1, 2, 3, 0]
    with pytest.raises(ValueError, match="needs 5 bytes, but word_bytes=4"):
        packing.pack(x, "UINT12", word_bytes=4)


@pytest.mark.parametrize("dt", ["BINARY", "BIPOLAR", "TERNARY", "UINT3", "INT5", "UINT8", "INT12", "UINT16",
                                "INT24", "UINT33", "INT64", "FIXED<10,3>", "FLOAT32"])
def test_round_trip_on_random_batches(dt: str) -> None:
    rng = np.random.default_rng(0)
    d = packing.datatype(dt)
    shape = (7, 5, 6)
    if d.kind == "float":
        x = rng.normal(size=shape).astype(np.float32)
    elif d.kind == "bipolar":
        x = rng.choice([-1, 1], shape)
    elif d.kind == "fixed":
        x = rng.integers(-(1 << (d.bitwidth - 1)), 1 << (d.bitwidth - 1), shape) / (1 << d.frac_bits)
    else:
        x = rng.integers(int(d.min), int(d.max), shape, endpoint=True, dtype=np.int64)
    for ri in (True, False):
        for re in (True, False):
            p = packing.pack(x, dt, reverse_inner=ri, reverse_endian=re)
            assert p.shape == (7, 5, -(-6 * d.bitwidth // 8))
            np.testing.assert_array_equal(packing.unpack(p, dt, 6, reverse_inner=ri, reverse_endian=re), x)


def test_bad_values_and_names_get_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"value 16 at index \(1,\) is not allowed by UINT4"):
        packing.pack(np.array([3, 16]), "UINT4")
    with pytest.raises(ValueError, match="not allowed by BIPOLAR"):
        packing.pack(np.array([1, 0]), "BIPOLAR")
    with pytest.raises(ValueError, match="not allowed by INT8"):
        packing.pack(np.array([1.5]), "INT8")
    with pytest.raises(ValueError, match="unknown or unsupported stream datatype 'UINT0'"):
        packing.datatype("UINT0")
    with pytest.raises(TypeError, match="needs bytes"):
        packing.unpack(np.zeros(4, np.int32), "UINT8", 4)


MNIST_IN = {"datatype": "UINT8", "shape_normal": [1, 784], "shape_folded": [1, 49, 16],
            "shape_packed": [1, 49, 16], "stream_width_bits": 128, "bytes_per_sample": 784}


def test_stream_spec_checks_its_shapes() -> None:
    spec = StreamSpec.from_dict(MNIST_IN)
    assert (spec.bytes_per_sample, spec.words_per_sample, spec.word_bytes) == (784, 49, 16)
    bad = dict(MNIST_IN, shape_folded=[1, 49, 15])
    with pytest.raises(ValueError, match="hold different numbers of elements"):
        StreamSpec.from_dict(bad)
    with pytest.raises(ValueError, match="stream_width_bits 64 does not match 16 bytes"):
        StreamSpec.from_dict(dict(MNIST_IN, stream_width_bits=64))
    with pytest.raises(ValueError, match="bytes_per_sample is 700"):
        StreamSpec.from_dict(dict(MNIST_IN, bytes_per_sample=700))
    with pytest.raises(ValueError, match="has no field 'datatype'"):
        StreamSpec.from_dict({k: v for k, v in MNIST_IN.items() if k != "datatype"})
    with pytest.raises(ValueError, match="not a whole number of samples"):
        spec.pack(np.zeros(700, np.uint8))
    with pytest.raises(ValueError, match="not a whole number of samples"):
        spec.unpack(np.zeros(800, np.uint8))


def test_a_full_test_set_batch_round_trips() -> None:
    x = np.random.default_rng(1).integers(0, 256, (10000, 784)).astype(np.float32)
    spec = StreamSpec.from_dict(MNIST_IN)
    p = spec.pack(x)
    assert p.shape == (10000, 49, 16) and p.dtype == np.uint8
    np.testing.assert_array_equal(spec.unpack(p.reshape(-1)), x)


def test_from_images_crops_to_the_stream_and_pack_refuses_whole_images() -> None:
    spec = StreamSpec.from_dict({"datatype": "UINT8", "shape_normal": [1, 400], "shape_folded": [1, 100, 4],
                                 "shape_packed": [1, 100, 4], "stream_width_bits": 32,
                                 "bytes_per_sample": 400})
    images = np.random.default_rng(4).integers(0, 256, (6, 28, 28)).astype(np.uint8)
    x = spec.from_images(images)
    assert x.shape == (6, 400) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, images[:, 4:24, 4:24].reshape(6, 400))
    np.testing.assert_array_equal(spec.from_images(images.reshape(6, 784)), x)
    assert spec.pack(x).shape == (6, 100, 4)
    with pytest.raises(ValueError, match="from_images"):
        spec.pack(images.reshape(6, 784))      # 784 x 25 = 400 x 49: would silently pack 49 "samples"
    with pytest.raises(ValueError, match="square"):
        spec.from_images(np.zeros((2, 28, 27), np.uint8))
    full = StreamSpec.from_dict({"datatype": "UINT8", "shape_normal": [1, 784], "shape_folded": [1, 49, 16],
                                 "shape_packed": [1, 49, 16], "stream_width_bits": 128,
                                 "bytes_per_sample": 784})
    np.testing.assert_array_equal(full.from_images(images), images.reshape(6, 784))
