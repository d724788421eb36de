"""The hand-built layer: integer inference = exported model; PyRTL unit = Verilator = numpy; checks."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils import handbuilt as hb
from course_utils.checks import lab2


@pytest.fixture(scope="module")
def mlp() -> hb.IntegerMLP:
    return hb.load()


def _placeholder(*_args, **_kwargs):
    raise NotImplementedError("Exercise: placeholder")


# ----------------------------------------------------------------------------- integer inference

def test_integer_inference_matches_exported_model(mlp):
    y = hb.infer(mlp, mlp.x)
    assert np.array_equal(y, mlp.y_int)
    pred, ties = hb.argmax_first(y)
    assert pred.shape == (len(mlp.x),) and ties.dtype == bool


def test_layer1_accumulator_width_is_finns(mlp):
    """The width from the weights equals the accumulator FINN chose for MVAU_rtl_0 (MinimizeAccWidth)."""
    from course_utils import finnflow as ff

    ff.setup()
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(str(mlp.source / "dataflow.onnx"))
    acc_type = getCustomOp(model.get_node_from_name("MVAU_rtl_0")).get_nodeattr("accDataType")
    lo, hi = hb.accumulator_range(mlp.W[0], 0, 255)
    assert lo < 0 < hi
    assert acc_type == f"INT{hb.signed_bits(lo, hi)}"   # the shipped default: INT19
    assert hb.signed_bits(lo, hi) < hb.signed_bits(-255 * 8 * len(mlp.W[0]), 255 * 7 * len(mlp.W[0]))
    assert hb.signed_bits(-1, 0) == 1 and hb.signed_bits(0, 1) == 2 and hb.signed_bits(-128, 127) == 8


def _requant_shift(acc, M, B, shift, levels):
    """Exercise 0.3's answer (test-side only: the kit ships no reference implementation)."""
    return np.clip((np.asarray(acc, np.int64) * M + B) >> shift, 0, levels)


def test_shift_requant_is_close_but_not_exact(mlp):
    acc = mlp.x.astype(np.int64) @ mlp.W[0]
    exact = hb.requant_thresholds(acc, mlp.T[0])
    M, B = hb.shift_params(mlp.T[0], 16)
    approx = _requant_shift(acc, M, B, 16, 15)
    assert approx.min() >= 0 and approx.max() <= 15
    assert np.abs(approx - exact).max() <= 1          # at most one level off
    assert (approx == exact).mean() > 0.95
    coarse = _requant_shift(acc, M >> 12, B >> 12, 4, 15)   # 4 fractional bits: much worse
    assert (coarse == exact).mean() < (approx == exact).mean()


def test_infer_rejects_unknown_style(mlp):
    with pytest.raises(ValueError, match="thresholds"):
        hb.infer(mlp, mlp.x[:1], style="round")


def test_load_names_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook 04"):
        hb.load(tmp_path)


# ----------------------------------------------------------------------------- checks

def _acc_bits(W, lo, hi):
    return hb.signed_bits(*hb.accumulator_range(W, lo, hi))


def _forward(x, W, T):
    h = x.astype(np.int64)
    for i, w in enumerate(W):
        acc = h @ w
        if i == len(T):
            return acc
        h = (acc[:, :, None] >= T[i][None]).sum(-1)


def test_ex_0_1(mlp, capsys):
    lab2.ex_0_1(_acc_bits, mlp)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not done"):
        lab2.ex_0_1(..., mlp)
    with pytest.raises(AssertionError, match="not done yet"):
        lab2.ex_0_1(_placeholder, mlp)
    with pytest.raises(AssertionError, match="bits"):   # unsigned count, forgets the sign bit
        lab2.ex_0_1(lambda W, lo, hi: int(np.ceil(np.log2(hb.accumulator_range(W, lo, hi)[1] + 1))), mlp)
    with pytest.raises(AssertionError, match="layer 1|needs"):   # worst case of every weight at the limit
        lab2.ex_0_1(lambda W, lo, hi: hb.signed_bits(-W.shape[0] * hi * 8, W.shape[0] * hi * 7), mlp)


def test_ex_0_2(mlp, capsys):
    lab2.ex_0_2(_forward, mlp)
    assert "bit-exact" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not done"):
        lab2.ex_0_2(..., mlp)
    with pytest.raises(AssertionError, match="differ"):   # > instead of >=
        lab2.ex_0_2(lambda x, W, T: _forward(x, W, [t - 1 for t in T]), mlp)
    with pytest.raises(AssertionError, match="dtype"):
        lab2.ex_0_2(lambda x, W, T: _forward(x, W, T).astype(float), mlp)
    with pytest.raises(AssertionError, match="shape"):
        lab2.ex_0_2(lambda x, W, T: _forward(x, W, T)[:, :9], mlp)


def test_ex_0_3(capsys):
    lab2.ex_0_3(lambda acc, M, B, s, lv: np.clip((acc * M + B) >> s, 0, lv))
    assert "passed" in capsys.readouterr().out
    lab2.ex_0_3(_requant_shift)
    assert not hasattr(hb, "requant_shift"), "the student kit must not ship Exercise 0.3's answer"
    with pytest.raises(AssertionError, match="not done"):
        lab2.ex_0_3(_placeholder)
    with pytest.raises(AssertionError, match="computed"):
        lab2.ex_0_3(lambda acc, M, B, s, lv: np.clip((acc * M + B + (1 << (s - 1))) >> s, 0, lv))  # rounds
    with pytest.raises(AssertionError, match="dtype"):
        lab2.ex_0_3(lambda acc, M, B, s, lv: np.clip((acc * M + B) / 2**s, 0, lv))
    with pytest.raises(AssertionError, match="computed"):
        lab2.ex_0_3(lambda acc, M, B, s, lv: (acc * M + B) >> s)   # no clip


def test_ex_0_4(capsys):
    from course_utils import handbuilt_hdl as hh

    measured = {1: 4 * 784 + 1, 16: 4 * 784 // 16 + 1}   # as Verilator measures (test_handbuilt_hdl)
    lab2.ex_0_4(lambda K, N, s: N * K // s + 1, measured, 784, 4)
    assert "passed" in capsys.readouterr().out
    assert not hasattr(hh, "unit_cycles"), "the student kit must not ship Exercise 0.4's answer"
    with pytest.raises(AssertionError, match="not done"):
        lab2.ex_0_4(..., measured, 784, 4)
    with pytest.raises(AssertionError, match="predict"):
        lab2.ex_0_4(lambda K, N, s: K // s, measured, 784, 4)   # one neuron only
