"""Reference quantization maths: uniform quantizers, their error, and post-training quantization (PTQ).

A uniform quantizer maps a real ``x`` to an integer ``q = clip(round(x / scale) + zero_point, qmin, qmax)``
and back to ``x_hat = (q - zero_point) * scale``. Conventions (the same as Brevitas and QONNX):

* **symmetric**: ``zero_point = 0``, signed *narrow* range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (so ``-x``
  quantizes to ``-q``), ``scale = max|x| / (2^(b-1) - 1)``. Used for weights.
* **asymmetric**: unsigned ``[0, 2^b - 1]``, the range ``[min(x, 0), max(x, 0)]`` (0.0 stays exactly
  representable), ``scale = (hi - lo) / (2^b - 1)``, ``zero_point = round(-lo / scale)``.
* rounding is round-half-to-even (``np.round``, ``torch.round``); ``axis`` selects per-channel scales
  (one per index of that axis, e.g. ``axis=0`` = per output neuron of a ``Linear`` weight).

The kit hands out the *fake-quantized* values (``fake_quantize``), the error measures and PTQ of a trained
``FloatMLP`` (weights and ReLU outputs fake-quantized, ranges calibrated on a batch). The functions that
Lab 1.2 and 1.3 ask students to write (quantize_symmetric, dequantize, sqnr_db, ...) are not part of the
kit: the checkpoints compare against precomputed expectations (``checks/_expected.py``), and
``course release`` refuses a bundle that defines them.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import nn

_TINY = 1e-12


def int_range(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    """``(qmin, qmax)`` of a ``bits``-bit integer, e.g. (-8, 7) signed, (-7, 7) signed narrow, (0, 15)."""
    bits = int(bits)
    if bits < 1:
        raise ValueError(f"bits must be at least 1, got {bits}.")
    if signed:
        qmax = 2 ** (bits - 1) - 1
        qmin = -qmax if narrow else -(2 ** (bits - 1))
    else:
        qmin, qmax = 0, 2**bits - 1 - (1 if narrow else 0)
    if qmax <= qmin or (signed and qmax < 1):
        raise ValueError(f"a {bits}-bit {'signed narrow' if narrow else 'signed'} range has no positive "
                         "level: use at least 2 bits (1-bit weights are bipolar +-1, see Lab 1.4).")
    return qmin, qmax


def _reduce(x: np.ndarray, fn: Any, axis: int | None) -> np.ndarray:
    """``fn`` over every axis except ``axis`` (keepdims, so the result broadcasts against ``x``)."""
    if axis is None:
        return np.asarray(fn(x))
    axis = axis % x.ndim
    others = tuple(i for i in range(x.ndim) if i != axis)
    return fn(x, axis=others, keepdims=True)


def _symmetric_scale(x: Any, bits: int, axis: int | None = None) -> np.ndarray:
    """``max|x| / (2^(bits-1) - 1)`` (per tensor, or per index of ``axis``); 1.0 where ``x`` is all 0."""
    x = np.asarray(x, dtype=np.float64)
    _, qmax = int_range(bits, signed=True, narrow=True)
    m = _reduce(np.abs(x), np.max, axis)
    return np.where(m > _TINY, m / qmax, 1.0)


def _asymmetric_params(x: Any, bits: int, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, zero_point)`` covering ``[min(x, 0), max(x, 0)]`` with unsigned ``bits``-bit codes."""
    x = np.asarray(x, dtype=np.float64)
    qmin, qmax = int_range(bits, signed=False)
    lo = np.minimum(_reduce(x, np.min, axis), 0.0)
    hi = np.maximum(_reduce(x, np.max, axis), 0.0)
    span = hi - lo
    scale = np.where(span > _TINY, span / (qmax - qmin), 1.0)
    zero_point = np.clip(np.round(-lo / scale), qmin, qmax).astype(np.int64)
    return scale, zero_point


def _codes(x: Any, scale: Any, zero_point: Any, qmin: int, qmax: int) -> np.ndarray:
    """``clip(round(x / scale) + zero_point, qmin, qmax)``."""
    q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, qmin, qmax)


