"""Checkpoints of Lab 1 (QAT): one ``ex_N_k`` per exercise of ``solutions/lab1_qat/0N_*.ipynb``.

Each takes the student's function or object, runs it on its own small inputs, compares with the
kit's reference (``course_utils.quant``, ``train``, ``export``) and prints a pass line, or raises
``AssertionError("Exercise N.k: ... Hint: ...")``.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import quant
from course_utils.checks._common import call, fail, not_done, passed, require


def _np(ex: str, value: Any, what: str) -> np.ndarray:
    """``value`` as a numpy array (torch tensors detached), or a failure naming ``what``."""
    if value is None or value is Ellipsis:
        fail(ex, f"{what} is missing: your function returned {value!r}.",
             "end your function with `return ...`.")
    try:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        return np.asarray(value)
    except Exception as err:  # noqa: BLE001 - report whatever came back
        fail(ex, f"{what} must be an array, got {type(value).__name__} ({err}).")


def _unpack(ex: str, out: Any, n: int, names: str) -> tuple[Any, ...]:
    """Check that a function returned an ``n``-tuple ``names``."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"a {len(out)}-tuple" if isinstance(out, (tuple, list)) else type(out).__name__
        fail(ex, f"expected your function to return a tuple {names}, got {got}.",
             f"end with `return {names}`.")
    return tuple(out)


def _same_ints(a: np.ndarray, b: np.ndarray) -> bool:
    """True if ``a`` holds exactly the integers of ``b``."""
    if a.shape != b.shape or not np.allclose(a, np.round(a)):
        return False
    return np.array_equal(np.round(a).astype(np.int64), b)


# =========================================================================== notebook 01

def ex_1_1(to_inputs: Any) -> None:
    """Exercise 1.1: ``to_inputs(images)`` -> float32 tensor ``(N, 400)``: 20x20 centre crops, raw pixels."""
    import torch

    not_done("1.1", to_inputs, "to_inputs")
    rng = np.random.default_rng(11)
    for n in (5, 1):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        imgs.flags.writeable = False  # data.load returns read-only arrays
        out = call("1.1", to_inputs, imgs)
        require("1.1", isinstance(out, torch.Tensor), f"expected a torch.Tensor, got {type(out).__name__}.",
                "convert with torch.tensor(array, dtype=torch.float32).")
        require("1.1", out.dtype == torch.float32, f"expected dtype torch.float32, got {out.dtype}.",
                "the network's weights are float32: use dtype=torch.float32 (or .float()).")
        if tuple(out.shape) == (n, 784):
            fail("1.1", f"got all 784 pixels of each image, expected the 20x20 centre crop: ({n}, 400).",
                 "keep rows and columns 4..23: images[:, 4:24, 4:24], then flatten each crop.")
        require("1.1", tuple(out.shape) == (n, 400), f"for {n} images expected shape ({n}, 400), "
                f"got {tuple(out.shape)}.",
                "crop and flatten: images[:, 4:24, 4:24].reshape(len(images), -1).")
        got = out.detach().numpy()
        if got.max() <= 1.0 + 1e-6 and imgs.max() > 1:
            fail("1.1", "the values were scaled to 0..1.",
                 "keep raw pixels 0..255: the network scales by 1/255 itself, like the FPGA.")
        require("1.1", np.array_equal(got, imgs[:, 4:24, 4:24].reshape(n, -1).astype(np.float32)),
                "the pixel values or their order differ from the images' centre crops.",
                "crop rows and columns 4..23 (images[:, 4:24, 4:24]), reshape row by row (no transpose) "
                "and do not change the values.")
    passed("1.1", "images (N, 28, 28) uint8 -> float32 tensor (N, 400): 20x20 centre crops, raw pixels.")


def ex_1_2(accuracy: Any) -> None:
    """Exercise 1.2: ``accuracy(logits, labels)`` -> fraction of correct predictions."""
    import torch

    not_done("1.2", accuracy, "accuracy")
    gen = torch.Generator().manual_seed(12)
    logits = torch.randn(200, 10, generator=gen)
    labels = torch.randint(0, 10, (200,), generator=gen)
    labels[:40] = logits[:40].argmax(1)
    cases = [(logits, labels), (logits, logits.argmax(1)), (logits[:7], (logits[:7].argmax(1) + 1) % 10)]
    for lg, lb in cases:
        expected = float((lg.argmax(1) == lb).float().mean())
        got = call("1.2", accuracy, lg, lb)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("1.2", f"expected a number, got {type(got).__name__}.", "return a float, e.g. with .item().")
        if abs(got - 100 * expected) < 1e-4 and expected > 0:
            fail("1.2", f"got {got:.4g}: that is a percentage.", "return the fraction 0..1, not percent.")
        require("1.2", abs(got - expected) < 1e-6,
                f"expected {expected:.4f} for {len(lb)} samples, got {got:.4f}.",
                "the prediction is logits.argmax(dim=1); count where it equals the label, divide by N.")
    passed("1.2", "accuracy = (logits.argmax(1) == labels).mean(), as a fraction.")


