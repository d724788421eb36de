"""Checkpoints of Lab 1 (QAT): one ``ex_N_k`` per exercise of ``solutions/lab1_qat/0N_*.ipynb``.

Each takes the student's function or object, runs it on its own small inputs, compares with
precomputed expectations (notebook 02, ``_expected``) or with the kit's tools (``quant.fake_quantize``,
``export``, Brevitas) and prints a pass line, or raises a
``CheckFailure`` ("Exercise N.k: ... Hint: ...") that names the mistake when it is a common one
(``MISTAKES``, the catalogue) and shows a counterexample (input, expected, got).
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import quant
from course_utils.checks._common import (
    Catalogue,
    CheckFailure,
    Example,
    call,
    fail,
    not_done,
    passed,
    require,
    short,
)

MISTAKES = Catalogue("lab1")
_add = MISTAKES.add
_add("1.1", "scaled", "the pixels were scaled to 0..1",
     "keep raw pixels 0..255: the network scales by 1/255 itself, like the FPGA.")
_add("1.1", "not-tensor", "the result is not a torch.Tensor",
     "convert with torch.tensor(array, dtype=torch.float32).")
_add("1.1", "dtype", "wrong dtype",
     "the network's weights are float32: use dtype=torch.float32 (or .float()).")
_add("1.1", "not-cropped", "all 784 pixels: the blank border was not cropped",
     "keep the 20x20 centre, rows and columns 4..23: images[:, 4:24, 4:24], then flatten each crop.")
_add("1.1", "not-flat", "the crops are not flattened",
     "flatten each 20x20 crop: images[:, 4:24, 4:24].reshape(len(images), -1).")
_add("1.1", "transposed", "the pixels of each image are transposed (column by column)",
     "reshape row by row: images.reshape(len(images), -1), no .T or transpose.")
_add("1.2", "percent", "that is a percentage", "return the fraction 0..1, not percent.")
_add("1.2", "count", "that is the number of correct predictions", "divide by the number of samples.")
_add("1.2", "tensor", "a tensor, not a Python float", "end with `.item()` (or float(...)).")
_add("1.2", "argmax-dim", "the prediction takes argmax over the wrong axis",
     "logits are (N, 10): the predicted class of each sample is logits.argmax(dim=1).")
_add("1.3", "no-zero-grad", "the gradients add up from one step to the next",
     "call optimizer.zero_grad() in every step, before loss.backward().")
_add("1.3", "no-step", "the weights did not change", "call loss.backward() and then optimizer.step().")
_add("1.3", "tensor", "the loss is returned as a tensor",
     "return loss.item() (a tensor would keep the whole graph alive).")
_add("1.4", "swapped", "the two classes are swapped", "rows are true labels, columns predictions.")
_add("1.4", "diagonal", "that is a correct prediction (the diagonal)",
     "ignore the diagonal, e.g. on a copy with np.fill_diagonal(m, 0).")
_add("2.1", "qmax-pow2", "scale = max|x| / 2^(bits-1) uses the wrong largest level",
     "symmetric narrow range goes from -qmax to qmax with qmax = 2^(bits-1) - 1: scale = max|x| / qmax.")
_add("2.1", "truncation", "truncation instead of rounding",
     "int(), .astype(int) and np.trunc cut towards zero: use np.round(x / scale) first.")
_add("2.1", "half-up", "round half up instead of round half to even",
     "np.round (and torch.round, Brevitas) sends 2.5 to 2 and 3.5 to 4; np.floor(v + 0.5) does not.")
_add("2.1", "deq-no-zero-point", "dequantize ignores its zero_point",
     "x_hat = (q - zero_point) * scale; Exercise 2.2 calls it with a non-zero zero point.")
_add("2.1", "deq-zero-point-sign", "dequantize adds the zero point",
     "x_hat = (q - zero_point) * scale: subtract it.")
_add("2.1", "deq-divides", "dequantize divides by the scale", "x_hat = (q - zero_point) * scale: multiply.")
_add("2.2", "range-from-min", "for all-positive x your range starts at x.min(), so 0.0 is not representable",
     "use lo = min(x.min(), 0) and hi = max(x.max(), 0): zero must be exact (ReLU outputs, padding).")
_add("2.2", "missing-zero-point", "missing zero point",
     "q = clip(round(x / scale) + zero_point, 0, 2^bits - 1): the zero point shifts every code.")
_add("2.2", "zero-point-subtracted", "the zero point is subtracted",
     "quantize adds it (q = round(x / scale) + zero_point); dequantize subtracts it.")
_add("2.2", "zero-point-sign", "the zero point has the wrong sign",
     "zero_point = round(-lo / scale) with lo <= 0, so it is >= 0: the code that stands for 0.0.")
_add("2.2", "zero-point-float", "the zero point is not an integer",
     "round it: zero_point = int(np.round(-lo / scale)).")
_add("2.2", "truncation", "truncation instead of rounding",
     "int(), .astype(int) and np.trunc cut towards zero: round first, np.round(x / scale), then add "
     "the zero point.")
_add("2.2", "clip-signed", "wrong clip range: the signed range",
     "asymmetric codes are unsigned: clip to 0..2^bits - 1.")
_add("2.2", "half-up", "round half up instead of round half to even",
     "np.round sends 0.5 to 0 and 2.5 to 2 (ties to even, as Brevitas does); np.floor(v + 0.5) does not.")
_add("2.2", "levels-pow2", "scale = (hi - lo) / 2^bits uses one level too many",
     "2^bits codes have 2^bits - 1 steps between them: scale = (hi - lo) / (2^bits - 1).")
_add("2.3", "20log10", "20 * log10 of a ratio of powers",
     "the ratio is of powers (sums of squares): use 10 * log10, not 20 * log10.")
_add("2.3", "plain-ratio", "the plain ratio, not decibels", "dB = 10 * np.log10(ratio).")
_add("2.3", "inverted", "the ratio is upside down (noise over signal)",
     "SQNR = signal power / noise power: sum(x^2) / sum((x - x_hat)^2).")
_add("2.3", "natural-log", "natural logarithm instead of log10", "decibels use np.log10, not np.log.")
_add("2.4", "per-tensor", "one scale for the whole matrix is per-tensor quantization",
     "compute one scale per row (output channel): np.abs(w).max(axis=1, keepdims=True).")
_add("2.4", "per-column", "one scale per input column: the axes are swapped",
     "one scale per output channel = per row of w (shape (out, in)): reduce over axis=1.")
_add("2.4", "no-keepdims", "the scales are a flat vector",
     "use keepdims=True so scales has shape (out, 1) and w / scales divides row by row.")
_add("2.5", "transposed", "the output is transposed", "y = q_x @ q_w.T: (N, in) @ (in, out) -> (N, out).")
_add("2.5", "scale-w-column", "a per-channel scale_w (out, 1) was not turned into a row",
     "scale_w has one value per output = per column of y (N, out): use scale_w.reshape(1, -1) (or .T).")
_add("2.5", "missing-scale", "one of the two scales is missing",
     "y = (q_x @ q_w.T) * scale_x * scale_w: both scales multiply the integer result.")
_add("3.1", "in-place", "the original network was modified", "work on a copy: qnet = copy.deepcopy(net).")
_add("3.1", "batchnorm", "BatchNorm parameters were quantized too",
     "quantize only the nn.Linear weights; leave BatchNorm alone.")
_add("3.1", "per-channel", "one scale per output neuron: that is per-channel, not per-tensor",
     "this exercise quantizes each layer with one scale: quant.fake_quantize(w, bits) without axis.")
_add("3.2", "levels-pow2", "the largest unsigned code is 2^bits - 1, not 2^bits",
     "scale = hi / (2^bits - 1).")
_add("3.2", "max-not-percentile", "the percentile is ignored: you used the maximum",
     "hi = np.percentile(acts, percentile) clips rare outliers.")
_add("3.2", "signed-levels", "the signed largest level 2^(bits-1) - 1 for unsigned ReLU outputs",
     "ReLU outputs are never negative: use all unsigned codes, scale = hi / (2^bits - 1).")
_add("3.3", "largest", "the largest bit width within the budget, not the smallest",
     "keep every bit width with accuracy >= float_acc - max_drop and return min(...) of them.")
_add("3.3", "strict", "a bit width exactly at the budget is refused",
     "the budget is inclusive: accuracy >= float_acc - max_drop.")
_add("3.3", "dict-order", "the answer depends on the dict's order",
     "do not assume the dict is sorted: filter, then take min(...) of the keys.")
_add("4.1", "bias", "a QuantLinear has a bias",
     "use bias=False: the BatchNorm that follows has its own shift (FINN folds it into thresholds).")
_add("4.1", "fixed-bits", "the bit widths do not come from the constructor's arguments",
     "pass weight_bit_width=weight_bits to every QuantLinear and bit_width=act_bits to every QuantReLU.")
_add("4.1", "layer-order", "the layers are not QuantLinear -> BatchNorm1d -> QuantReLU (x2) -> QuantLinear",
     "BatchNorm comes between the linear layer and its activation, and the activation is a QuantReLU.")
_add("4.2", "latent-weights", "these are the float (latent) weights Brevitas trains",
     "quantize them: layer.quant_weight() returns a QuantTensor; .int() gives the codes.")
_add("4.2", "scaled-values", "these are the quantized values (codes x scale), not the codes",
     "use layer.quant_weight().int(), not .value.")
_add("4.3", "bytes", "that is bytes", "return bits (do not divide by 8).")
_add("4.3", "float32-size", "that is the float32 size", "multiply by each layer's weight bit width, not 32.")
_add("4.3", "batchnorm-counted", "BatchNorm parameters were counted as weights",
     "sum over QuantLinear layers only: weight.numel() * quant_weight().bit_width.")
_add("5.1", "input-shape", "the model's input is not one sample [1, 400]",
     "export with one sample of raw pixels, the 20x20 crop: torch.zeros(1, 400).")
_add("5.1", "no-quant-nodes", "no QONNX Quant nodes: a plain ONNX export",
     "use brevitas.export.export_qonnx (not torch.onnx.export).")
_add("5.2", "one-sample", "only one sample was executed",
     "loop over the samples ({input_name: x[i:i+1]}) and stack the outputs with np.concatenate.")
_add("5.2", "scaled-input", "the pixels were scaled to 0..1",
     "the QONNX model takes raw pixels 0..255 (it scales by 1/255 itself).")
_add("5.3", "wrong-input", "not the bit width input of the Quant nodes",
     "a Quant node's inputs are (x, scale, zero_point, bit_width): int(model.get_initializer(n.input[3])).")
_add("5.4", "float-pixels", "golden['x'] is not uint8",
     "x stays uint8 (as the board sends it): do not convert.")
_add("5.4", "scaled-input", "the logits were computed on pixels scaled to 0..1",
     "the network takes raw pixels 0..255: qnn(torch.tensor(x, dtype=torch.float32)).")
_add("5.4", "not-flat", "golden['x'] is not flattened",
     "crop the n images and flatten them to (n, 400): torchdata.crop(images).")
_add("5.4", "not-cropped", "golden['x'] holds whole 28x28 images",
     "the board sends the 20x20 centre crops: torchdata.crop(images), shape (n, 400).")
_add("3.3", "monotonic", "it assumes accuracy grows with the bit width",
     "here 3 bits beat 4 bits: test every bit width against the budget, do not stop at the first failure.")
_add("3.3", "no-none", "no answer when no bit width meets the budget", "return None in that case.")


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
    a = np.asarray(a)
    if a.shape != np.shape(b) or not np.allclose(a, np.round(a)):
        return False
    return np.array_equal(np.round(a).astype(np.int64), b)


def _which(got: np.ndarray, variants: dict[str, Any]) -> str | None:
    """The key of the first variant (a mistake's result) that ``got`` equals, else None."""
    for key, value in variants.items():
        value = np.asarray(value)
        if got.shape == value.shape and np.allclose(got, value, rtol=1e-6, atol=1e-9):
            return key
    return None


def _diff_example(inputs: dict[str, Any], got: Any, want: Any, name: str, extra: str = "") -> Example:
    """The first element where ``got`` differs from ``want``, with the inputs at that index."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return Example(", ".join(f"{k} {short(v)}" for k, v in inputs.items()) + extra,
                       f"{name} of shape {want.shape}", f"{name} of shape {got.shape}")
    bad = np.argwhere(~np.isclose(got, want, rtol=1e-6, atol=1e-9))
    idx = tuple(int(i) for i in bad[0]) if len(bad) else tuple(0 for _ in want.shape)
    where = "[" + ", ".join(map(str, idx)) + "]" if idx else ""

    def at(v: Any) -> str:
        v = np.asarray(v)
        return short(v[idx] if v.shape == want.shape else v)

    shown = ", ".join(f"{k}{where if np.shape(v) == want.shape else ''} = {at(v)}" for k, v in inputs.items())
    return Example(shown + extra, f"{name}{where} = {at(want)}", f"{name}{where} = {at(got)}")


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
        if not isinstance(out, torch.Tensor):
            MISTAKES.fail("1.1", "not-tensor", f"got {type(out).__name__}.")
        if out.dtype != torch.float32:
            MISTAKES.fail("1.1", "dtype", f"expected torch.float32, got {out.dtype}.")
        if tuple(out.shape) == (n, 784):
            MISTAKES.fail("1.1", "not-cropped",
                          f"got shape ({n}, 784), expected the 20x20 centre crops: ({n}, 400).")
        if tuple(out.shape) != (n, 400):
            MISTAKES.fail("1.1", "not-flat",
                          f"for {n} images expected shape ({n}, 400), got {tuple(out.shape)}.")
        got = out.detach().numpy()
        crops = imgs[:, 4:24, 4:24]
        want = crops.reshape(n, -1).astype(np.float32)
        if got.max() <= 1.0 + 1e-6 and imgs.max() > 1:
            MISTAKES.fail("1.1", "scaled", example=Example("crop[0, 0, :3] = " + short(crops[0, 0, :3]),
                                                           f"{short(want[0, :3])}", f"{short(got[0, :3])}"))
        example = Example(f"crop[0, 0, :4] = {short(crops[0, 0, :4])} (first row of the first crop)",
                          f"out[0, :4] = {short(want[0, :4])}", f"out[0, :4] = {short(got[0, :4])}")
        if np.array_equal(got, crops.transpose(0, 2, 1).reshape(n, -1).astype(np.float32)):
            MISTAKES.fail("1.1", "transposed", example=example)
        require("1.1", np.array_equal(got, want), "the pixel values or their order differ from the images' "
                "centre crops.", "crop rows and columns 4..23 (images[:, 4:24, 4:24]), reshape row by row "
                "(no transpose) and do not change the values.", example=example)
    passed("1.1", "images (N, 28, 28) uint8 -> float32 tensor (N, 400): 20x20 centre crops, raw pixels.")


def ex_1_2(accuracy: Any) -> None:
    """Exercise 1.2: ``accuracy(logits, labels)`` -> fraction of correct predictions, a Python float."""
    import torch

    not_done("1.2", accuracy, "accuracy")
    gen = torch.Generator().manual_seed(12)
    logits = torch.randn(200, 10, generator=gen)
    labels = torch.randint(0, 10, (200,), generator=gen)
    labels[:40] = logits[:40].argmax(1)
    cases = [(logits, labels), (logits, logits.argmax(1)), (logits[:7], (logits[:7].argmax(1) + 1) % 10)]
    for lg, lb in cases:
        expected = float((lg.argmax(1) == lb).float().mean())
        got = call("1.2", accuracy, lg, lb, hints=_argmax_dim_crash)
        if isinstance(got, torch.Tensor):
            MISTAKES.fail("1.2", "tensor", f"got {short(got)}.")
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("1.2", f"expected a number, got {type(got).__name__}.", "return a float, e.g. with .item().")
        example = Example(f"{len(lb)} samples, {int(round(expected * len(lb)))} predicted right",
                          f"{expected:.4f}", f"{got:.4g}")
        if abs(got - 100 * expected) < 1e-4 and expected > 0:
            MISTAKES.fail("1.2", "percent", example=example)
        if abs(got - expected * len(lb)) < 1e-4 and len(lb) > 1 and expected > 0:
            MISTAKES.fail("1.2", "count", example=example)
        require("1.2", abs(got - expected) < 1e-6, "the accuracy is wrong.",
                "the prediction is logits.argmax(dim=1); count where it equals the label, divide by N.",
                example=example)
    passed("1.2", "accuracy = (logits.argmax(1) == labels).mean(), as a fraction.")


def _argmax_dim_crash(err: Exception) -> tuple[str, str, str] | None:
    """A shape error from comparing argmax(0) (10 values) with N labels."""
    if "size of tensor" in str(err) or "must match" in str(err):
        return MISTAKES.crash("1.2", "argmax-dim", err)
    return None


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
        if isinstance(got, torch.Tensor):
            MISTAKES.fail("1.3", "tensor", f"got {type(got).__name__}, expected a Python float.")
        require("1.3", isinstance(got, float),
                f"expected the loss as a Python float, got {type(got).__name__}.",
                "return loss.item() (a tensor would keep the whole graph alive).")
        example = Example(f"step {step + 1} on one batch of 32", f"loss {expected:.5f}", f"loss {got:.5f}")
        require("1.3", abs(got - expected) < 1e-4 * max(1.0, abs(expected)), "the returned loss is wrong.",
                "return the cross-entropy of net(xb) against yb computed in this step "
                "(before optimizer.step()).", example=example)
        if all(torch.equal(a, b) for a, b in zip(before, net.parameters())):
            MISTAKES.fail("1.3", "no-step", f"after step {step + 1}.")
        same = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(net.parameters(), ref.parameters()))
        if not same:
            MISTAKES.fail("1.3", "no-zero-grad", f"after step {step + 1} the weights differ from a correct "
                          "training step.")
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
        example = Example(f"cm[{true}, {pred}] = 60 (largest off the diagonal), cm[i, i] = 900",
                          str((true, pred)), str(got))
        if got == (pred, true):
            MISTAKES.fail("1.4", "swapped", example=example)
        if got[0] == got[1]:
            MISTAKES.fail("1.4", "diagonal", example=example)
        require("1.4", got == (true, pred), "not the largest off-diagonal entry.",
                "find the largest off-diagonal entry: np.unravel_index(np.argmax(m), m.shape).",
                example=example)
    passed("1.4", "finds the most frequent mistake (true label, predicted label).")


# =========================================================================== notebook 02

CELL_2_1 = "Exercise 2.1"   # the cell that defines dequantize (used again in 2.2)


def _e() -> dict[str, np.ndarray]:
    """The precomputed expectations of notebook 02 (no reference implementation ships with the kit)."""
    from course_utils.checks import _expected

    return _expected.load()


def _check_dequantize(ex: str, dequantize: Any, q: np.ndarray, scale: Any, zero_point: Any,
                      expected: np.ndarray) -> None:
    """``dequantize(q, scale, zero_point)`` equals ``expected``; a failure in 2.2 names the 2.1 cell."""
    cell = None if ex == "2.1" else CELL_2_1
    got = _np(ex, call(ex, dequantize, q, scale, zero_point, cell=cell), "dequantize's result")
    if got.shape == expected.shape and np.allclose(got, expected, rtol=1e-6, atol=1e-9):
        return
    q64, s, z = np.asarray(q, dtype=np.float64), np.asarray(scale, dtype=np.float64), zero_point
    key = _which(got, {"deq-no-zero-point": q64 * s, "deq-zero-point-sign": (q64 + z) * s,
                       "deq-divides": (q64 - z) / s})
    shown = {"q": q, "scale": float(np.reshape(s, -1)[0]), "zero_point": int(z)}
    example = _diff_example(shown, got, expected, "x_hat")
    if key:
        MISTAKES.fail("2.1", key, example=example, cell=cell, at=ex)
    fail(ex, "dequantize(q, scale, zero_point) is wrong.", "x_hat = (q - zero_point) * scale.",
         example=example, cell=cell)


def _sym_variants(x: np.ndarray, scale: float, qmax: int) -> dict[str, np.ndarray]:
    v = x / scale
    return {"truncation": np.clip(np.trunc(v), -qmax, qmax),
            "half-up": np.clip(np.floor(v + 0.5), -qmax, qmax)}


def ex_2_1(quantize_symmetric: Any, dequantize: Any) -> None:
    """Exercise 2.1: symmetric narrow-range quantization ``(q, scale)`` and ``dequantize``."""
    not_done("2.1", quantize_symmetric, "quantize_symmetric")
    not_done("2.1", dequantize, "dequantize")
    e = _e()
    for i in range(4):
        x, bits = e[f"2.1/x{i}"], int(e[f"2.1/bits{i}"])
        q, scale = _unpack("2.1", call("2.1", quantize_symmetric, x, bits), 2, "(q, scale)")
        q = _np("2.1", q, "q")
        ref_q, ref_scale = e[f"2.1/q{i}"], float(e[f"2.1/scale{i}"])
        qmax = 2 ** (bits - 1) - 1
        require("2.1", q.shape == x.shape, f"q has shape {q.shape}, x has {x.shape}.",
                "quantize element-wise.")
        s = float(np.asarray(_np("2.1", scale, "scale")).reshape(-1)[0])
        scale_ex = Example(f"max|x| = {np.abs(x).max():.4g}, bits = {bits}", f"scale {ref_scale:.6g}",
                           f"scale {s:.6g}")
        if np.isclose(s, np.abs(x).max() / 2 ** (bits - 1)):
            MISTAKES.fail("2.1", "qmax-pow2", example=scale_ex)
        require("2.1", np.isclose(s, ref_scale, rtol=1e-6), "the scale is wrong.",
                "scale = max(|x|) / (2^(bits-1) - 1).", example=scale_ex)
        example = _diff_example({"x": x}, q, ref_q, "q", f", bits = {bits}, scale = {s:.4g}")
        if not np.allclose(q, np.round(q)):
            fail("2.1", "q must hold integers.", "use np.round(x / scale).", example=example)
        if q.min() < -qmax or q.max() > qmax:
            fail("2.1", f"{bits} bits: q spans {int(q.min())}..{int(q.max())}, outside -{qmax}..{qmax}.",
                 "clip with np.clip(q, -qmax, qmax) (narrow range: -qmax, not -qmax - 1).", example=example)
        if not _same_ints(q, ref_q):
            key = _which(q, _sym_variants(x, ref_scale, qmax))
            if key:
                MISTAKES.fail("2.1", key, example=example)
            fail("2.1", "some integer codes differ from the reference.",
                 "q = clip(round(x / scale), -qmax, qmax) with np.round (round half to even).",
                 example=example)
        _check_dequantize("2.1", dequantize, ref_q, ref_scale, 0, e[f"2.1/deq{i}"])
    _check_dequantize("2.1", dequantize, e["2.1/zq"], float(e["2.1/zs"]), int(e["2.1/zz"]),
                      e["2.1/zdeq"])   # Exercise 2.2 calls it with a zero point
    passed("2.1", "symmetric quantization: scale = max|x|/(2^(b-1)-1), q in [-qmax, qmax], "
           "x_hat = (q - zero_point) * scale.")


def _asym_variants(x: np.ndarray, scale: float, zp: int, bits: int) -> dict[str, np.ndarray]:
    v, top = x / scale, 2**bits - 1
    return {"missing-zero-point": np.clip(np.round(v), 0, top),
            "zero-point-subtracted": np.clip(np.round(v) - zp, 0, top),
            "truncation": np.clip(np.trunc(v) + zp, 0, top),
            "truncation ": np.clip(np.trunc(v + zp), 0, top),
            "half-up": np.clip(np.floor(v + 0.5) + zp, 0, top),
            "clip-signed": np.clip(np.round(v) + zp, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)}


def ex_2_2(quantize_asymmetric: Any, dequantize: Any) -> None:
    """Exercise 2.2: asymmetric quantization ``(q, scale, zero_point)`` and ``dequantize`` with zero point."""
    not_done("2.2", quantize_asymmetric, "quantize_asymmetric")
    not_done("2.2", dequantize, "dequantize", cell=CELL_2_1)
    e = _e()
    for i in range(4):
        x, bits, kind = e[f"2.2/x{i}"], int(e[f"2.2/bits{i}"]), str(e[f"2.2/kind{i}"])
        out = _unpack("2.2", call("2.2", quantize_asymmetric, x, bits), 3, "(q, scale, zero_point)")
        q, scale, zp = (_np("2.2", v, name) for v, name in zip(out, ("q", "scale", "zero_point")))
        ref_q, ref_scale, ref_zp = e[f"2.2/q{i}"], float(e[f"2.2/scale{i}"]), int(e[f"2.2/zp{i}"])
        s, z = float(scale.reshape(-1)[0]), float(zp.reshape(-1)[0])
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        scale_ex = Example(f"{bits} bits, x from {x.min():.4g} to {x.max():.4g} ({kind})",
                           f"scale {ref_scale:.6g}, zero_point {ref_zp}", f"scale {s:.6g}, zero_point {z:g}")
        if kind == "all positive" and np.isclose(s, (x.max() - x.min()) / (2**bits - 1)):
            MISTAKES.fail("2.2", "range-from-min", example=scale_ex)
        if np.isclose(s, (hi - lo) / 2**bits, rtol=1e-6):
            MISTAKES.fail("2.2", "levels-pow2", example=scale_ex)
        require("2.2", np.isclose(s, ref_scale, rtol=1e-6), "the scale is wrong.",
                "scale = (hi - lo) / (2^bits - 1) with lo = min(x.min(), 0), hi = max(x.max(), 0).",
                example=scale_ex)
        if z != round(z):
            MISTAKES.fail("2.2", "zero-point-float", f"got {z:g}.", example=scale_ex)
        if ref_zp != 0 and z == -ref_zp:
            MISTAKES.fail("2.2", "zero-point-sign", example=scale_ex)
        require("2.2", z == ref_zp, "the zero point is wrong.",
                "zero_point = round(-lo / scale): the integer code of 0.0.", example=scale_ex)
        require("2.2", q.shape == x.shape and np.allclose(q, np.round(q)),
                "q must be integers shaped like x.")
        if not _same_ints(q, ref_q):
            example = _diff_example({"x": x}, q, ref_q, "q", f", bits = {bits}, scale = {s:.4g}, "
                                    f"zero_point = {ref_zp}")
            key = _which(q, _asym_variants(x, ref_scale, ref_zp, bits))
            if key:
                MISTAKES.fail("2.2", key.strip(), example=example)
            if q.min() < 0 or q.max() > 2**bits - 1:
                fail("2.2", f"q spans {int(q.min())}..{int(q.max())}, outside 0..{2**bits - 1}.",
                     "clip to the unsigned range 0..2^bits - 1.", example=example)
            fail("2.2", "some integer codes differ from the reference.",
                 "q = clip(round(x / scale) + zero_point, 0, 2^bits - 1).", example=example)
        _check_dequantize("2.2", dequantize, ref_q, ref_scale, ref_zp, e[f"2.2/deq{i}"])
    passed("2.2", "asymmetric quantization: range includes 0, integer zero point, x_hat = (q - zp) * scale.")


def ex_2_3(sqnr_db: Any) -> None:
    """Exercise 2.3: ``sqnr_db(x, x_hat)`` -> signal-to-quantization-noise ratio in dB."""
    not_done("2.3", sqnr_db, "sqnr_db")
    e = _e()
    x = e["2.3/x"]
    for bits in (2, 4, 8):
        x_hat, expected = e[f"2.3/x_hat{bits}"], float(e[f"2.3/sqnr{bits}"])
        got = call("2.3", sqnr_db, x, x_hat)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("2.3", f"expected a number, got {type(got).__name__}.", "return float(...).")
        example = Example(f"x ~ N(0, 1), 2000 values, x_hat = x quantized to {bits} bits",
                          f"{expected:.3f} dB", f"{got:.4g}")
        ratio = 10 ** (expected / 10)
        key = _which(np.asarray(got), {"20log10": 2 * expected, "plain-ratio": ratio, "inverted": -expected,
                                        "natural-log": 10 * np.log(ratio)})
        if key:
            MISTAKES.fail("2.3", key, example=example)
        require("2.3", np.isclose(got, expected, rtol=1e-4), "the SQNR is wrong.",
                "SQNR = 10 log10( sum(x^2) / sum((x - x_hat)^2) ).", example=example)
    passed("2.3", "SQNR in dB: about 6 dB more per extra bit.")


def ex_2_4(quantize_per_channel: Any) -> None:
    """Exercise 2.4: per-output-channel symmetric quantization ``(q, scales (out, 1))``."""
    not_done("2.4", quantize_per_channel, "quantize_per_channel")
    e = _e()
    w = e["2.4/w"]
    for bits in (4, 3):
        q, scales = _unpack("2.4", call("2.4", quantize_per_channel, w, bits), 2, "(q, scales)")
        q, scales = _np("2.4", q, "q"), _np("2.4", scales, "scales")
        ref_q, ref_s = e[f"2.4/q{bits}"], e[f"2.4/s{bits}"]
        example = Example(f"w of shape {w.shape} (out, in), bits = {bits}", f"scales of shape {ref_s.shape}",
                          f"scales of shape {scales.shape}")
        if scales.size == 1:
            MISTAKES.fail("2.4", "per-tensor", example=example)
        if scales.size == w.shape[1]:
            MISTAKES.fail("2.4", "per-column", example=example)
        require("2.4", scales.size == w.shape[0], f"expected {w.shape[0]} scales, got {scales.size}.",
                example=example)
        if scales.shape != (w.shape[0], 1):
            MISTAKES.fail("2.4", "no-keepdims", f"shape {scales.shape}.", example=example)
        require("2.4", np.allclose(scales, ref_s, rtol=1e-6), f"{bits} bits: some scales differ.",
                "scale of row i = max|w[i]| / (2^(bits-1) - 1).",
                example=_diff_example({}, scales, ref_s, "scales"))
        require("2.4", _same_ints(q, ref_q), f"{bits} bits: some integer codes differ from the reference.",
                "q = clip(round(w / scales), -qmax, qmax).", example=_diff_example({"w": w}, q, ref_q, "q"))
    passed("2.4", "per-channel quantization: one scale per output neuron, much smaller error.")


def _int_linear_crash(err: Exception) -> tuple[str, str, str] | None:
    """The broadcasting error of multiplying (N, out) by a (out, 1) scale_w."""
    if isinstance(err, ValueError) and "broadcast" in str(err):
        return MISTAKES.crash("2.5", "scale-w-column", err)
    return None


def ex_2_5(int_linear: Any) -> None:
    """Exercise 2.5: ``int_linear(q_x, q_w, scale_x, scale_w)`` -> integer matmul, then one rescale."""
    not_done("2.5", int_linear, "int_linear")
    e = _e()
    q_x, q_w = e["2.5/q_x"], e["2.5/q_w"]
    for i in range(2):
        scale_w, expected = e[f"2.5/scale_w{i}"], e[f"2.5/y{i}"]
        scale_w = float(scale_w) if np.ndim(scale_w) == 0 else scale_w  # type: ignore[assignment]
        kind = "a per-channel scale_w (5, 1)" if np.ndim(scale_w) else "a scalar scale_w = 0.037"
        out = call("2.5", int_linear, q_x, q_w, 0.25, scale_w, hints=_int_linear_crash)
        got = _np("2.5", out, "the output")
        inputs = {"q_x": q_x, "q_w": q_w}
        if got.shape == expected.T.shape and got.shape != expected.shape:
            MISTAKES.fail("2.5", "transposed", example=_diff_example(inputs, got, expected, "y"))
        require("2.5", got.shape == expected.shape, f"expected shape {expected.shape}, got {got.shape}.",
                "y = (q_x @ q_w.T) * scale_x * scale_w.T  (scale_w is per output channel).")
        acc = q_x @ q_w.T
        key = _which(got, {"missing-scale": acc * 0.25, "missing-scale ": acc * np.reshape(scale_w, (1, -1))})
        example = _diff_example({}, got, expected, "y", f"q_x (6, 24), q_w (5, 24), scale_x 0.25, {kind}")
        if key:
            MISTAKES.fail("2.5", key.strip(), example=example)
        require("2.5", np.allclose(got, expected, rtol=1e-9, atol=1e-12), f"wrong result with {kind}.",
                "accumulate integers first (acc = q_x @ q_w.T), then multiply by scale_x and scale_w "
                "(transpose a (out, 1) scale_w to (1, out)).", example=example)
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


def _fake_quantized(net: Any, bits: int, axis: int | None = None) -> Any:
    """A copy of ``net`` with its Linear weights through ``quant.fake_quantize`` (what 3.1 compares with)."""
    import torch
    from torch import nn

    qnet = copy.deepcopy(net)
    with torch.no_grad():
        for mod in qnet.modules():
            if isinstance(mod, nn.Linear):
                w_hat = quant.fake_quantize(mod.weight.numpy(), bits, axis=axis)
                mod.weight.copy_(torch.from_numpy(w_hat.astype(np.float32)))
    return qnet


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
        unchanged = all(torch.equal(v, net.state_dict()[k]) for k, v in original.items())
        if qnet is net or not unchanged:
            MISTAKES.fail("3.1", "in-place", "you returned the original network." if qnet is net else "")
        ref = _fake_quantized(net, bits)
        got_sd, ref_sd = qnet.state_dict(), ref.state_dict()
        require("3.1", set(got_sd) == set(ref_sd), "the copy's parameters differ in names from the original.",
                "keep the network's structure: only change the weights' values.")
        linear = {f"{name}.weight" for name, mod in ref.named_modules() if isinstance(mod, nn.Linear)}
        for k in sorted(set(ref_sd) - linear):
            if k in got_sd and not torch.equal(got_sd[k].float(), ref_sd[k].float()):
                MISTAKES.fail("3.1", "batchnorm", f"{k} changed.")
        per_channel = _fake_quantized(net, bits, axis=0).state_dict()
        for name, mod in ref.named_modules():
            if isinstance(mod, nn.Linear):
                w = got_sd[f"{name}.weight"].detach().numpy()
                want = mod.weight.detach().numpy()
                example = _diff_example({}, w, want, f"{name}.weight", f"bits = {bits}")
                if np.allclose(w, per_channel[f"{name}.weight"].numpy(), atol=1e-6):
                    MISTAKES.fail("3.1", "per-channel", example=example)
                levels = len(np.unique(w))
                require("3.1", levels <= 2**bits - 1,
                        f"{bits} bits: {name}.weight has {levels} distinct values, at most "
                        f"{2**bits - 1} possible.", "replace the weights by their fake-quantized values.")
                require("3.1", np.allclose(w, want, atol=1e-6),
                        f"{bits} bits: {name}.weight differs from per-tensor symmetric fake quantization.",
                        "w_hat = dequantize(*quantize_symmetric(w, bits)) with one scale per layer.",
                        example=example)
    passed("3.1", "Linear weights fake-quantized per tensor; original untouched, BatchNorm unchanged.")


def ex_3_2(calibrate_scale: Any) -> None:
    """Exercise 3.2: ``calibrate_scale(acts, bits, percentile)`` -> unsigned activation scale."""
    not_done("3.2", calibrate_scale, "calibrate_scale")
    rng = np.random.default_rng(32)
    acts = np.maximum(rng.normal(0.5, 1.5, 20000), 0.0)
    for bits, pct in ((4, 100.0), (8, 99.9), (2, 99.0)):
        hi = float(np.percentile(acts, pct))
        expected = hi / (2**bits - 1)
        got = call("3.2", calibrate_scale, acts, bits, pct)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail("3.2", f"expected a number, got {type(got).__name__}.", "return float(...).")
        example = Example(f"bits = {bits}, percentile = {pct}: np.percentile(acts, {pct}) = {hi:.5g}, "
                          f"max = {acts.max():.5g}", f"{expected:.6g}", f"{got:.6g}")
        variants = {"levels-pow2": hi / 2**bits, "signed-levels": hi / (2 ** (bits - 1) - 1)}
        if pct < 100:
            variants["max-not-percentile"] = acts.max() / (2**bits - 1)
        key = _which(np.asarray(got), variants)
        if key:
            MISTAKES.fail("3.2", key, example=example)
        require("3.2", np.isclose(got, expected, rtol=1e-6), "the scale is wrong.",
                "scale = np.percentile(acts, percentile) / (2^bits - 1) (ReLU outputs are unsigned).",
                example=example)
    passed("3.2", "activation scale = percentile of the observed ReLU outputs / (2^bits - 1).")


def _no_none_crash(err: Exception) -> tuple[str, str, str] | None:
    """min() or max() of an empty selection: no bit width meets the budget."""
    if isinstance(err, ValueError) and "empty" in str(err):
        return MISTAKES.crash("3.3", "no-none", err)
    return None


def _smallest_bits_variants(results: dict, float_acc: float, max_drop: float) -> dict[str, Any]:
    """What each catalogued mistake of Exercise 3.3 returns for one case."""
    t = float_acc - max_drop
    ok = [b for b, a in results.items() if a >= t]
    strict = [b for b, a in results.items() if a > t]
    walk = None
    for b in sorted(results, reverse=True):
        if results[b] < t:
            break
        walk = b
    return {"largest": max(ok) if ok else None, "strict": min(strict) if strict else None,
            "dict-order": ok[-1] if ok else None, "monotonic": walk}


def ex_3_3(smallest_bits: Any) -> None:
    """Exercise 3.3: ``smallest_bits(results, float_acc, max_drop)`` -> fewest bits within the budget."""
    not_done("3.3", smallest_bits, "smallest_bits")
    ptq = {8: 0.978, 6: 0.978, 5: 0.977, 4: 0.973, 3: 0.93, 2: 0.10}
    cases = [((ptq, 0.978, 0.01), 4), ((ptq, 0.978, 0.0005), 6), ((ptq, 0.978, 0.9), 2),
             (({2: 0.5, 3: 0.97, 4: 0.96, 8: 0.98}, 0.98, 0.015), 3),   # not monotonic in the bits
             (({4: 0.625, 3: 0.5, 8: 0.75}, 0.75, 0.25), 3),            # exactly at the budget (binary-exact)
             (({3: 0.97, 2: 0.5, 8: 0.98, 4: 0.975}, 0.98, 0.015), 3),  # unsorted keys
             (({4: 0.5, 8: 0.6}, 0.98, 0.01), None)]                   # no bit width fits
    answers: list[Any] = []
    crash: CheckFailure | None = None
    for (results, float_acc, max_drop), _expected in cases:
        try:
            got = call("3.3", smallest_bits, dict(results), float_acc, max_drop, hints=_no_none_crash)
        except CheckFailure as err:   # decide after the other cases: a wrong answer comes first
            crash = crash or err
            answers.append(err)
            continue
        try:
            answers.append(None if got is None else int(got))
        except (TypeError, ValueError):
            fail("3.3", f"expected a bit width (int) or None, got {got!r}.", "return an int, or None.")
    wrong = [i for i, ((_, want), got) in enumerate(zip(cases, answers))
             if got != want and not isinstance(got, CheckFailure)]
    if crash is not None and not wrong:
        raise crash
    if not wrong:
        passed("3.3", "picks the smallest bit width within the accuracy budget (None if none).")
        return
    (results, float_acc, max_drop), expected = cases[wrong[0]]
    example = Example(f"results {results}, float_acc {float_acc}, max_drop {max_drop}", str(expected),
                      str(answers[wrong[0]]))
    if wrong == [len(cases) - 1]:
        MISTAKES.fail("3.3", "no-none", example=example)
    variants = [_smallest_bits_variants(*args) for args, _ in cases]
    for key in variants[0]:   # the mistake whose answers are the student's on every case
        if all(v[key] == got or isinstance(got, CheckFailure) for v, got in zip(variants, answers)):
            MISTAKES.fail("3.3", key, example=example)
    fail("3.3", "not the smallest bit width within the budget.",
         "keep the bit widths whose accuracy >= float_acc - max_drop, return the smallest "
         "(None if there is none); do not assume the dict is sorted.", example=example)


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
        assert isinstance(layers, nn.Sequential)  # require() raised otherwise
        got_types = [type(m).__name__ for m in layers]
        same = len(layers) == len(expected) and all(isinstance(m, t) for m, t in zip(layers, expected))
        if not same and len(layers) == len(expected):
            MISTAKES.fail("4.1", "layer-order", f"layers are {got_types}.")
        require("4.1", same,
                f"layers are {got_types}.", "expected " + ", ".join(t.__name__ for t in expected) + ".")
        for i, (mod, shape) in enumerate(zip(layers, shapes)):
            if shape is not None:
                require("4.1", (mod.in_features, mod.out_features) == shape,
                        f"layers[{i}] maps {mod.in_features} -> {mod.out_features}, "
                        f"expected {shape[0]} -> {shape[1]}.")
                if mod.bias is not None:
                    MISTAKES.fail("4.1", "bias", f"layers[{i}].")
            bw = _bit_width(mod)
            want = wb if isinstance(mod, QuantLinear) else ab if isinstance(mod, QuantReLU) else None
            if want is not None:
                what = "weight_bit_width" if isinstance(mod, QuantLinear) else "bit_width"
                kind = "weights" if what == "weight_bit_width" else "outputs"
                if bw != want:
                    MISTAKES.fail("4.1", "fixed-bits", f"MyQNN({wb}, {ab}): layers[{i}] "
                                  f"({type(mod).__name__}) has {bw}-bit {kind}, expected {want} "
                                  f"(pass {what}=...).")
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
            MISTAKES.fail("4.2", "latent-weights")
        if got.shape == ref.shape and np.allclose(got, qw.value.detach().numpy()):
            MISTAKES.fail("4.2", "scaled-values")
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
        example = Example(f"QuantMLP {cfg.tag}, hidden {cfg.hidden}", f"{expected} bits", f"{got:g}")
        if np.isclose(got, expected / 8):
            MISTAKES.fail("4.3", "bytes", example=example)
        if np.isclose(got, n_weights * 32):
            MISTAKES.fail("4.3", "float32-size", example=example)
        if np.isclose(got, sum(p.numel() for p in qnn.parameters()) * cfg.weight_bits):
            MISTAKES.fail("4.3", "batchnorm-counted", example=example)
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
        if "Quant" not in ops:
            MISTAKES.fail("5.1", "no-quant-nodes", f"the graph has {sorted(set(ops))}.")
        if list(shape) != [1, 400]:
            MISTAKES.fail("5.1", "input-shape", f"the model's input shape is {shape}.")
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
    expected = export.execute_qonnx(model, x)
    got = _np("5.2", call("5.2", run_qonnx, model, x), "the outputs")
    if got.shape == expected[:1].shape:
        MISTAKES.fail("5.2", "one-sample", f"expected outputs shaped {expected.shape}, got {got.shape}.")
    require("5.2", got.shape == expected.shape, f"expected outputs shaped {expected.shape}, got {got.shape}.",
            "run one sample at a time ({input_name: x[i:i+1]}) and stack the outputs: np.concatenate.")
    if not np.allclose(got, expected, atol=1e-5):
        example = _diff_example({}, got, expected, "logits", "6 random images")
        from qonnx.core.onnx_exec import execute_onnx

        i, o = model.graph.input[0].name, model.graph.output[0].name
        scaled = np.concatenate([execute_onnx(model, {i: x[k:k + 1] / 255.0})[o] for k in range(len(x))])
        if np.allclose(got, scaled, atol=1e-5):
            MISTAKES.fail("5.2", "scaled-input", example=example)
        fail("5.2", "the outputs differ from executing the model.",
             "out = execute_onnx(model, {model.graph.input[0].name: x[i:i+1]})[model.graph.output[0].name].",
             example=example)
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
            raw = call("5.3", quant_bit_widths, mw)
            try:
                got = [int(b) for b in raw]
                values = [float(b) for b in raw]
            except (TypeError, ValueError):
                fail("5.3", f"expected a list of integers, got {raw!r}.")
            quants = [n for n in mw.graph.node if n.op_type == "Quant"]
            others = [[float(np.asarray(mw.get_initializer(n.input[k])).reshape(-1)[0]) for n in quants
                       if mw.get_initializer(n.input[k]) is not None] for k in (1, 2)]
            if got != expected and any(len(v) == len(values) and np.allclose(v, values) for v in others):
                MISTAKES.fail("5.3", "wrong-input", example=Example("the Quant nodes", str(expected),
                                                                    short(values)))
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
        if key == "x" and val.dtype != np.uint8:
            MISTAKES.fail("5.4", "float-pixels", f"dtype {val.dtype}.")
        if key == "x" and val.shape in ((16, 28, 28), (16, 20, 20)):
            MISTAKES.fail("5.4", "not-flat", f"shape {val.shape}, expected {ref.shape}.")
        if key == "x" and val.shape == (16, 784):
            MISTAKES.fail("5.4", "not-cropped", f"shape {val.shape}, expected {ref.shape}.")
        if key == "logits" and val.shape == ref.shape and not np.allclose(val, ref, atol=1e-5):
            import torch
            with torch.no_grad():
                scaled = qnn.eval()(torch.tensor(expected["x"], dtype=torch.float32) / 255).numpy()
            if np.allclose(val, scaled, atol=1e-5):
                MISTAKES.fail("5.4", "scaled-input")
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