def fake_quantize(x: Any, bits: int, mode: str = "symmetric", axis: int | None = None) -> np.ndarray:
    """Quantize then dequantize ``x``: what the network sees.

    The integer codes themselves are what Lab 1.2's exercises compute; the kit only hands out their
    real values (``x_hat``), for the plots and for PTQ.

    Parameters
    ----------
    x : array_like
        Real values (weights or activations).
    bits : int
        Bit width of the integer codes.
    mode : {"symmetric", "asymmetric"}, default "symmetric"
        Signed narrow-range codes with a scale, or unsigned codes with a scale and a zero point.
    axis : int, optional
        One scale per slice along this axis (per channel); default: one scale for all of ``x``.

    Returns
    -------
    numpy.ndarray
        ``x_hat``, the same shape as ``x``.
    """
    if mode == "symmetric":
        scale = _symmetric_scale(x, bits, axis)
        qmin, qmax = int_range(bits, signed=True, narrow=True)
        return _codes(x, scale, 0, qmin, qmax) * scale
    if mode == "asymmetric":
        scale, zp = _asymmetric_params(x, bits, axis)
        qmin, qmax = int_range(bits, signed=False)
        return (_codes(x, scale, zp, qmin, qmax) - zp) * scale
    raise ValueError(f"mode must be 'symmetric' or 'asymmetric', got {mode!r}.")


def mse(x: Any, x_hat: Any) -> float:
    """Mean squared error between ``x`` and its quantized version.

    Parameters
    ----------
    x, x_hat : array_like
        Arrays of the same shape.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        The shapes differ.
    """
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}.")
    return float(np.mean((x - x_hat) ** 2))


def _noise_db(x: Any, x_hat: Any) -> float:
    """Signal-to-quantization-noise ratio in dB (inf if exact)."""
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}.")
    noise = float(np.sum((x - x_hat) ** 2))
    signal = float(np.sum(x**2))
    if noise == 0.0:
        return float("inf")
    return float(10.0 * np.log10(max(signal, _TINY) / noise))


def error_vs_bits(x: Any, bits: Iterable[int] = range(2, 9), mode: str = "symmetric",
                  axis: int | None = None) -> dict[int, dict[str, float]]:
    """``{bits: {"mse": ..., "sqnr_db": ...}}`` of ``fake_quantize(x, bits, mode, axis)``."""
    out = {}
    for b in bits:
        x_hat = fake_quantize(x, int(b), mode, axis)
        out[int(b)] = {"mse": mse(x, x_hat), "sqnr_db": _noise_db(x, x_hat)}
    return out


# --------------------------------------------------------------------------- PTQ of a float network