def _reference_step(net: Any, opt: Any, xb: Any, yb: Any) -> float:
    """One correct optimisation step (what Exercise 1.3 asks for)."""
    import torch

    net.train()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(xb), yb)
    loss.backward()
    opt.step()
    return loss.item()


def ex_1_3(train_step: Any) -> None:
    """Exercise 1.3: ``train_step(net, optimizer, xb, yb)`` -> loss (float) of one SGD step."""
    import torch

    from course_utils.models import FloatMLP

    not_done("1.3", train_step, "train_step")
    torch.manual_seed(13)
    net = FloatMLP(hidden=(16,))
    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(13)
    xb = torch.randint(0, 256, (32, 400), generator=gen).float()
    yb = torch.randint(0, 10, (32,), generator=gen)
    losses = []
    for step in range(8):
        before = [p.detach().clone() for p in net.parameters()]
        got = call("1.3", train_step, net, opt, xb, yb)
        expected = _reference_step(ref, ref_opt, xb, yb)
        require("1.3", isinstance(got, float),
                f"expected the loss as a Python float, got {type(got).__name__}.",
                "return loss.item() (a tensor would keep the whole graph alive).")
        require("1.3", abs(got - expected) < 1e-4 * max(1.0, abs(expected)),
                f"step {step + 1}: returned loss {got:.5f}, expected {expected:.5f}.",
                "return the cross-entropy of net(xb) against yb computed in this step "
                "(before optimizer.step()).")
        if all(torch.equal(a, b) for a, b in zip(before, net.parameters())):
            fail("1.3", "the weights did not change.", "call loss.backward() and then optimizer.step().")
        same = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(net.parameters(), ref.parameters()))
        require("1.3", same, f"after step {step + 1} the weights differ from a correct training step.",
                "call optimizer.zero_grad() in every step, before loss.backward() (gradients add up "
                "otherwise), and call optimizer.step() once per step.")
        losses.append(got)
    require("1.3", losses[-1] < losses[0], "the loss did not go down over 8 steps on one batch.")
    passed("1.3", f"8 steps on one batch: loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
           "same weights as the reference.")


