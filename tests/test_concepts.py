"""course_utils.concepts: folding calculator, few-bit maths, AXI-Stream handshake, figures, streamlining."""
from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import concepts as c  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- folding ----------------------------------------------------------------------------------
def test_divisors():
    assert c.divisors(784) == [1, 2, 4, 7, 8, 14, 16, 28, 49, 56, 98, 112, 196, 392, 784]
    assert c.divisors(64) == [1, 2, 4, 8, 16, 32, 64]
    assert c.divisors(1) == [1]
    with pytest.raises(ValueError, match="positive integer"):
        c.divisors(0)


def test_layer_cycles_and_validation():
    layer = c.Layer("fc0", mw=784, mh=64, simd=16, pe=4)
    assert (layer.cycles, layer.units, layer.macs) == (49 * 16, 64, 784 * 64)
    assert c.Layer("conv", mw=27, mh=16, simd=3, pe=4, vectors=100).cycles == 9 * 4 * 100
    with pytest.raises(c.FoldError, match=r"SIMD=5 does not divide MW=784; use one of \[1, 2, 4, 7"):
        c.Layer("fc0", 784, 64, simd=5)
    with pytest.raises(c.FoldError, match="PE=3 does not divide MH=64"):
        c.Layer("fc0", 784, 64, pe=3)
    with pytest.raises(c.FoldError, match="SIMD must be a positive integer"):
        c.Layer("fc0", 784, 64, simd=0)


