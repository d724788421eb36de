"""checks.lab1: every checkpoint passes a right answer and fails, naming its exercise, on wrong answers
and on the untouched student placeholder."""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from brevitas.nn import QuantLinear, QuantReLU
from torch import nn

from course_utils import export, models, quant
from course_utils.checks import lab1
from course_utils.checks._common import CheckFailure


def placeholder(ex: str):
    """What the generated student notebook contains: a function that raises NotImplementedError."""
    def fn(*args, **kwargs):
        raise NotImplementedError(f"Exercise {ex}: do it")
    return fn


def passes(check, *args, capsys=None):
    check(*args)


def fails(check, *args, ex: str, match: str = ""):
    """The check raises AssertionError naming the exercise (and matching ``match``)."""
    with pytest.raises(AssertionError) as info:
        check(*args)
    msg = str(info.value)
    assert msg.startswith(f"Exercise {ex}: "), msg
    assert re.search(match, msg, re.S), msg
    return msg


def _named(key: str, check, *args) -> None:
    """The check names catalogued mistake ``key`` (test_checks_mistakes counts these calls)."""
    with pytest.raises(CheckFailure) as info:
        check(*args)
    assert info.value.mistake == key, str(info.value)


def test_pass_line_is_printed(capsys):
    lab1.ex_1_2(lambda lg, lb: (lg.argmax(1) == lb).float().mean().item())
    assert capsys.readouterr().out.startswith("Exercise 1.2 passed: ")


# --------------------------------------------------------------------------- notebook 01

def test_ex_1_1():
    flat = lambda im: np.asarray(im)[:, 4:24, 4:24].reshape(len(im), -1)  # noqa: E731
    lab1.ex_1_1(lambda im: torch.tensor(flat(im), dtype=torch.float32))
    fails(lab1.ex_1_1, lambda im: torch.tensor(flat(im) / 255.0, dtype=torch.float32), ex="1.1",
          match="scaled to 0..1")
    fails(lab1.ex_1_1, lambda im: np.asarray(im).reshape(len(im), -1).astype(np.float32), ex="1.1",
          match="torch.Tensor")
    fails(lab1.ex_1_1, lambda im: torch.tensor(flat(im)), ex="1.1", match="float32")
    fails(lab1.ex_1_1, lambda im: torch.tensor(
        np.asarray(im)[:, 4:24, 4:24].transpose(0, 2, 1).reshape(len(im), -1), dtype=torch.float32),
        ex="1.1", match="transposed")
    fails(lab1.ex_1_1, lambda im: torch.tensor(np.asarray(im), dtype=torch.float32), ex="1.1", match="400")
    fails(lab1.ex_1_1, lambda im: torch.tensor(np.asarray(im).reshape(len(im), -1), dtype=torch.float32),
          ex="1.1", match="centre crop")  # the whole image instead of its 20x20 crop
    _named("1.1/not-cropped", lab1.ex_1_1,
           lambda im: torch.tensor(np.asarray(im).reshape(len(im), -1), dtype=torch.float32))
    fails(lab1.ex_1_1, placeholder("1.1"), ex="1.1", match="not done yet")
    fails(lab1.ex_1_1, ..., ex="1.1", match="not done yet")


def test_ex_1_2():
    fails(lab1.ex_1_2, lambda lg, lb: 100 * (lg.argmax(1) == lb).float().mean().item(), ex="1.2",
          match="percentage")
    fails(lab1.ex_1_2, lambda lg, lb: (lg.argmin(1) == lb).float().mean().item(), ex="1.2", match="expected")
    fails(lab1.ex_1_2, lambda lg, lb: "high", ex="1.2", match="number")
    fails(lab1.ex_1_2, placeholder("1.2"), ex="1.2", match="not done yet")


def _good_step(net, opt, xb, yb):
    net.train()
    opt.zero_grad()
    loss = nn.functional.cross_entropy(net(xb), yb)
    loss.backward()
    opt.step()
    return loss.item()