def ex_1_4(most_confused: Any) -> None:
    """Exercise 1.4: ``most_confused(cm)`` -> ``(true, predicted)`` of the largest off-diagonal count."""
    not_done("1.4", most_confused, "most_confused")
    rng = np.random.default_rng(14)
    for true, pred in ((3, 5), (9, 4), (0, 7)):
        cm = rng.integers(0, 20, (10, 10))
        np.fill_diagonal(cm, 900)
        cm[true, pred] = 60
        got = call("1.4", most_confused, cm.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            fail("1.4", f"expected a pair (true, predicted), got {got!r}.", "return (int(i), int(j)).")
        got = (int(got[0]), int(got[1]))
        if got == (pred, true):
            fail("1.4", f"got {got}: the two classes are swapped.",
                 "rows are true labels, columns predictions.")
        if got[0] == got[1]:
            fail("1.4", f"got {got}: that is a correct prediction (the diagonal).",
                 "ignore the diagonal, e.g. on a copy with np.fill_diagonal(m, 0).")
        require("1.4", got == (true, pred), f"expected {(true, pred)}, got {got}.",
                "find the largest off-diagonal entry: np.unravel_index(np.argmax(m), m.shape).")
    passed("1.4", "finds the most frequent mistake (true label, predicted label).")


# =========================================================================== notebook 02

def _check_dequantize(ex: str, dequantize: Any, q: np.ndarray, scale: Any, zero_point: Any = None) -> None:
    """``dequantize(q, scale[, zero_point])`` equals ``(q - zero_point) * scale``."""
    args = (q, scale) if zero_point is None else (q, scale, zero_point)
    got = _np(ex, call(ex, dequantize, *args), "dequantize's result")
    expected = quant.dequantize(q, scale, 0 if zero_point is None else zero_point)
    require(ex, got.shape == expected.shape and np.allclose(got, expected, rtol=1e-6, atol=1e-9),
            "dequantize(q, scale" + (", zero_point" if zero_point is not None else "") + ") is wrong.",
            "x_hat = (q - zero_point) * scale.")


def ex_2_1(quantize_symmetric: Any, dequantize: Any) -> None:
    """Exercise 2.1: symmetric narrow-range quantization ``(q, scale)`` and ``dequantize``."""
    not_done("2.1", quantize_symmetric, "quantize_symmetric")
    not_done("2.1", dequantize, "dequantize")
    rng = np.random.default_rng(21)
    for bits, x in ((4, rng.normal(0, 1, 1000)), (8, rng.normal(0.3, 2, (20, 30))), (2, -rng.random(500))):
        q, scale = _unpack("2.1", call("2.1", quantize_symmetric, x, bits), 2, "(q, scale)")
        q = _np("2.1", q, "q")
        ref_q, ref_scale = quant.quantize_symmetric(x, bits)
        qmax = 2 ** (bits - 1) - 1
        require("2.1", q.shape == x.shape, f"q has shape {q.shape}, x has {x.shape}.",
                "quantize element-wise.")
        s = float(np.asarray(_np("2.1", scale, "scale")).reshape(-1)[0])
        if np.isclose(s, np.abs(x).max() / 2 ** (bits - 1)):
            fail("2.1", f"{bits} bits: scale = max|x| / 2^(bits-1) uses the wrong largest level.",
                 f"symmetric narrow range goes from -{qmax} to {qmax}: scale = max|x| / (2^(bits-1) - 1).")
        require("2.1", np.isclose(s, float(ref_scale), rtol=1e-6),
                f"{bits} bits: scale {s:.6g}, expected {float(ref_scale):.6g}.",
                "scale = max(|x|) / (2^(bits-1) - 1).")
        require("2.1", np.allclose(q, np.round(q)), "q must hold integers.", "use np.round(x / scale).")
        if q.min() < -qmax or q.max() > qmax:
            fail("2.1", f"{bits} bits: q spans {int(q.min())}..{int(q.max())}, outside -{qmax}..{qmax}.",
                 "clip with np.clip(q, -qmax, qmax) (narrow range: -qmax, not -qmax - 1).")
        require("2.1", _same_ints(q, ref_q), f"{bits} bits: some integer codes differ from the reference.",
                "q = clip(round(x / scale), -qmax, qmax) with np.round (round half to even).")
        _check_dequantize("2.1", dequantize, ref_q, ref_scale)
    passed("2.1", "symmetric quantization: scale = max|x|/(2^(b-1)-1), q in [-qmax, qmax], "
           "x_hat = q * scale.")


def ex_2_2(quantize_asymmetric: Any, dequantize: Any) -> None:
    """Exercise 2.2: asymmetric quantization ``(q, scale, zero_point)`` and ``dequantize`` with zero point."""
    not_done("2.2", quantize_asymmetric, "quantize_asymmetric")
    not_done("2.2", dequantize, "dequantize")
    rng = np.random.default_rng(22)
    cases = ((4, rng.normal(0.7, 1, 1000), "mixed signs"),
             (8, rng.exponential(1.0, 800) + 0.5, "all positive"),
             (3, rng.normal(-1.0, 0.5, (10, 40)), "mostly negative"))
    for bits, x, kind in cases:
        out = _unpack("2.2", call("2.2", quantize_asymmetric, x, bits), 3, "(q, scale, zero_point)")
        q, scale, zp = (_np("2.2", v, name) for v, name in zip(out, ("q", "scale", "zero_point")))
        ref_q, ref_scale, ref_zp = quant.quantize_asymmetric(x, bits)
        s, z = float(scale.reshape(-1)[0]), float(zp.reshape(-1)[0])
        if kind == "all positive" and np.isclose(s, (x.max() - x.min()) / (2**bits - 1)):
            fail("2.2", "for all-positive x your range starts at x.min(), so 0.0 is not representable.",
                 "use lo = min(x.min(), 0) and hi = max(x.max(), 0): zero must be exact "
                 "(ReLU outputs, padding).")
        require("2.2", np.isclose(s, float(ref_scale), rtol=1e-6),
                f"{bits} bits, {kind}: scale {s:.6g}, expected {float(ref_scale):.6g}.",
                "scale = (hi - lo) / (2^bits - 1) with lo = min(x.min(), 0), hi = max(x.max(), 0).")
        require("2.2", z == round(z), f"zero_point must be an integer, got {z}.",
                "round it: np.round(-lo / scale).")
        require("2.2", z == float(ref_zp), f"{bits} bits, {kind}: zero_point {z:g}, expected {int(ref_zp)}.",
                "zero_point = round(-lo / scale): the integer code of 0.0.")
        require("2.2", q.shape == x.shape and np.allclose(q, np.round(q)),
                "q must be integers shaped like x.")
        if q.min() < 0 or q.max() > 2**bits - 1:
            fail("2.2", f"{bits} bits: q spans {int(q.min())}..{int(q.max())}, outside 0..{2**bits - 1}.",
                 "clip to the unsigned range 0..2^bits - 1.")
        require("2.2", _same_ints(q, ref_q),
                f"{bits} bits, {kind}: some integer codes differ from the reference.",
                "q = clip(round(x / scale) + zero_point, 0, 2^bits - 1).")
        _check_dequantize("2.2", dequantize, ref_q, ref_scale, ref_zp)
    passed("2.2", "asymmetric quantization: range includes 0, integer zero point, x_hat = (q - zp) * scale.")


def ex_2_3(sqnr_db: Any) -> None:
    """Exercise 2.3: ``sqnr_db(x, x_hat)`` -> signal-to-quantization-noise ratio in dB."""
    not_done("2.3", sqnr_db, "sqnr_db")
    rng = np.random.default_rng(23)
    x = rng.normal(0, 1, 2000)
    for bits in (2, 4, 8):
        x_hat = quant.fake_quantize(x, bits)
        expected = quant.sqnr_db(x, x_hat)
        got = call("2.3", sqnr_db, x, x_hat)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("2.3", f"expected a number, got {type(got).__name__}.")
        if np.isclose(got, 2 * expected, rtol=1e-4):
            fail("2.3", f"{bits} bits: got {got:.2f} dB, twice the expected {expected:.2f} dB.",
                 "the ratio is of powers (sums of squares): use 10 * log10, not 20 * log10.")
        if np.isclose(got, 10 ** (expected / 10), rtol=1e-4):
            fail("2.3", "you returned the plain ratio, not decibels.", "dB = 10 * np.log10(ratio).")
        require("2.3", np.isclose(got, expected, rtol=1e-4),
                f"{bits} bits: got {got:.3f} dB, expected {expected:.3f} dB.",
                "SQNR = 10 log10( sum(x^2) / sum((x - x_hat)^2) ).")
    passed("2.3", "SQNR in dB: about 6 dB more per extra bit.")


def ex_2_4(quantize_per_channel: Any) -> None:
    """Exercise 2.4: per-output-channel symmetric quantization ``(q, scales (out, 1))``."""
    not_done("2.4", quantize_per_channel, "quantize_per_channel")
    rng = np.random.default_rng(24)
    w = rng.normal(0, 1, (16, 40)) * rng.uniform(0.05, 3.0, (16, 1))
    for bits in (4, 3):
        q, scales = _unpack("2.4", call("2.4", quantize_per_channel, w, bits), 2, "(q, scales)")
        q, scales = _np("2.4", q, "q"), _np("2.4", scales, "scales")
        ref_q, ref_s = quant.quantize_symmetric(w, bits, axis=0)
        if scales.size == 1:
            fail("2.4", "one scale for the whole matrix is per-tensor quantization.",
                 "compute one scale per row (output channel): np.abs(w).max(axis=1, keepdims=True).")
        if scales.size == w.shape[1]:
            fail("2.4", f"got {scales.size} scales: one per input column.",
                 "one scale per output channel = per row of w (shape (out, in)): reduce over axis=1.")
        require("2.4", scales.size == w.shape[0], f"expected {w.shape[0]} scales, got {scales.size}.")
        require("2.4", scales.shape == (w.shape[0], 1), f"scales has shape {scales.shape}, expected "
                f"({w.shape[0]}, 1) so that q * scales broadcasts row-wise.", "use keepdims=True.")
        require("2.4", np.allclose(scales, ref_s, rtol=1e-6), f"{bits} bits: some scales differ.",
                "scale of row i = max|w[i]| / (2^(bits-1) - 1).")
        require("2.4", _same_ints(q, ref_q), f"{bits} bits: some integer codes differ from the reference.",
                "q = clip(round(w / scales), -qmax, qmax).")
    passed("2.4", "per-channel quantization: one scale per output neuron, much smaller error.")


def ex_2_5(int_linear: Any) -> None:
    """Exercise 2.5: ``int_linear(q_x, q_w, scale_x, scale_w)`` -> integer matmul, then one rescale."""
    not_done("2.5", int_linear, "int_linear")
    rng = np.random.default_rng(25)
    q_x = rng.integers(0, 16, (6, 24))
    q_w = rng.integers(-7, 8, (5, 24))
    for scale_w in (0.037, rng.uniform(0.01, 0.1, (5, 1))):
        expected = quant.int_linear(q_x, q_w, 0.25, scale_w)
        got = _np("2.5", call("2.5", int_linear, q_x, q_w, 0.25, scale_w), "the output")
        if got.shape == expected.T.shape and got.shape != expected.shape:
            fail("2.5", f"output shape {got.shape} is transposed.",
                 "y = q_x @ q_w.T: (N, in) @ (in, out) -> (N, out).")
        require("2.5", got.shape == expected.shape, f"expected shape {expected.shape}, got {got.shape}.",
                "y = (q_x @ q_w.T) * scale_x * scale_w.T  (scale_w is per output channel).")
        kind = "a per-channel scale_w (5, 1)" if np.ndim(scale_w) else "a scalar scale_w"
        require("2.5", np.allclose(got, expected, rtol=1e-9, atol=1e-12), f"wrong result with {kind}.",
                "accumulate integers first (acc = q_x @ q_w.T), then multiply by scale_x and scale_w "
                "(transpose a (out, 1) scale_w to (1, out)).")
    passed("2.5", "integer dot products + one rescale per output give the float result "
           "(what the FPGA does).")


# =========================================================================== notebook 03

def _float_net(seed: int) -> Any:
    """A small FloatMLP with random weights and non-trivial BatchNorm statistics."""
    import torch

    from course_utils.models import FloatMLP

    torch.manual_seed(seed)
    net = FloatMLP(hidden=(32, 16))
    net.train()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):   # like a trained network: not all ones and zeros
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0.0, 0.1)
        for _ in range(3):
            net(torch.randint(0, 256, (64, 400)).float())
    return net.eval()