@pytest.mark.parametrize(("simd", "pe"), [(1, 1), (2, 3), (4, 1), (12, 6), (3, 2)])
def test_folded_matvec_matches_matmul_and_formula(simd, pe):
    rng = np.random.default_rng(simd * 10 + pe)
    w = rng.integers(-8, 8, size=(6, 12))
    x = rng.integers(0, 256, size=12)
    y, cycles, schedule = c.folded_matvec(w, x, simd, pe)
    np.testing.assert_array_equal(y, w @ x)
    assert cycles == (12 // simd) * (6 // pe) == c.Layer("l", 12, 6, simd, pe).cycles
    # every weight is used exactly once, and each cycle uses exactly SIMD x PE weights
    assert schedule.min() == 0 and schedule.max() == cycles - 1
    np.testing.assert_array_equal(np.bincount(schedule.ravel()), np.full(cycles, simd * pe))


def test_folded_matvec_rejects_bad_input():
    with pytest.raises(c.FoldError, match="SIMD=5 does not divide MW=12"):
        c.folded_matvec(np.ones((6, 12)), np.ones(12), 5, 1)
    with pytest.raises(ValueError, match="shapes"):
        c.folded_matvec(np.ones((6, 12)), np.ones(6), 1, 1)


def test_network_performance():
    layers = [c.Layer("a", 784, 64, 16, 4), c.Layer("b", 64, 64, 8, 8), c.Layer("c", 64, 10, 4, 5)]
    perf = c.network_performance(layers, clock_mhz=100)
    assert perf.cycles_per_sample == 784 and perf.bottleneck == "a"
    assert perf.latency_cycles == 784 + 64 + 32
    assert perf.fps == pytest.approx(100e6 / 784)
    assert perf.latency_us == pytest.approx(880 / 100)
    assert perf.units == 64 + 64 + 20
    with pytest.raises(ValueError, match="at least one"):
        c.network_performance([])


@pytest.mark.parametrize("target", [50176, 4096, 1000, 196, 49, 7, 1])
def test_fold_layer_is_cheapest_legal_folding(target):
    layer = c.fold_layer(784, 64, target)
    assert layer.cycles <= target
    cheaper = [(s, p) for s, p in itertools.product(c.divisors(784), c.divisors(64))
               if s * p < layer.units and (784 // s) * (64 // p) <= target]
    assert cheaper == []


def test_fold_layer_impossible_target():
    with pytest.raises(c.FoldError, match="below the minimum of 4"):
        c.fold_layer(27, 16, target_cycles=3, vectors=4)


def test_folding_sweep_course_mlp():
    shapes = c.mlp_shapes()
    assert shapes == [(784, 64), (64, 64), (64, 10)]
    rows = c.folding_sweep(shapes, clock_mhz=100)
    assert rows[0]["folding"] == ((1, 1), (1, 1), (1, 1)) and rows[0]["cycles"] == 784 * 64
    assert rows[-1]["cycles"] == 1 and rows[-1]["units"] == 784 * 64 + 64 * 64 + 64 * 10
    cycles = [r["cycles"] for r in rows]
    assert cycles == sorted(cycles, reverse=True) and len(set(cycles)) == len(cycles)
    for r in rows:
        assert r["fps"] == pytest.approx(100e6 / r["cycles"])
        assert r["cycles"] <= r["target_cycles"]
    assert len({r["folding"] for r in rows}) == len(rows)


def test_pipelined_loop_cycles():
    assert c.pipelined_loop_cycles(784, ii=1, depth=3) == 786
    assert c.pipelined_loop_cycles(784, ii=2, depth=3) == 783 * 2 + 3
    assert c.pipelined_loop_cycles(784, ii=1, depth=3, unroll=4) == 195 + 3
    with pytest.raises(ValueError):
        c.pipelined_loop_cycles(0)


# --- few bits -----------------------------------------------------------------------------------
def test_weight_memory_and_bram():
    shapes = c.mlp_shapes()
    n = 784 * 64 + 64 * 64 + 64 * 10
    assert c.memory_bits(shapes, 4) == 4 * n
    assert c.memory_bits(shapes, 32) == 32 * n
    assert c.bram18_needed(18 * 1024) == 1 and c.bram18_needed(18 * 1024 + 1) == 2
    assert c.partial_products(4) == 16 and c.partial_products(8) == 64
    assert c.XC7Z020 == {"LUT": 53_200, "FF": 106_400, "BRAM_18K": 280, "DSP": 220}   # DS190
    with pytest.raises(ValueError):
        c.memory_bits(shapes, 0)


def test_xnor_popcount_equals_bipolar_dot():
    rng = np.random.default_rng(0)
    for n in (1, 7, 64, 784):
        a, b = rng.choice([-1, 1], size=n), rng.choice([-1, 1], size=n)
        assert c.xnor_popcount_dot(a, b) == int(a @ b)
    with pytest.raises(ValueError, match="bipolar"):
        c.xnor_popcount_dot(np.array([0, 1]), np.array([1, 1]))
    with pytest.raises(ValueError, match="equal length"):
        c.xnor_popcount_dot(np.array([1, 1]), np.array([1]))


def test_dma_max_batch():
    assert c.dma_max_batch(784, 14) == 20       # 32 images (25,088 B) do not fit 16,383 B
    assert 32 * 784 > 2 ** 14 - 1
    assert c.dma_max_batch(784, 26) == (2 ** 26 - 1) // 784
    with pytest.raises(ValueError, match="PG021"):
        c.dma_max_batch(784, 27)


# --- AXI-Stream ---------------------------------------------------------------------------------
def test_axis_always_ready_one_beat_per_cycle():
    tr = c.simulate_axis(6)
    assert tr.cycles == 6 and tr.transfers == list(range(6)) and tr.received() == list(range(6))
    assert [t for t in range(tr.cycles) if tr.last[t]] == [5]
    assert c.axis_violations(tr) == []


def test_axis_backpressure_and_gaps():
    tr = c.simulate_axis(4, ready="10")             # sink ready every other cycle
    assert tr.transfers == [0, 2, 4, 6] and tr.received() == [0, 1, 2, 3]
    assert tr.valid[1] and tr.data[1] == 1 and not tr.ready[1]   # source holds beat 1 while waiting
    tr = c.simulate_axis(3, ready="1", gaps=[2, 0, 3])
    assert tr.transfers == [2, 3, 7] and tr.received() == [0, 1, 2]
    assert not any(tr.valid[:2]) and not any(tr.valid[4:7])
    tr = c.simulate_axis(5, ready=[1, 1, 0, 1], gaps=[0, 2, 0, 0, 1])
    assert tr.received() == list(range(5)) and c.axis_violations(tr) == []
    assert tr.last[tr.transfers[-1]] and sum(tr.last) == 1


def test_axis_bad_input():
    with pytest.raises(ValueError, match="never ready"):
        c.simulate_axis(3, ready="0")
    with pytest.raises(ValueError, match="0/1"):
        c.simulate_axis(3, ready="1x")
    with pytest.raises(ValueError, match="3 non-negative"):
        c.simulate_axis(3, gaps=[0, 1])
    with pytest.raises(RuntimeError, match="max_cycles"):
        c.simulate_axis(10, ready="0001", max_cycles=8)


def test_axis_violations_detects_protocol_errors():
    dropped = c.AxisTrace(valid=[True, False, True], ready=[False, False, True], data=[0, None, 0],
                          last=[False, False, False])
    assert any("TVALID dropped" in p for p in c.axis_violations(dropped))
    changed = c.AxisTrace(valid=[True, True], ready=[False, True], data=[0, 1], last=[False, False])
    assert any("TDATA/TLAST changed" in p for p in c.axis_violations(changed))


# --- figures ------------------------------------------------------------------------------------
def test_plot_axis_handshake():
    tr = c.simulate_axis(4, ready="110")
    fig = c.plot_axis_handshake(tr)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ACLK", "TVALID", "TREADY", "TDATA", "TLAST"]
    labels = {t.get_text() for t in ax.texts}
    assert {"D0", "D1", "D2", "D3"} <= labels
    assert len(ax.patches) >= len(tr.transfers)          # one shaded band per transfer (+ data boxes)
    assert f"{len(tr.transfers)} beats in {tr.cycles} cycles" in ax.get_title()


def test_plot_zynq_overview_names_the_blocks():
    fig = c.plot_zynq_overview()
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    for word in ("Cortex-A9", "AXI DMA", "FINN", "HP0", "GP0", "AXI-Stream", "TLAST", "AXI-Lite"):
        assert word in text


def test_plot_fold_schedule_and_throughput():
    fig = c.plot_fold_schedule(6, 12, 4, 3)
    _, cycles, schedule = c.folded_matvec(np.ones((6, 12), int), np.ones(12, int), 4, 3)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), schedule)
    assert f"{cycles} cycles" in fig.axes[0].get_title()
    fig = c.plot_throughput_vs_parallelism(c.mlp_shapes(), input_bytes=784, input_bytes_per_cycle=4)
    line = fig.axes[0].lines[0]
    rows = c.folding_sweep(c.mlp_shapes())
    np.testing.assert_allclose(line.get_ydata(), [r["fps"] for r in rows])
    assert any(ln.get_ydata()[0] == pytest.approx(100e6 * 4 / 784) for ln in fig.axes[0].lines[2:])


# --- streamlining -------------------------------------------------------------------------------
def test_streamline_demo_absorbs_scales_and_keeps_outputs():
    demo = c.streamline_demo(samples=32)
    before = [n.op_type for n in demo["before"].graph.node]
    after = [n.op_type for n in demo["after"].graph.node]
    assert before == ["Mul", "MatMul", "Add", "Mul", "MultiThreshold"]
    assert after == ["MatMul", "MultiThreshold"]
    assert demo["equal"] is True
    np.testing.assert_array_equal(demo["y_before"], demo["y_after"])
    assert len(np.unique(demo["y_before"])) > 1        # a constant output would prove nothing
    assert demo["y_before"].shape == (32, 4)
    assert len(demo["nodes_after"]) == 2 and demo["nodes_after"][0].startswith("MatMul(")


def test_toy_model_executes_and_differs_after_perturbation():
    model = c.toy_streamline_model()
    x = np.random.default_rng(3).integers(0, 256, size=(16, 6))
    y = c.execute(model, x)
    thr = model.get_initializer("thresholds")
    model.set_initializer("thresholds", thr + 5.0)     # shifted thresholds must change the answer
    assert not np.array_equal(y, c.execute(model, x))