def test_ex_1_3():
    lab1.ex_1_3(_good_step)

    def no_zero_grad(net, opt, xb, yb):
        loss = nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    def no_step(net, opt, xb, yb):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        return loss.item()

    def returns_tensor(net, opt, xb, yb):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fails(lab1.ex_1_3, no_zero_grad, ex="1.3", match="zero_grad")
    fails(lab1.ex_1_3, no_step, ex="1.3", match="did not change")
    fails(lab1.ex_1_3, returns_tensor, ex="1.3", match="Python float")
    fails(lab1.ex_1_3, lambda net, opt, xb, yb: 2.3, ex="1.3", match="returned loss")
    fails(lab1.ex_1_3, placeholder("1.3"), ex="1.3", match="not done yet")


def _good_most_confused(cm):
    off = np.array(cm, copy=True)
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(np.argmax(off), off.shape)
    return int(i), int(j)


def test_ex_1_4():
    lab1.ex_1_4(_good_most_confused)
    fails(lab1.ex_1_4, lambda cm: _good_most_confused(cm)[::-1], ex="1.4", match="swapped")
    fails(lab1.ex_1_4, lambda cm: np.unravel_index(np.argmax(cm), cm.shape), ex="1.4", match="diagonal")
    fails(lab1.ex_1_4, lambda cm: int(np.argmax(cm)), ex="1.4", match="pair")
    fails(lab1.ex_1_4, placeholder("1.4"), ex="1.4", match="not done yet")


# --------------------------------------------------------------------------- notebook 02