def ex_3_1(quantize_weights: Any) -> None:
    """Exercise 3.1: ``quantize_weights(net, bits)`` -> a copy with fake-quantized Linear weights."""
    import torch
    from torch import nn

    not_done("3.1", quantize_weights, "quantize_weights")
    net = _float_net(31)
    original = copy.deepcopy(net.state_dict())
    for bits in (2, 4):
        qnet = call("3.1", quantize_weights, net, bits)
        require("3.1", isinstance(qnet, nn.Module), f"expected a network, got {type(qnet).__name__}.",
                "return the quantized copy.")
        require("3.1", qnet is not net, "you returned the original network.",
                "work on a copy: qnet = copy.deepcopy(net).")
        unchanged = all(torch.equal(v, net.state_dict()[k]) for k, v in original.items())
        require("3.1", unchanged, "the original network was modified.", "quantize a copy.deepcopy(net).")
        ref = quant.quantize_weights(net, bits)
        got_sd, ref_sd = qnet.state_dict(), ref.state_dict()
        require("3.1", set(got_sd) == set(ref_sd), "the copy's parameters differ in names from the original.",
                "keep the network's structure: only change the weights' values.")
        for name, mod in ref.named_modules():
            if isinstance(mod, nn.Linear):
                w = got_sd[f"{name}.weight"].detach().numpy()
                levels = len(np.unique(w))
                require("3.1", levels <= 2**bits - 1,
                        f"{bits} bits: {name}.weight has {levels} distinct values, at most "
                        f"{2**bits - 1} possible.", "replace the weights by their fake-quantized values.")
                require("3.1", np.allclose(w, mod.weight.detach().numpy(), atol=1e-6),
                        f"{bits} bits: {name}.weight differs from per-tensor symmetric fake quantization.",
                        "w_hat = dequantize(*quantize_symmetric(w, bits)) with one scale per layer.")
        linear = {f"{name}.weight" for name, mod in ref.named_modules() if isinstance(mod, nn.Linear)}
        for k in sorted(set(ref_sd) - linear):
            if k in got_sd and not torch.equal(got_sd[k].float(), ref_sd[k].float()):
                fail("3.1", f"{k} changed.", "quantize only the nn.Linear weights; leave BatchNorm alone.")
    passed("3.1", "Linear weights fake-quantized per tensor; original untouched, BatchNorm unchanged.")


