"""The hand-built MAC unit: PyRTL simulation = Verilator simulation = numpy, cycles as predicted."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils import handbuilt as hb

hh = pytest.importorskip("course_utils.handbuilt_hdl")
pytest.importorskip("pyrtl")

N = 4


@pytest.fixture(scope="module")
def layer1():
    mlp = hb.load()
    return mlp.W[0][:, :N], mlp.x[:3]


@pytest.mark.parametrize("simd", [1, 16])
def test_pyrtl_unit_equals_numpy(layer1, simd):
    W, x = layer1
    unit = hh.build_unit(W, simd)
    res = hh.simulate(unit, x[:2])
    assert np.array_equal(res.acc, x[:2].astype(np.int64) @ W)
    assert res.cycles_per_image == _unit_cycles(len(W), N, simd)


def _unit_cycles(K: int, N: int, simd: int) -> int:
    """Exercise 0.4's formula (test-side: the kit ships no reference): N*K/SIMD words, +1 output register."""
    return N * K // simd + 1

def test_pyrtl_unit_under_backpressure(layer1):
    W, x = layer1
    unit = hh.build_unit(W, 8)
    res = hh.simulate(unit, x[:2], out_ready_every=5)
    assert np.array_equal(res.acc, x[:2].astype(np.int64) @ W)
    # one result per neuron every K/SIMD cycles: an output ready every 5th cycle costs no time here
    # (a stall is shown by test_backpressure_stalls_a_fast_unit); the results must not change
    assert res.cycles >= 2 * _unit_cycles(len(W), N, 8) - 1


def test_backpressure_stalls_a_fast_unit():
    rng = np.random.default_rng(0)
    W = rng.integers(-8, 8, size=(8, 4))
    x = rng.integers(0, 256, size=(5, 8)).astype(np.uint8)
    unit = hh.build_unit(W, 8)                 # one word per neuron: a result every cycle
    fast = hh.simulate(unit, x)
    slow = hh.simulate(unit, x, out_ready_every=3)
    assert np.array_equal(fast.acc, x.astype(np.int64) @ W) and np.array_equal(slow.acc, fast.acc)
    assert slow.cycles >= 3 * (len(x) * 4 - 1) > fast.cycles


def test_bad_simd_and_weights_rejected(layer1):
    W, _ = layer1
    bad = next(simd for simd in range(2, len(W)) if len(W) % simd)   # 3 for the 400-input default
    with pytest.raises(ValueError, match="choose one of"):
        hh.build_unit(W, bad)
    with pytest.raises(ValueError, match="4-bit"):
        hh.build_unit(W * 3, 4)


def test_wrong_rom_is_caught(layer1):
    W, x = layer1
    W2 = W.copy()
    k = int(np.argmax(x[0]))                  # a pixel that is not 0 in the image
    W2[k, 1] = 3 if W2[k, 1] != 3 else -3
    res = hh.simulate(hh.build_unit(W2, 4), x[:1])
    assert not np.array_equal(res.acc, x[:1].astype(np.int64) @ W)


def test_verilator_equals_pyrtl_and_numpy(layer1, tmp_path_factory):
    W, x = layer1
    unit = hh.build_unit(W, 4)
    exe, _ = hh.verilate(unit)
    ver = hh.simulate_verilator(unit, x, exe=exe)
    py = hh.simulate(unit, x)
    assert np.array_equal(ver.acc, x.astype(np.int64) @ W)
    assert np.array_equal(ver.acc, py.acc)
    assert ver.cycles == py.cycles and ver.cycles_per_image == _unit_cycles(len(W), N, 4)
    slow = hh.simulate_verilator(unit, x, out_ready_every=5, exe=exe)
    assert np.array_equal(slow.acc, ver.acc) and slow.cycles >= ver.cycles
    assert hh.verilate(unit)[1] == 0.0      # cached by content


STAT = """
=== mac_unit ===
      852 wires
      272 cells
        1   BUFG
       10   CARRY4
        4   DSP48E1
       94   FDRE
       36   IBUF
        2   INV
       16   LUT2
       24   LUT3
       21   LUT4
       30   LUT5
       10   LUT6
       22   OBUF
        2   RAMB18E1
"""
"""Yosys 0.70 ``stat`` of the SIMD-4 unit (synth_xilinx -family xc7), as printed."""


def test_parse_stat_counts_xc7_cells():
    assert hh.parse_stat(STAT) == {"LUT": 101, "FF": 94, "DSP": 4, "BRAM18": 2, "LUTRAM": 0}


def test_shipped_sweep_matches_the_unit():
    rows = {r["SIMD"]: r for r in hh.synth_table()}
    inputs = len(hb.load().W[0])   # the shipped table is for the shipped model's layer 1
    assert sorted(rows) == [1, 4, 16]
    for simd, row in rows.items():
        assert row["cycles/image"] == _unit_cycles(inputs, N, simd)
        assert row["FF"] > 0 and row["LUT"] > 0
    assert rows[1]["DSP"] < rows[4]["DSP"] < rows[16]["DSP"]   # one DSP48E1 per lane


@pytest.mark.slow
def test_yosys_synthesizes_a_small_unit(tmp_path):
    rng = np.random.default_rng(1)
    unit = hh.build_unit(rng.integers(-8, 8, size=(8, 2)), 2)
    counts = hh.synthesize(unit, cache=tmp_path)
    assert counts["DSP"] + counts["LUT"] > 0 and counts["FF"] >= unit.acc_bits   # accumulator + result
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert hh.synthesize(unit, cache=tmp_path) == counts                           # cached by content