def _sym(x, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(x).max() / qmax
    return np.clip(np.round(x / scale), -qmax, qmax).astype(np.int64), scale


def _deq(q, scale, zero_point=0):
    return (np.asarray(q) - zero_point) * scale


def _asym(x, bits, include_zero=True):
    qmax = 2**bits - 1
    lo, hi = float(np.min(x)), float(np.max(x))
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax
    zp = int(np.round(-lo / scale))
    return np.clip(np.round(x / scale) + zp, 0, qmax).astype(np.int64), scale, zp


def test_ex_2_1():
    lab1.ex_2_1(_sym, _deq)
    big = lambda x, b: np.abs(x).max() / 2 ** (b - 1)  # noqa: E731
    fails(lab1.ex_2_1, lambda x, b: (np.round(x / big(x, b)), big(x, b)), _deq, ex="2.1",
          match="wrong largest level")

    def full_range(x, bits):  # -8..7 instead of the narrow -7..7
        qmax = 2 ** (bits - 1) - 1
        s = np.abs(x).max() / qmax
        return np.clip(np.floor(x / s), -qmax - 1, qmax), s

    fails(lab1.ex_2_1, full_range, _deq, ex="2.1", match="outside|differ")
    fails(lab1.ex_2_1, lambda x, b: _sym(x, b)[0], _deq, ex="2.1", match=r"tuple \(q, scale\)")
    fails(lab1.ex_2_1, _sym, lambda q, s, z=0: q / s, ex="2.1", match="dequantize")
    fails(lab1.ex_2_1, placeholder("2.1"), _deq, ex="2.1", match="not done yet")
    fails(lab1.ex_2_1, _sym, placeholder("2.1"), ex="2.1", match="not done yet")


def test_ex_2_2():
    lab1.ex_2_2(_asym, _deq)
    fails(lab1.ex_2_2, lambda x, b: _asym(x, b, include_zero=False), _deq, ex="2.2",
          match="0.0 is not representable")
    fails(lab1.ex_2_2, lambda x, b: (_asym(x, b)[0], _asym(x, b)[1], _asym(x, b)[2] + 0.5), _deq, ex="2.2",
          match="integer")
    fails(lab1.ex_2_2, lambda x, b: (_asym(x, b)[0] - _asym(x, b)[2], _asym(x, b)[1], _asym(x, b)[2]), _deq,
          ex="2.2", match="outside|differ")
    fails(lab1.ex_2_2, _asym, lambda q, s, z=0: q * s, ex="2.2", match="zero_point")
    fails(lab1.ex_2_2, placeholder("2.2"), _deq, ex="2.2", match="not done yet")


def _sqnr(x, x_hat):
    return float(10 * np.log10(np.sum(np.square(x)) / np.sum(np.square(np.asarray(x) - x_hat))))


def test_ex_2_3():
    lab1.ex_2_3(_sqnr)
    fails(lab1.ex_2_3, lambda x, xh: 2 * _sqnr(x, xh), ex="2.3", match="10 \\* log10")
    fails(lab1.ex_2_3, lambda x, xh: 10 ** (_sqnr(x, xh) / 10), ex="2.3", match="decibels")
    fails(lab1.ex_2_3, lambda x, xh: float(np.mean((x - xh) ** 2)), ex="2.3", match="expected")
    fails(lab1.ex_2_3, placeholder("2.3"), ex="2.3", match="not done yet")


def _per_channel(w, bits):
    qmax = 2 ** (bits - 1) - 1
    s = np.abs(w).max(axis=1, keepdims=True) / qmax
    return np.clip(np.round(w / s), -qmax, qmax).astype(np.int64), s


def test_ex_2_4():
    lab1.ex_2_4(_per_channel)
    fails(lab1.ex_2_4, _sym, ex="2.4", match="per-tensor")

    def per_column(w, bits):
        qmax = 2 ** (bits - 1) - 1
        s = np.abs(w).max(axis=0, keepdims=True) / qmax
        return np.clip(np.round(w / s), -qmax, qmax), s

    fails(lab1.ex_2_4, per_column, ex="2.4", match="per input column")
    fails(lab1.ex_2_4, lambda w, b: (_per_channel(w, b)[0], _per_channel(w, b)[1].ravel()), ex="2.4",
          match="keepdims")
    fails(lab1.ex_2_4, placeholder("2.4"), ex="2.4", match="not done yet")


def _int_linear(q_x, q_w, s_x, s_w):
    return (np.asarray(q_x) @ np.asarray(q_w).T) * s_x * np.asarray(s_w, dtype=float).reshape(1, -1)


def test_ex_2_5():
    lab1.ex_2_5(_int_linear)
    fails(lab1.ex_2_5, lambda qx, qw, sx, sw: (np.asarray(qw) @ np.asarray(qx).T) * sx * np.mean(sw),
          ex="2.5", match="transposed")
    fails(lab1.ex_2_5, lambda qx, qw, sx, sw: (np.asarray(qx) @ np.asarray(qw).T) * sx * np.mean(sw),
          ex="2.5", match="per-channel")
    fails(lab1.ex_2_5, placeholder("2.5"), ex="2.5", match="not done yet")


# --------------------------------------------------------------------------- notebook 03

def _fq(t, bits, **kw):
    return torch.tensor(quant.fake_quantize(t.numpy(), bits, **kw), dtype=torch.float32)


def _quantize_weights(net, bits):
    qnet = copy.deepcopy(net)
    with torch.no_grad():
        for m in qnet.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(_fq(m.weight, bits))
    return qnet


def test_ex_3_1():
    lab1.ex_3_1(_quantize_weights)

    def in_place(net, bits):
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, nn.Linear):
                    m.weight.copy_(_fq(m.weight, bits))
        return net

    def also_batchnorm(net, bits):
        qnet = _quantize_weights(net, bits)
        with torch.no_grad():
            for m in qnet.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.weight.copy_(_fq(m.weight, bits))
        return qnet

    def per_channel(net, bits):
        qnet = copy.deepcopy(net)
        with torch.no_grad():
            for m in qnet.modules():
                if isinstance(m, nn.Linear):
                    m.weight.copy_(_fq(m.weight, bits, axis=0))
        return qnet

    fails(lab1.ex_3_1, in_place, ex="3.1", match="original")
    fails(lab1.ex_3_1, also_batchnorm, ex="3.1", match="leave BatchNorm alone")
    fails(lab1.ex_3_1, per_channel, ex="3.1", match="distinct values|per-tensor")
    fails(lab1.ex_3_1, lambda net, bits: copy.deepcopy(net), ex="3.1", match="distinct values")
    fails(lab1.ex_3_1, placeholder("3.1"), ex="3.1", match="not done yet")


def test_ex_3_2():
    lab1.ex_3_2(lambda a, b, p=100.0: float(np.percentile(a, p)) / (2**b - 1))
    fails(lab1.ex_3_2, lambda a, b, p=100.0: float(np.percentile(a, p)) / 2**b, ex="3.2",
          match="2\\^bits - 1")
    fails(lab1.ex_3_2, lambda a, b, p=100.0: float(np.max(a)) / (2**b - 1), ex="3.2", match="ignored")
    fails(lab1.ex_3_2, lambda a, b, p=100.0: float(np.percentile(a, p)) / (2 ** (b - 1) - 1), ex="3.2",
          match="expected")
    fails(lab1.ex_3_2, placeholder("3.2"), ex="3.2", match="not done yet")