def ex_3_2(calibrate_scale: Any) -> None:
    """Exercise 3.2: ``calibrate_scale(acts, bits, percentile)`` -> unsigned activation scale."""
    not_done("3.2", calibrate_scale, "calibrate_scale")
    rng = np.random.default_rng(32)
    acts = np.maximum(rng.normal(0.5, 1.5, 20000), 0.0)
    for bits, pct in ((4, 100.0), (8, 99.9), (2, 99.0)):
        expected = float(np.percentile(acts, pct)) / (2**bits - 1)
        got = call("3.2", calibrate_scale, acts, bits, pct)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("3.2", f"expected a number, got {type(got).__name__}.")
        if np.isclose(got, float(np.percentile(acts, pct)) / 2**bits, rtol=1e-6):
            fail("3.2", "the largest unsigned code is 2^bits - 1, not 2^bits.", "scale = hi / (2^bits - 1).")
        if np.isclose(got, acts.max() / (2**bits - 1), rtol=1e-6) and pct < 100:
            fail("3.2", f"percentile={pct} ignored: you used the maximum.",
                 "hi = np.percentile(acts, percentile) clips rare outliers.")
        require("3.2", np.isclose(got, expected, rtol=1e-6),
                f"bits={bits}, percentile={pct}: got {got:.6g}, expected {expected:.6g}.",
                "scale = np.percentile(acts, percentile) / (2^bits - 1) (ReLU outputs are unsigned).")
    passed("3.2", "activation scale = percentile of the observed ReLU outputs / (2^bits - 1).")


