"""course_utils.quant: fake quantization, its error measures, and PTQ of a float network."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import quant
from course_utils.models import FloatMLP


def test_int_ranges():
    assert quant.int_range(4, signed=True) == (-8, 7)
    assert quant.int_range(4, signed=True, narrow=True) == (-7, 7)
    assert quant.int_range(4, signed=False) == (0, 15)
    assert quant.int_range(1, signed=False) == (0, 1)
    with pytest.raises(ValueError, match="at least 2 bits"):
        quant.int_range(1, signed=True, narrow=True)
    with pytest.raises(ValueError, match="at least 1"):
        quant.int_range(0, signed=False)


def test_symmetric_by_hand():
    x = np.array([-1.0, -0.31, 0.0, 0.26, 0.5, 0.93])
    x_hat = quant.fake_quantize(x, 4)
    # scale 1/7; 0.5 * 7 = 3.5 rounds to the even 4; -0.31 * 7 = -2.17 -> -2
    assert (x_hat * 7).round(9).tolist() == [-7, -2, 0, 2, 4, 7]


def test_symmetric_error_is_at_most_half_a_step_and_zero_maps_to_zero():
    x = np.random.default_rng(0).normal(size=5000)
    for bits in range(2, 9):
        step = np.abs(x).max() / (2 ** (bits - 1) - 1)
        x_hat = quant.fake_quantize(x, bits)
        assert len(np.unique(x_hat)) <= 2**bits - 1 and np.abs(x_hat).max() == pytest.approx(np.abs(x).max())
        assert np.max(np.abs(x_hat - x)) <= step / 2 + 1e-12
    assert quant.fake_quantize(np.array([0.0, 1.0, -1.0]), 3).tolist() == [0.0, 1.0, -1.0]


def test_all_zero_input_stays_zero():
    assert not quant.fake_quantize(np.zeros(4), 4).any()
    assert not quant.fake_quantize(np.zeros(4), 4, "asymmetric").any()


def test_asymmetric_by_hand_and_zero_exact():
    x = np.array([-0.5, 0.0, 0.25, 1.0])
    # lo -0.5, hi 1.0 -> scale 0.5, zero point 1; 0.25 / 0.5 = 0.5 rounds to even 0 -> code 1 -> 0.0
    assert quant.fake_quantize(x, 2, "asymmetric").tolist() == [-0.5, 0.0, 0.0, 1.0]
    pos = np.array([2.0, 3.0, 5.0])              # all positive: the range still starts at 0
    x_hat = quant.fake_quantize(pos, 8, "asymmetric")
    assert np.allclose(x_hat / (5.0 / 255), np.round(x_hat / (5.0 / 255)))


def test_asymmetric_beats_symmetric_on_relu_outputs():
    acts = np.maximum(np.random.default_rng(1).normal(0.3, 1.0, 10000), 0)
    sym = quant.mse(acts, quant.fake_quantize(acts, 4, "symmetric"))
    asym = quant.mse(acts, quant.fake_quantize(acts, 4, "asymmetric"))
    assert asym < sym / 2
    with pytest.raises(ValueError, match="mode"):
        quant.fake_quantize(acts, 4, "log")


def test_per_channel_scales_follow_rows():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(8, 50)) * np.arange(1, 9)[:, None]
    w_hat = quant.fake_quantize(w, 4, axis=0)
    steps = np.abs(w).max(axis=1, keepdims=True) / 7
    assert np.allclose(w_hat / steps, np.round(w_hat / steps))
    assert (np.abs(np.round(w_hat / steps)).max(axis=1) == 7).all()
    per_tensor = quant.error_vs_bits(w, [4])[4]["sqnr_db"]
    per_channel = quant.error_vs_bits(w, [4], axis=0)[4]["sqnr_db"]
    assert per_channel > per_tensor + 2


def test_sqnr_grows_about_6db_per_bit():
    x = np.random.default_rng(3).uniform(-1, 1, 100000)
    err = quant.error_vs_bits(x, range(3, 9))
    steps = {b: err[b + 1]["sqnr_db"] - err[b]["sqnr_db"] for b in range(3, 8)}
    # narrow range: the step shrinks by (2^(b-1) - 1) / (2^b - 1), i.e. 20 log10(7/3) = 7.4 dB
    # from 3 to 4 bits, tending to 20 log10(2) = 6.02 dB per bit
    for b, d in steps.items():
        assert d == pytest.approx(20 * np.log10((2**b - 1) / (2 ** (b - 1) - 1)), abs=0.15), (b, d)
    assert all(err[b]["mse"] > err[b + 1]["mse"] for b in range(3, 8))
    with pytest.raises(ValueError, match="shapes differ"):
        quant.mse(x, x[:10])


def test_the_exercise_helpers_are_not_in_the_kit():
    """Lab 1.2/1.3 ask students to write these: the kit must not hand them out (course release checks it)."""
    for name in ("quantize_symmetric", "quantize_asymmetric", "dequantize", "sqnr_db", "quantize_per_channel",
                 "int_linear", "quantize_weights", "calibrate_scale", "smallest_bits"):
        assert not hasattr(quant, name), name


@pytest.fixture(scope="module")
def float_net() -> nn.Module:
    torch.manual_seed(0)
    net = FloatMLP(hidden=(32, 16))
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (128, 784)).float())
    return net.eval()


def test_ptq_weights_are_a_copy_with_few_levels(float_net):
    before = {k: v.clone() for k, v in float_net.state_dict().items()}
    qnet = quant.ptq(float_net, torch.zeros(4, 784), weight_bits=3, act_bits=8)
    assert all(torch.equal(v, float_net.state_dict()[k]) for k, v in before.items())
    for name, mod in qnet.named_modules():
        if isinstance(mod, nn.Linear):
            assert len(torch.unique(mod.weight)) <= 7, name
    assert torch.equal(qnet.layers[1].running_mean, float_net.layers[1].running_mean)
    per_channel = quant.ptq(float_net, torch.zeros(4, 784), weight_bits=3, act_bits=8, per_channel=True)
    assert len(torch.unique(per_channel.layers[0].weight)) > 7   # 32 rows, 32 scales


def test_activation_ranges_and_ptq_quantize_relu_outputs(float_net):
    x = torch.randint(0, 256, (200, 784)).float()
    ranges = quant.activation_ranges(float_net, x)
    assert set(ranges) == {"layers.2", "layers.5"}
    assert all(v > 0 for v in ranges.values())
    assert quant.activation_ranges(float_net, x, percentile=50)["layers.2"] < ranges["layers.2"]
    qnet = quant.ptq(float_net, x, weight_bits=4, act_bits=2, percentile=100.0)
    seen = {}
    qnet.layers[2].register_forward_hook(lambda m, i, o: seen.setdefault("a", o))
    with torch.no_grad():
        qnet(x)
    levels = torch.unique(seen["a"])
    assert len(levels) <= 4 and float(levels.min()) == 0.0
    assert float(levels.max()) == pytest.approx(ranges["layers.2"], rel=1e-5)
    assert float_net.layers[2].__class__ is nn.ReLU  # the original keeps its plain ReLU


def test_activation_ranges_need_relus():
    with pytest.raises(ValueError, match="no nn.ReLU"):
        quant.activation_ranges(nn.Sequential(nn.Linear(784, 3)), torch.zeros(2, 784))