def test_ex_3_3():
    def good(results, float_acc, max_drop=0.01):
        ok = [b for b, a in results.items() if a >= float_acc - max_drop]
        return min(ok) if ok else None

    lab1.ex_3_3(good)
    fails(lab1.ex_3_3, lambda r, f, d=0.01: next(b for b, a in r.items() if a >= f - d), ex="3.3",
          match="expected")      # first in dict order, not the smallest; and StopIteration when none

    def first_sorted_break(r, f, d=0.01):   # assumes accuracy grows with bits
        for b in sorted(r, reverse=True):
            if r[b] < f - d:
                return None if b == max(r) else min(x for x in r if x > b)
        return min(r)

    fails(lab1.ex_3_3, first_sorted_break, ex="3.3", match="grows with the bit width")
    fails(lab1.ex_3_3, placeholder("3.3"), ex="3.3", match="not done yet")


# --------------------------------------------------------------------------- notebook 04

def _qnn_class(layers_fn):
    class Net(nn.Module):
        def __init__(self, weight_bits=4, act_bits=4):
            super().__init__()
            self.layers = layers_fn(weight_bits, act_bits)

        def forward(self, x):
            return self.layers(x * models.INPUT_SCALE)
    return Net


def _good_layers(w, a, bias=False):
    return nn.Sequential(QuantLinear(400, 64, bias=bias, weight_bit_width=w), nn.BatchNorm1d(64),
                         QuantReLU(bit_width=a), QuantLinear(64, 64, bias=bias, weight_bit_width=w),
                         nn.BatchNorm1d(64), QuantReLU(bit_width=a),
                         QuantLinear(64, 10, bias=bias, weight_bit_width=w))


def test_ex_4_1():
    lab1.ex_4_1(_qnn_class(_good_layers))
    fails(lab1.ex_4_1, _qnn_class(lambda w, a: _good_layers(w, a, bias=True)), ex="4.1", match="bias=False")
    _named("4.1/bias", lab1.ex_4_1, _qnn_class(lambda w, a: _good_layers(w, a, bias=True)))
    _named("4.1/fixed-bits", lab1.ex_4_1, _qnn_class(lambda w, a: _good_layers(4, 4)))
    fails(lab1.ex_4_1, _qnn_class(lambda w, a: _good_layers(4, 4)), ex="4.1",
          match="weight_bit_width|bit_width")
    fails(lab1.ex_4_1, _qnn_class(lambda w, a: _good_layers(w, w)), ex="4.1", match="outputs, expected 3")
    short = lambda w, a: nn.Sequential(*list(_good_layers(w, a))[:3],  # noqa: E731
                                       QuantLinear(64, 10, bias=False, weight_bit_width=w))
    fails(lab1.ex_4_1, _qnn_class(short), ex="4.1", match="layers are")
    fails(lab1.ex_4_1, _qnn_class(lambda w, a: nn.Sequential(
        QuantLinear(400, 64, bias=False, weight_bit_width=w), nn.ReLU(), nn.BatchNorm1d(64),
        QuantLinear(64, 64, bias=False, weight_bit_width=w), nn.BatchNorm1d(64), QuantReLU(bit_width=a),
        QuantLinear(64, 10, bias=False, weight_bit_width=w))), ex="4.1", match="layers are")
    _named("4.1/layer-order", lab1.ex_4_1, _qnn_class(lambda w, a: nn.Sequential(
        QuantLinear(784, 64, bias=False, weight_bit_width=w), QuantReLU(bit_width=a), nn.BatchNorm1d(64),
        QuantLinear(64, 64, bias=False, weight_bit_width=w), nn.BatchNorm1d(64), QuantReLU(bit_width=a),
        QuantLinear(64, 10, bias=False, weight_bit_width=w))))

    class NoScale(_qnn_class(_good_layers)):
        def forward(self, x):
            return self.layers(x)

    fails(lab1.ex_4_1, NoScale, ex="4.1", match="INPUT_SCALE")

    class Student(nn.Module):          # the generated placeholder
        def __init__(self, weight_bits=4, act_bits=4):
            super().__init__()
            raise NotImplementedError("Exercise 4.1: build it")

    fails(lab1.ex_4_1, Student, ex="4.1", match="not done yet")