def _fake_quant_module(scale: float, bits: int) -> nn.Module:
    """A module that fake-quantizes unsigned activations with a fixed ``scale``."""
    import torch
    from torch import nn

    class FakeQuantAct(nn.Module):
        """Unsigned fixed-scale fake quantization (PTQ activation quantizer)."""

        scale: torch.Tensor  # a registered buffer

        def __init__(self) -> None:
            super().__init__()
            self.bits = int(bits)
            self.register_buffer("scale", torch.tensor(float(scale)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.clamp(torch.round(x / self.scale), 0, 2**self.bits - 1) * self.scale

        def extra_repr(self) -> str:
            return f"bits={self.bits}, scale={float(self.scale):.5g}"

    return FakeQuantAct()


def _fake_quantized_copy(net: nn.Module, bits: int, per_channel: bool = False) -> nn.Module:
    """A copy of ``net`` whose ``nn.Linear`` weights are fake-quantized (symmetric, narrow range)."""
    import torch
    from torch import nn

    qnet = copy.deepcopy(net).eval()
    for mod in qnet.modules():
        if isinstance(mod, nn.Linear):
            w = mod.weight.detach().cpu().numpy()
            w_hat = fake_quantize(w, bits, "symmetric", axis=0 if per_channel else None)
            with torch.no_grad():
                mod.weight.copy_(torch.from_numpy(w_hat.astype(np.float32)))
    return qnet


def activation_ranges(net: nn.Module, x: Any, percentile: float = 100.0) -> dict[str, float]:
    """Calibration: the ``percentile`` of every ReLU's outputs on the batch ``x``.

    Parameters
    ----------
    net : torch.nn.Module
        A float network.
    x : array_like
        A calibration batch of raw pixels, as the network takes them.
    percentile : float, default 100.0
        Which percentile of each ReLU's outputs is its range (100: the maximum).

    Returns
    -------
    dict of str to float
        Name of each ``nn.ReLU`` (as ``net.named_modules()`` gives it) -> range.

    Raises
    ------
    ValueError
        The network has no ``nn.ReLU``.
    """
    import torch
    from torch import nn

    from course_utils.train import as_inputs

    seen: dict[str, list[np.ndarray]] = {}
    hooks = []
    for name, mod in net.named_modules():
        if isinstance(mod, nn.ReLU):
            hooks.append(mod.register_forward_hook(
                lambda _m, _i, out, name=name: seen.setdefault(name, []).append(out.detach().numpy())))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(as_inputs(x))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    if not seen:
        raise ValueError("the network has no nn.ReLU modules to calibrate.")
    return {name: float(np.percentile(np.concatenate(v).ravel(), percentile)) for name, v in seen.items()}


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the sub-module called ``name`` (dotted path) of ``root``."""
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def ptq(net: nn.Module, calib_x: Any, weight_bits: int, act_bits: int, *, per_channel: bool = False,
        percentile: float = 99.99) -> nn.Module:
    """Post-training quantization: a copy of the float ``net`` with fake-quantized weights and ReLU outputs.

    Activation ranges are calibrated on ``calib_x`` (the ``percentile`` of each ReLU's outputs);
    the input is already 8-bit (raw pixels) and the output logits stay real, as in the QAT model.

    Parameters
    ----------
    net : torch.nn.Module
        The float network (left unchanged).
    calib_x : array_like
        Calibration batch (raw pixels).
    weight_bits, act_bits : int
        Bit widths of the weights (symmetric) and of the ReLU outputs (unsigned).
    per_channel : bool, default False
        One weight scale per output channel instead of one per layer.
    percentile : float, default 99.99
        Calibration percentile of each ReLU's outputs.

    Returns
    -------
    torch.nn.Module
        The fake-quantized copy, in eval mode.
    """
    from torch import nn

    ranges = activation_ranges(net, calib_x, percentile)
    qnet = _fake_quantized_copy(net, weight_bits, per_channel)
    _, qmax = int_range(act_bits, signed=False)
    for name, hi in ranges.items():
        scale = hi / qmax if hi > _TINY else 1.0
        _set_submodule(qnet, name, nn.Sequential(nn.ReLU(), _fake_quant_module(scale, act_bits)))
    return qnet.eval()


def ptq_sweep(net: nn.Module, calib_x: Any, test_data: Any, bits: Iterable[int] = (2, 3, 4, 5, 6, 8), *,
              per_channel: bool = False, percentile: float = 99.99) -> dict[int, float]:
    """Test accuracy of ``ptq(net, calib_x, b, b)`` for each bit width ``b`` (WbAb).

    Parameters
    ----------
    net : torch.nn.Module
        The float network.
    calib_x : array_like
        Calibration batch (raw pixels).
    test_data : tuple of array_like
        ``(images, labels)`` to evaluate on.
    bits : iterable of int, default (2, 3, 4, 5, 6, 8)
        The bit widths to try.
    per_channel, percentile
        As for :func:`ptq`.

    Returns
    -------
    dict of int to float
        Bit width -> accuracy in [0, 1].
    """
    from course_utils.train import evaluate

    return {int(b): evaluate(ptq(net, calib_x, int(b), int(b), per_channel=per_channel,
                                 percentile=percentile), test_data)["accuracy"] for b in bits}
