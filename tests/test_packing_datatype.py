"""The board's minimal DataType (course_utils.board.packing) against qonnx.core.datatype.DataType.

The board cannot import qonnx (not installed on a PYNQ image), so packing.py keeps its own copy of what
stream packing needs. These tests pin that copy to qonnx for every type the kit packs: name parsing,
bit width, signedness, min/max, integer/fixed-point, and which values each type allows (a value the copy
packs must be one qonnx allows, and the reverse). The bytes themselves are compared with FINN's packer in
test_packing_vs_finn.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.board import packing

qdt = pytest.importorskip("qonnx.core.datatype")
QDataType = qdt.DataType

# every type the kit's streams can carry (accelerator.json), plus the 64-bit and 1-bit edges
NAMES = ["BINARY", "BIPOLAR", "TERNARY", "INT1", "UINT1", "UINT2", "UINT3", "UINT4", "UINT5", "UINT7",
         "UINT8",
         "UINT9", "UINT12", "UINT16", "UINT17", "UINT24", "UINT31", "UINT32", "UINT33", "UINT48", "UINT64",
         "INT2", "INT3", "INT4", "INT5", "INT7", "INT8", "INT9", "INT12", "INT15", "INT16", "INT20", "INT24",
         "INT32", "INT40", "INT64", "FIXED<8,3>", "FIXED<12,4>", "FIXED<6,5>", "FIXED<16,8>", "FIXED<4,1>",
         "FLOAT16", "FLOAT32"]


@pytest.mark.parametrize("name", NAMES)
def test_attributes_match_qonnx(name: str) -> None:
    ours, theirs = packing.datatype(name), QDataType[name]
    assert ours.name == theirs.name  # UINT1 is BINARY in both
    assert ours.bitwidth == theirs.bitwidth()
    assert ours.signed == theirs.signed()
    assert ours.is_integer == theirs.is_integer()
    assert (ours.kind == "fixed") == theirs.is_fixed_point()
    assert ours.min == theirs.min() and ours.max == theirs.max()
    assert type(ours.min) is not float or not ours.is_integer  # exact integers, no float rounding at 64 bits
    if ours.kind == "fixed":
        assert 2.0 ** -ours.frac_bits == theirs.scale_factor()


@pytest.mark.parametrize("text", ["DataType['UINT8']", 'DataType["INT4"]', "uint8", " INT12 ", "fixed<8,3>"])
def test_name_forms_the_drivers_print_parse_to_the_qonnx_type(text: str) -> None:
    canonical = text.strip().removeprefix("DataType[").strip("[]'\"").upper()
    assert packing.datatype(text).name == QDataType[canonical].name
    assert packing.datatype(QDataType[canonical]) == packing.datatype(canonical)  # qonnx objects too


@pytest.mark.parametrize("text", ["UINT0", "INT65", "FIXED<4,5>", "FLOAT64", "BINARY8", ""])
def test_names_outside_the_board_copy_are_refused_with_what_to_use(text: str) -> None:
    with pytest.raises(ValueError, match="use UINTn or INTn"):
        packing.datatype(text)


def _candidates(name: str) -> list[float | int]:
    """Values around and inside the type's range: all of them for narrow types, the edges for wide ones."""
    q = QDataType[name]
    if q.is_fixed_point():
        sf = q.scale_factor()
        grid = [q.min() + k * sf for k in range(round((q.max() - q.min()) / sf) + 1)]
        return grid + [q.min() - sf, q.max() + sf, sf / 2, q.max() - sf / 3, 0.0]
    lo, hi = int(q.min()), int(q.max())
    if hi - lo < 1024:
        ints = list(range(lo - 3, hi + 4))
    else:
        ints = [lo - 1, lo, lo + 1, -1, 0, 1, hi - 1, hi, hi + 1]
    return ints + [lo + 0.5, 0.5, -0.5, hi - 0.5]


def _packs(values: list[float | int], name: str) -> bool:
    try:
        packing.pack(np.asarray(values), name)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("FLOAT") and "64" not in n])
def test_allowed_values_match_qonnx(name: str) -> None:
    q = QDataType[name]
    wrong = []
    for v in _candidates(name):
        if isinstance(v, int) and abs(v) > 2 ** 53:  # not exact as a float: pass ints as int64
            continue
        if _packs([v], name) != q.allowed(v):
            wrong.append((v, q.allowed(v)))
    assert not wrong, f"{name}: (value, qonnx allows) where packing disagrees: {wrong}"


@pytest.mark.parametrize("name", ["UINT48", "INT40", "UINT33", "INT32"])
def test_allowed_edges_of_wide_types_in_integer_containers(name: str) -> None:
    q = QDataType[name]
    lo, hi = int(q.min()), int(q.max())
    for v in (lo - 1, lo, hi, hi + 1):
        try:
            packing.pack(np.array([v], dtype=np.int64), name)
            ok = True
        except ValueError:
            ok = False
        assert ok == q.allowed(v), (name, v)


@pytest.mark.parametrize("name", ["FLOAT16", "FLOAT32"])
def test_float_types_hold_their_ieee_range(name: str) -> None:
    q, ours = QDataType[name], packing.datatype(name)
    assert math.isclose(ours.max, q.max()) and ours.min == -ours.max
    assert q.allowed(1.5) and _packs([1.5, -2.25, ours.max], name)