def test_ex_4_2():
    lab1.ex_4_2(lambda layer: layer.quant_weight().int().detach().numpy())
    fails(lab1.ex_4_2, lambda layer: layer.weight.detach().numpy(), ex="4.2", match="latent")
    _named("4.2/scaled-values", lab1.ex_4_2, lambda layer: layer.quant_weight().value.detach().numpy())
    _named("4.2/latent-weights", lab1.ex_4_2, lambda layer: layer.weight.detach().numpy())
    fails(lab1.ex_4_2, lambda layer: np.round(layer.weight.detach().numpy() * 100), ex="4.2",
          match="must lie")
    fails(lab1.ex_4_2, placeholder("4.2"), ex="4.2", match="not done yet")


def test_ex_4_3():
    def good(qnn):
        return sum(m.weight.numel() * int(m.quant_weight().bit_width)
                   for m in qnn.modules() if isinstance(m, QuantLinear))

    lab1.ex_4_3(good)
    fails(lab1.ex_4_3, lambda q: good(q) / 8, ex="4.3", match="bytes")
    fails(lab1.ex_4_3, lambda q: good(q) // q.cfg.weight_bits * 32, ex="4.3", match="float32")
    fails(lab1.ex_4_3, lambda q: sum(p.numel() for p in q.parameters()) * q.cfg.weight_bits, ex="4.3",
          match="BatchNorm")
    fails(lab1.ex_4_3, lambda q: 219648, ex="4.3", match="expected")
    _named("4.3/bytes", lab1.ex_4_3, lambda q: good(q) / 8)
    _named("4.3/float32-size", lab1.ex_4_3, lambda q: good(q) // q.cfg.weight_bits * 32)
    _named("4.3/batchnorm-counted", lab1.ex_4_3,
           lambda q: sum(p.numel() for p in q.parameters()) * q.cfg.weight_bits)
    fails(lab1.ex_4_3, placeholder("4.3"), ex="4.3", match="not done yet")


# --------------------------------------------------------------------------- notebook 05

@pytest.fixture(scope="module")
def qnn():
    torch.manual_seed(0)
    net = models.QuantMLP(models.MLPConfig())
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randint(0, 256, (64, 400)).float())
    return net.eval()


@pytest.fixture(scope="module")
def model(qnn, tmp_path_factory):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(export.export_qonnx(qnn, tmp_path_factory.mktemp("m") / "m.onnx")))


def test_ex_5_1(qnn):
    with export.quiet():
        from brevitas.export import export_qonnx

    def good(q, path):
        q.eval()
        with export.quiet():
            export_qonnx(q, torch.zeros(1, 400), path)
        return path

    def batch_of_8(q, path):
        q.eval()
        with export.quiet():
            export_qonnx(q, torch.zeros(8, 400), path)

    def no_eval(q, path):
        with export.quiet():
            export_qonnx(q, torch.zeros(2, 400), path)

    def plain_onnx(q, path):
        with export.quiet():
            torch.onnx.export(models.FloatMLP().eval(), torch.zeros(1, 400), path, dynamo=False)

    lab1.ex_5_1(good, qnn)
    fails(lab1.ex_5_1, batch_of_8, qnn, ex="5.1", match=r"\[1, 400\]")
    fails(lab1.ex_5_1, no_eval, qnn, ex="5.1", match="400|eval")
    fails(lab1.ex_5_1, plain_onnx, qnn, ex="5.1", match="Quant nodes")
    _named("5.1/no-quant-nodes", lab1.ex_5_1, plain_onnx, qnn)
    _named("5.1/input-shape", lab1.ex_5_1, batch_of_8, qnn)
    fails(lab1.ex_5_1, lambda q, path: None, qnn, ex="5.1", match="no file")
    fails(lab1.ex_5_1, placeholder("5.1"), qnn, ex="5.1", match="not done yet")
    assert not qnn.training