def ex_3_3(smallest_bits: Any) -> None:
    """Exercise 3.3: ``smallest_bits(results, float_acc, max_drop)`` -> fewest bits within the budget."""
    not_done("3.3", smallest_bits, "smallest_bits")
    ptq = {8: 0.978, 6: 0.978, 5: 0.977, 4: 0.973, 3: 0.93, 2: 0.10}
    cases = [((ptq, 0.978, 0.01), 4), ((ptq, 0.978, 0.0005), 6), ((ptq, 0.978, 0.9), 2),
             (({2: 0.5, 3: 0.97, 4: 0.96, 8: 0.98}, 0.98, 0.015), 3), (({4: 0.5, 8: 0.6}, 0.98, 0.01), None)]
    for (results, float_acc, max_drop), expected in cases:
        got = call("3.3", smallest_bits, dict(results), float_acc, max_drop)
        got = None if got is None else int(got)
        require("3.3", got == expected,
                f"for {results}, float {float_acc}, max_drop {max_drop}: expected {expected}, got {got}.",
                "keep the bit widths whose accuracy >= float_acc - max_drop, return the smallest "
                "(None if there is none); do not assume the dict is sorted.")
    passed("3.3", "picks the smallest bit width within the accuracy budget (None if none).")


# =========================================================================== notebook 04

def _bit_width(module: Any) -> int | None:
    """The weight or activation bit width of a Brevitas layer."""
    if hasattr(module, "quant_weight"):
        return int(module.quant_weight().bit_width)
    if hasattr(module, "act_quant"):
        return int(module.act_quant.bit_width())
    return None


def ex_4_1(MyQNN: Any) -> None:  # noqa: N803 - the student's class
    """Exercise 4.1: ``MyQNN(weight_bits, act_bits)``: QuantLinear/BatchNorm1d/QuantReLU like QuantMLP."""
    import torch
    from brevitas.nn import QuantLinear, QuantReLU
    from torch import nn

    from course_utils.models import MLPConfig, QuantMLP

    not_done("4.1", MyQNN, "MyQNN")
    expected = [QuantLinear, nn.BatchNorm1d, QuantReLU, QuantLinear, nn.BatchNorm1d, QuantReLU, QuantLinear]
    n_in = MLPConfig().in_features  # 400: the 20x20 centre crop
    shapes = [(n_in, 64), None, None, (64, 64), None, None, (64, 10)]
    for wb, ab in ((4, 4), (2, 3)):
        net = call("4.1", MyQNN, wb, ab)
        layers = getattr(net, "layers", None)
        require("4.1", isinstance(layers, nn.Sequential), "the network has no nn.Sequential `self.layers`.",
                "assign self.layers = nn.Sequential(...) in __init__.")
        got_types = [type(m).__name__ for m in layers]
        same = len(layers) == len(expected) and all(isinstance(m, t) for m, t in zip(layers, expected))
        require("4.1", same,
                f"layers are {got_types}.", "expected " + ", ".join(t.__name__ for t in expected) + ".")
        for i, (mod, shape) in enumerate(zip(layers, shapes)):
            if shape is not None:
                require("4.1", (mod.in_features, mod.out_features) == shape,
                        f"layers[{i}] maps {mod.in_features} -> {mod.out_features}, "
                        f"expected {shape[0]} -> {shape[1]}.")
                require("4.1", mod.bias is None, f"layers[{i}] has a bias.",
                        "use bias=False: the BatchNorm that follows has its own shift "
                        "(FINN folds it into thresholds).")
            bw = _bit_width(mod)
            want = wb if isinstance(mod, QuantLinear) else ab if isinstance(mod, QuantReLU) else None
            if want is not None:
                what = "weight_bit_width" if isinstance(mod, QuantLinear) else "bit_width"
                kind = "weights" if what == "weight_bit_width" else "outputs"
                require("4.1", bw == want, f"MyQNN({wb}, {ab}): layers[{i}] ({type(mod).__name__}) has "
                        f"{bw}-bit {kind}, expected {want}.",
                        f"pass {what}=... from the constructor's arguments.")
        torch.manual_seed(41)
        ref = QuantMLP(MLPConfig(weight_bits=wb, act_bits=ab))
        ref.train()
        with torch.no_grad():  # initialise BatchNorm statistics and the activation scales
            for _ in range(3):
                ref(torch.randint(0, 256, (64, n_in)).float())
        try:
            net.load_state_dict(ref.state_dict())
        except RuntimeError as err:
            fail("4.1", f"its parameters do not match QuantMLP's: {str(err)[:300]}",
                 "use exactly the layers above, in that order, inside self.layers.")
        x = torch.randint(0, 256, (16, n_in), generator=torch.Generator().manual_seed(41)).float()
        net.eval()
        ref.eval()
        with torch.no_grad():
            y = call("4.1", net, x)
            y_ref = ref(x)
        y = torch.as_tensor(getattr(y, "value", y))
        require("4.1", tuple(y.shape) == (16, 10), f"output shape {tuple(y.shape)}, expected (16, 10).")
        require("4.1", torch.allclose(y, y_ref, atol=1e-5),
                "with QuantMLP's weights it computes other outputs.",
                "keep the given forward (x * INPUT_SCALE) and the default quantizers.")
    passed("4.1", "QuantLinear(bias=False) -> BatchNorm1d -> QuantReLU x2 -> QuantLinear, "
           "bit widths from the arguments.")