def test_ex_5_2(model):
    from qonnx.core.onnx_exec import execute_onnx

    def good(m, x):
        i, o = m.graph.input[0].name, m.graph.output[0].name
        return np.concatenate([execute_onnx(m, {i: x[k:k + 1]})[o] for k in range(len(x))])

    def first_only(m, x):
        i, o = m.graph.input[0].name, m.graph.output[0].name
        return execute_onnx(m, {i: x[:1]})[o]

    def scaled(m, x):
        return good(m, x / 255.0)

    lab1.ex_5_2(good, model)
    fails(lab1.ex_5_2, first_only, model, ex="5.2", match="shaped")
    _named("5.2/scaled-input", lab1.ex_5_2, scaled, model)
    _named("5.2/one-sample", lab1.ex_5_2, first_only, model)
    fails(lab1.ex_5_2, placeholder("5.2"), model, ex="5.2", match="not done yet")


def test_ex_5_3(model):
    def good(m):
        return [int(m.get_initializer(n.input[3])) for n in m.graph.node if n.op_type == "Quant"]

    lab1.ex_5_3(good, model)
    fails(lab1.ex_5_3, lambda m: [4, 4, 4, 4, 4], model, ex="5.3", match=r"expected \[2, 3, 2, 3, 2\]")
    fails(lab1.ex_5_3, lambda m: [float(m.get_initializer(n.input[1])) for n in m.graph.node
                                  if n.op_type == "Quant"], model, ex="5.3", match="expected")
    _named("5.3/wrong-input", lab1.ex_5_3,
           lambda m: [float(m.get_initializer(n.input[1])) for n in m.graph.node if n.op_type == "Quant"],
           model)
    fails(lab1.ex_5_3, placeholder("5.3"), model, ex="5.3", match="not done yet")


def test_ex_5_4(qnn):
    def good(q, images, labels, n=64):
        x = np.asarray(images[:n], dtype=np.uint8)[:, 4:24, 4:24].reshape(n, -1)
        with torch.no_grad():
            lg = q.eval()(torch.tensor(x, dtype=torch.float32)).numpy()
        return {"x": x, "logits": lg, "pred": lg.argmax(1).astype(np.int64),
                "labels": np.asarray(labels[:n], dtype=np.uint8)}

    def float_x(q, images, labels, n=64):
        g = good(q, images, labels, n)
        return {**g, "x": g["x"].astype(np.float32)}

    def scaled(q, images, labels, n=64):
        g = good(q, images, labels, n)
        with torch.no_grad():
            lg = q(torch.tensor(g["x"], dtype=torch.float32) / 255).numpy()
        return {**g, "logits": lg}

    def unflattened(q, images, labels, n=64):
        return {**good(q, images, labels, n), "x": np.asarray(images[:n])}

    lab1.ex_5_4(good, qnn)
    fails(lab1.ex_5_4, float_x, qnn, ex="5.4", match="dtype")
    _named("5.4/scaled-input", lab1.ex_5_4, scaled, qnn)
    _named("5.4/float-pixels", lab1.ex_5_4, float_x, qnn)
    _named("5.4/not-flat", lab1.ex_5_4, unflattened, qnn)
    fails(lab1.ex_5_4, unflattened, qnn, ex="5.4", match="shape")
    uncropped = lambda q, images, labels, n=64: {**good(q, images, labels, n),  # noqa: E731
                                                 "x": np.asarray(images[:n]).reshape(n, -1)}
    fails(lab1.ex_5_4, uncropped, qnn, ex="5.4", match="20x20 centre crop")
    _named("5.4/not-cropped", lab1.ex_5_4, uncropped, qnn)
    fails(lab1.ex_5_4, lambda q, images, labels, n=64: {"x": images[:n]}, qnn, ex="5.4", match="missing keys")
    fails(lab1.ex_5_4, placeholder("5.4"), qnn, ex="5.4", match="not done yet")


def test_every_notebook_exercise_has_a_check():
    """Each `# Exercise N.k` of the Lab 1 solutions has its ex_N_k, called in the checkpoint cell after it."""
    import nbformat

    from course_utils.authoring.notebooks import find_exercises
    from course_utils.paths import kit_root

    found = []
    for path in sorted((kit_root() / "solutions" / "lab1_qat").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for ex in find_exercises(nb, path.name):
            name = f"ex_{ex.id.replace('.', '_')}"
            assert hasattr(lab1, name), name
            nxt = nb.cells[ex.cells[-1] + 1]
            assert "checkpoint" in nxt.metadata.get("tags", []) and f"checks.lab1.{name}(" in nxt.source, path
            found.append(ex.id)
    assert len(found) == 19 and len({f.split(".")[0] for f in found}) == 5