def ex_4_2(integer_weights: Any) -> None:
    """Exercise 4.2: ``integer_weights(layer)`` -> the integer codes of a QuantLinear's weights."""
    import torch
    from brevitas.nn import QuantLinear

    not_done("4.2", integer_weights, "integer_weights")
    torch.manual_seed(42)
    for bits in (4, 3):
        layer = QuantLinear(20, 8, bias=False, weight_bit_width=bits).eval()
        qw = layer.quant_weight()
        ref = qw.int().detach().numpy().astype(np.int64)
        got = _np("4.2", call("4.2", integer_weights, layer), "the integer weights")
        if got.shape == ref.shape and np.allclose(got, layer.weight.detach().numpy()):
            fail("4.2", "these are the float (latent) weights Brevitas trains.",
                 "quantize them: layer.quant_weight() returns a QuantTensor; .int() gives the codes.")
        require("4.2", got.shape == ref.shape, f"shape {got.shape}, expected {ref.shape}.")
        require("4.2", np.allclose(got, np.round(got)), "the values are not integers.",
                "use layer.quant_weight().int(), not .value.")
        qmax = 2 ** (bits - 1) - 1
        require("4.2", got.min() >= -qmax and got.max() <= qmax,
                f"{bits}-bit codes must lie in -{qmax}..{qmax}, got {got.min():g}..{got.max():g}.")
        require("4.2", _same_ints(got, ref), f"{bits} bits: codes differ from layer.quant_weight().int().")
    passed("4.2", "integer weight codes = quant_weight().int(); value = int * scale.")


def ex_4_3(weight_memory_bits: Any) -> None:
    """Exercise 4.3: ``weight_memory_bits(qnn)`` -> bits needed to store all QuantLinear weights."""
    from course_utils.models import MLPConfig, QuantMLP

    not_done("4.3", weight_memory_bits, "weight_memory_bits")
    for cfg in (MLPConfig(4, 4), MLPConfig(2, 2), MLPConfig(3, 4, hidden=(32,)), MLPConfig(1, 1)):
        qnn = QuantMLP(cfg)
        dims = [cfg.in_features, *cfg.hidden, cfg.num_classes]
        n_weights = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
        expected = n_weights * cfg.weight_bits
        got = call("4.3", weight_memory_bits, qnn)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("4.3", f"expected a number, got {type(got).__name__}.")
        if np.isclose(got, expected / 8):
            fail("4.3", f"{cfg.tag}: got {got:g}, that is bytes.", "return bits (do not divide by 8).")
        if np.isclose(got, n_weights * 32):
            fail("4.3", f"{cfg.tag}: got {got:g} = float32 size.",
                 "multiply by each layer's weight bit width.")
        require("4.3", np.isclose(got, expected), f"{cfg.tag} hidden {cfg.hidden}: expected {expected} bits, "
                f"got {got:g}.", "sum over QuantLinear layers of weight.numel() * quant_weight().bit_width "
                "(BatchNorm parameters are not weights in this count).")
    passed("4.3", "weight memory = sum of numel x bit width: W4A4 needs 1/8 of float32.")


# =========================================================================== notebook 05

def _random_pixels(n: int, seed: int) -> np.ndarray:
    """``n`` random raw-pixel rows (float32 (n, 400): 20x20 crops, values 0..255)."""
    return np.random.default_rng(seed).integers(0, 256, (n, 400)).astype(np.float32)


def ex_5_1(export_to_qonnx: Any, qnn: Any) -> None:
    """Exercise 5.1: ``export_to_qonnx(qnn, path)`` writes a QONNX model equal to the Brevitas network."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import export

    not_done("5.1", export_to_qonnx, "export_to_qonnx")
    not_done("5.1", qnn, "qnn")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "check_qonnx.onnx"
        qnn.train()  # a correct answer switches to eval mode itself
        try:
            call("5.1", export_to_qonnx, qnn, str(path))
        finally:
            qnn.eval()
        require("5.1", path.is_file(), "no file was written at the given path.",
                "call export_qonnx(qnn, torch.zeros(1, 400), path).")
        model = ModelWrapper(str(path))
        ops = [n.op_type for n in model.graph.node]
        shape = model.get_tensor_shape(model.graph.input[0].name)
        require("5.1", list(shape) == [1, 400], f"the model's input shape is {shape}, expected [1, 400].",
                "export with one sample of raw pixels, the 20x20 crop: torch.zeros(1, 400).")
        require("5.1", "Quant" in ops, f"no QONNX Quant nodes in the graph ({sorted(set(ops))}).",
                "use brevitas.export.export_qonnx (not torch.onnx.export).")
        try:
            diff = export.verify_qonnx(qnn, model, _random_pixels(8, 51))
        except export.ExportMismatch as err:
            fail("5.1", str(err),
                 "call qnn.eval() before exporting (BatchNorm must use its running statistics).")
    passed("5.1", f"QONNX export with input [1, 400] and Quant nodes; equals Brevitas "
           f"(max |diff| {diff:.1e}).")


def ex_5_2(run_qonnx: Any, model: Any) -> None:
    """Exercise 5.2: ``run_qonnx(model, x)`` executes the QONNX model sample by sample with execute_onnx."""
    from course_utils import export

    not_done("5.2", run_qonnx, "run_qonnx")
    x = _random_pixels(6, 52)
    expected = export.run_qonnx(model, x)
    got = _np("5.2", call("5.2", run_qonnx, model, x), "the outputs")
    require("5.2", got.shape == expected.shape, f"expected outputs shaped {expected.shape}, got {got.shape}.",
            "run one sample at a time ({input_name: x[i:i+1]}) and stack the outputs: np.concatenate.")
    require("5.2", np.allclose(got, expected, atol=1e-5), "the outputs differ from executing the model.",
            "out = execute_onnx(model, {model.graph.input[0].name: x[i:i+1]})[model.graph.output[0].name].")
    passed("5.2", "execute_onnx on each sample reproduces the exported network's logits.")


def _reference_bit_widths(model: Any) -> list[int]:
    """Bit widths of the model's Quant nodes, in graph order."""
    return [int(model.get_initializer(n.input[3])) for n in model.graph.node if n.op_type == "Quant"]


def ex_5_3(quant_bit_widths: Any, model: Any) -> None:
    """Exercise 5.3: ``quant_bit_widths(model)`` -> bit width of every Quant node, in graph order."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import export
    from course_utils.models import build_qnn

    not_done("5.3", quant_bit_widths, "quant_bit_widths")
    with tempfile.TemporaryDirectory() as tmp:
        other = ModelWrapper(str(export.export_qonnx(build_qnn(2, 3).eval(), Path(tmp) / "w2a3.onnx")))
        for mw in (model, other):
            expected = _reference_bit_widths(mw)
            got = call("5.3", quant_bit_widths, mw)
            try:
                got = [int(b) for b in got]
            except (TypeError, ValueError):
                fail("5.3", f"expected a list of integers, got {got!r}.")
            require("5.3", got == expected, f"expected {expected}, got {got}.",
                    "for each node with op_type 'Quant', its 4th input (n.input[3]) names the bit-width "
                    "initializer: int(model.get_initializer(n.input[3])).")
    passed("5.3", "reads the bit width of every Quant node from its initializer (weights and activations).")


def ex_5_4(make_golden: Any, qnn: Any) -> None:
    """Exercise 5.4: ``make_golden(qnn, images, labels, n)`` -> the golden batch dict of the hand-off."""
    from course_utils import export

    not_done("5.4", make_golden, "make_golden")
    rng = np.random.default_rng(54)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 40).astype(np.uint8)
    images.flags.writeable = False
    expected = export.golden_batch(qnn, images, labels, n=16)
    got = call("5.4", make_golden, qnn, images, labels, 16)
    require("5.4", isinstance(got, dict), f"expected a dict, got {type(got).__name__}.")
    missing = sorted(set(expected) - set(got))
    require("5.4", not missing, f"missing keys {missing}.", "the keys are 'x', 'logits', 'pred', 'labels'.")
    for key, ref in expected.items():
        val = _np("5.4", got[key], f"golden['{key}']")
        require("5.4", val.dtype == ref.dtype,
                f"golden['{key}'] has dtype {val.dtype}, expected {ref.dtype}.",
                "x and labels uint8 (as the board sends them), logits float32, pred int64.")
        require("5.4", val.shape == ref.shape,
                f"golden['{key}'] has shape {val.shape}, expected {ref.shape}.",
                "x is the 20x20 centre crop flattened to (n, 400) (torchdata.crop); "
                "take the first n samples.")
        close = np.allclose(val, ref, atol=1e-5) if key == "logits" else np.array_equal(val, ref)
        require("5.4", close, f"golden['{key}'] has other values than expected.",
                "logits = qnn(x as float32) in eval mode without gradients; pred = logits.argmax(1).")
    passed("5.4", "golden batch: uint8 pixels, float32 logits, int64 predictions, uint8 labels.")
