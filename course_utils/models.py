"""The course's networks: a float MLP baseline and its quantized (Brevitas) twin.

Both take **raw pixel values** 0..255 as float32 of shape ``(N, 400)``: the 20x20 centre crop of an
MNIST image (``torchdata.crop``; the blank border carries 3.2% of the ink and no accuracy), and scale
them by 1/255 inside the network. That is exactly what the FPGA sees: 400 UINT8 pixels per image on
the input stream; FINN streamlining folds the 1/255 into the first layer's thresholds. Whole images
``(N, 784)`` are centre-cropped to the network's ``in_features`` on the way in (a convenience: the
exported model's input contract is ``(1, in_features)``).

Vocabulary: a PyTorch/Brevitas network is ``net`` (float) or ``qnn`` (quantized); an ONNX
``ModelWrapper`` is ``model``. The two never share a name.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from course_utils.fileio import atomic_file

INPUT_SCALE = 1.0 / 255.0
IMAGE_SIDE = 28          # MNIST / Fashion-MNIST images are 28x28
CROP = 20                # the default network sees the 20x20 centre crop: 400 inputs
IN_FEATURES = CROP * CROP


@dataclass(frozen=True)
class MLPConfig:
    """Shape and precision of the course MLP (``weight_bits == 1`` means bipolar +-1)."""

    weight_bits: int = 4
    act_bits: int = 4
    hidden: tuple[int, ...] = (64, 64)
    in_features: int = IN_FEATURES
    num_classes: int = 10
    dropout: float = 0.1
    extra: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """Short name such as ``w4a4``."""
        return f"w{self.weight_bits}a{self.act_bits}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MLPConfig:
        d = dict(d)
        d["hidden"] = tuple(d.get("hidden", (64, 64)))
        return cls(**d)


_Batch = TypeVar("_Batch", torch.Tensor, np.ndarray)


def fit_to_inputs(x: _Batch, in_features: int) -> _Batch:
    """``x`` as the network's ``(N, in_features)`` raw pixels: whole 28x28 images (``(N, 784)``) are
    centre-cropped to the square ``in_features`` needs (400 -> 20x20); anything else must already fit."""
    if x.ndim == 2 and x.shape[1] == in_features:
        return x
    side = int(round(in_features ** 0.5))
    if x.ndim == 2 and x.shape[1] == IMAGE_SIDE * IMAGE_SIDE and side * side == in_features < x.shape[1]:
        lo = (IMAGE_SIDE - side) // 2
        return x.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)[:, lo:lo + side, lo:lo + side].reshape(-1, in_features)
    raise ValueError(f"the network takes {in_features} raw pixels per sample (or whole 28x28 images, "
                     f"(N, 784), which it centre-crops), got {tuple(x.shape)}: crop with "
                     f"torchdata.crop(images, {side}) and flatten to (N, {in_features}).")


class FloatMLP(nn.Module):
    """400 -> hidden -> ... -> 10 float baseline with BatchNorm and ReLU."""

    def __init__(self, hidden: tuple[int, ...] = (64, 64), in_features: int = IN_FEATURES,
                 num_classes: int = 10):
        super().__init__()
        self.hidden, self.in_features, self.num_classes = tuple(hidden), in_features, num_classes
        layers: list[nn.Module] = []
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, num_classes, bias=False))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(fit_to_inputs(x, self.in_features) * INPUT_SCALE)


def _quant_layers(cfg: MLPConfig) -> list[nn.Module]:
    """QuantLinear/BatchNorm/activation stack for ``cfg`` (bipolar quantizers at 1 bit)."""
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU

    binary_w = cfg.weight_bits == 1
    binary_a = cfg.act_bits == 1
    if binary_w:
        from brevitas.quant.binary import SignedBinaryWeightPerTensorConst as WQ
    wkw = {"weight_quant": WQ} if binary_w else {"weight_bit_width": cfg.weight_bits}

    layers: list[nn.Module] = []
    prev = cfg.in_features
    for h in cfg.hidden:
        layers += [QuantLinear(prev, h, bias=False, **wkw), nn.BatchNorm1d(h)]
        if binary_a:
            from brevitas.quant.binary import SignedBinaryActPerTensorConst as AQ
            layers.append(QuantIdentity(act_quant=AQ))
        else:
            layers.append(QuantReLU(bit_width=cfg.act_bits))
        prev = h
    layers.append(QuantLinear(prev, cfg.num_classes, bias=False, **wkw))
    if binary_w:  # binary nets need a learnable affine at the output to train well
        layers.append(nn.BatchNorm1d(cfg.num_classes))
    return layers


class QuantMLP(nn.Module):
    """The quantized MLP of Labs 1-3: Brevitas QuantLinear + BatchNorm + QuantReLU per hidden layer.

    Weights are signed narrow-range integers of ``weight_bits``; activations unsigned
    ``act_bits`` integers. With ``weight_bits >= 4`` and ``act_bits >= 4`` FINN maps every layer
    to RTL (MVAU_rtl + Thresholding_rtl) on a Zynq-7020.

    ``cfg.dropout`` (default 0.1) drops hidden activations while training only; it is not a layer,
    so ``layers`` and the exported graph are the same with or without it.
    """

    def __init__(self, cfg: MLPConfig | None = None, **kwargs):
        super().__init__()
        self.cfg = cfg or MLPConfig(**kwargs)
        if not 0.0 <= float(self.cfg.dropout) < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.cfg.dropout}.")
        self.layers = nn.Sequential(*_quant_layers(self.cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fit_to_inputs(x, self.cfg.in_features) * INPUT_SCALE
        p = float(self.cfg.dropout)
        if not (self.training and p > 0):
            return self.layers(x)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last and type(layer).__name__ in ("QuantReLU", "QuantIdentity"):
                x = nn.functional.dropout(x, p, training=True)
        return x


def build_qnn(weight_bits: int = 4, act_bits: int = 4, hidden: tuple[int, ...] = (64, 64)) -> QuantMLP:
    """A fresh, untrained ``QuantMLP`` (convenience for notebooks).

    Parameters
    ----------
    weight_bits, act_bits : int, default 4
        Bit widths of the weights (signed, narrow range) and of the hidden activations (unsigned);
        1 gives a binary (bipolar) network.
    hidden : tuple of int, default (64, 64)
        Widths of the hidden layers.

    Returns
    -------
    QuantMLP
    """
    return QuantMLP(MLPConfig(weight_bits=weight_bits, act_bits=act_bits, hidden=tuple(hidden)))


# --------------------------------------------------------------------------- the CNN

@dataclass(frozen=True)
class CNNConfig:
    """Shape and precision of a small quantized CNN: stride-``stride`` ``kernel`` x ``kernel`` convolutions
    (no padding, no pooling: a stride-2 convolution downsamples and keeps the design all-RTL), then a
    QuantLinear classifier on the flattened feature map.

    The input is the ``side`` x ``side`` centre crop of each 28x28 image, one channel, raw pixels 0..255:
    the exported model's input is ``(1, 1, side, side)`` and FINN streams it as ``side*side`` UINT8 pixels
    (NHWC order; one channel, so the same bytes as row-major pixels).
    """

    weight_bits: int = 4
    act_bits: int = 4
    channels: tuple[int, ...] = (16, 32)
    kernel: int = 3
    stride: int = 2
    side: int = IMAGE_SIDE
    num_classes: int = 10
    dropout: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (2 <= self.weight_bits <= 8 and 2 <= self.act_bits <= 8):
            raise ValueError(f"the kit's CNN takes 2..8-bit weights and activations, got W{self.weight_bits}"
                             f"A{self.act_bits}: use an MLP (QuantMLP) for binary networks.")
        if not 1 <= self.side <= IMAGE_SIDE:
            raise ValueError(f"side must be 1..{IMAGE_SIDE} (a centre crop of the 28x28 images), "
                             f"got {self.side}.")
        if not self.channels:
            raise ValueError("a CNN needs at least one convolution: give channels=(16, 32), for example.")
        if self.feature_sides()[-1] < 1:
            raise ValueError(f"{len(self.channels)} convolutions of {self.kernel}x{self.kernel} at stride "
                             f"{self.stride} shrink a {self.side}x{self.side} input to nothing: use fewer "
                             "layers, a smaller kernel or a larger side.")

    @property
    def tag(self) -> str:
        """Short name such as ``w4a4``."""
        return f"w{self.weight_bits}a{self.act_bits}"

    @property
    def in_features(self) -> int:
        """Raw pixels per image (``side * side``)."""
        return self.side * self.side

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """The exported model's input: ``(1, 1, side, side)``."""
        return (1, 1, self.side, self.side)

    def feature_sides(self) -> list[int]:
        """Side of the feature map after each convolution (no padding)."""
        sides, s = [], self.side
        for _ in self.channels:
            s = (s - self.kernel) // self.stride + 1
            sides.append(s)
        return sides

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["kind"] = "cnn"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CNNConfig:
        d = {k: v for k, v in dict(d).items() if k != "kind"}
        d["channels"] = tuple(d.get("channels", (16, 32)))
        return cls(**d)


def fit_to_image(x: torch.Tensor, side: int) -> torch.Tensor:
    """``x`` as ``(N, 1, side, side)`` raw pixels: accepts ``(N, side*side)`` crops, ``(N, side, side)``,
    ``(N, 1, side, side)``, or whole 28x28 images (flat or not), which are centre-cropped."""
    n = x.shape[0] if x.ndim else 0
    if x.ndim == 4 and tuple(x.shape[1:]) == (1, side, side):
        return x
    flat = x.reshape(n, -1) if x.ndim in (2, 3, 4) else None
    if flat is not None and flat.shape[1] in (side * side, IMAGE_SIDE * IMAGE_SIDE):
        return fit_to_inputs(flat, side * side).reshape(n, 1, side, side)
    raise ValueError(f"the CNN takes images of {side}x{side} raw pixels ((N, {side * side}), (N, 1, {side}, "
                     f"{side})) or whole 28x28 images (which it centre-crops), got {tuple(x.shape)}.")


class QuantCNN(nn.Module):
    """A small quantized CNN: per layer QuantConv2d (stride 2, no bias) + BatchNorm2d + QuantReLU, then
    flatten and a QuantLinear classifier. FINN lowers each convolution to a sliding-window generator
    (ConvolutionInputGenerator_rtl) feeding an MVAU_rtl, so with >= 4-bit weights and activations the
    whole network is RTL (``docs/networks_cnn.md``)."""

    def __init__(self, cfg: CNNConfig | None = None, **kwargs):
        super().__init__()
        from brevitas.nn import QuantConv2d, QuantLinear, QuantReLU

        self.cfg = cfg or CNNConfig(**kwargs)
        c = self.cfg
        if not 0.0 <= float(c.dropout) < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {c.dropout}.")
        layers: list[nn.Module] = []
        prev = 1
        for ch in c.channels:
            layers += [QuantConv2d(prev, ch, c.kernel, stride=c.stride, bias=False,
                                   weight_bit_width=c.weight_bits),
                       nn.BatchNorm2d(ch), QuantReLU(bit_width=c.act_bits)]
            prev = ch
        layers.append(nn.Flatten())
        side = c.feature_sides()[-1]
        layers.append(QuantLinear(prev * side * side, c.num_classes, bias=False,
                                  weight_bit_width=c.weight_bits))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fit_to_image(x, self.cfg.side) * INPUT_SCALE
        p = float(self.cfg.dropout)
        for layer in self.layers:
            x = layer(x)
            if self.training and p > 0 and type(layer).__name__ == "QuantReLU":
                x = nn.functional.dropout(x, p, training=True)
        return x


# --------------------------------------------------------------------------- checkpoints

def checkpoint(net: nn.Module, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The saved form of a course network: ``{"kind", "config", "state_dict", "info"}``.

    ``kind`` is ``"quant"`` (``QuantMLP``, config = ``MLPConfig.to_dict()``), ``"cnn"`` (``QuantCNN``,
    ``CNNConfig.to_dict()``) or ``"float"``
    (``FloatMLP``, config = its shape); ``info`` holds free-form training facts (accuracy, seed...).
    """
    if isinstance(net, QuantMLP):
        kind, config = "quant", net.cfg.to_dict()
    elif isinstance(net, QuantCNN):
        kind, config = "cnn", net.cfg.to_dict()
    elif isinstance(net, FloatMLP):
        kind = "float"
        config = {"hidden": list(net.hidden), "in_features": net.in_features, "num_classes": net.num_classes}
    else:
        raise TypeError(f"expected a QuantMLP, QuantCNN or FloatMLP, got {type(net).__name__}.")
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return {"kind": kind, "config": config, "state_dict": state, "info": dict(info or {})}


def save_checkpoint(net: nn.Module, path: str | os.PathLike, info: dict[str, Any] | None = None) -> Path:
    """Save ``checkpoint(net, info)`` to ``path`` atomically (temp file + rename); return the path."""
    path = Path(path)
    with atomic_file(path) as f:  # a file object: the archive's inner name does not depend on the temp name
        torch.save(checkpoint(net, info), f)
    return path


def load_checkpoint(path: str | os.PathLike) -> nn.Module:
    """The network saved at ``path`` by :func:`save_checkpoint`, in eval mode.

    Parameters
    ----------
    path : str or os.PathLike
        A checkpoint file (``build/lab1/qnn_w4a4.pt``, or the shipped one in ``pretrained/lab1/``).

    Returns
    -------
    torch.nn.Module
        A ``QuantMLP``, ``QuantCNN`` or ``FloatMLP``; its ``.info`` holds what was saved with it.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a readable course checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train and save the network first "
                                "(or use the shipped one in pretrained/lab1/).")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); "
                         "delete it and save the network again.") from err
    if not isinstance(ck, dict) or "state_dict" not in ck or "config" not in ck:
        raise ValueError(f"{path} is not a course checkpoint (expected keys 'config' and 'state_dict').")
    if ck.get("kind", "quant") == "float":
        c = ck["config"]
        net: nn.Module = FloatMLP(tuple(c["hidden"]), c["in_features"], c["num_classes"])
    elif ck.get("kind") == "cnn":
        net = QuantCNN(CNNConfig.from_dict(ck["config"]))
    else:
        net = QuantMLP(MLPConfig.from_dict(ck["config"]))
    net.load_state_dict(ck["state_dict"])
    net.info = dict(ck.get("info") or {})  # type: ignore[assignment]  # a plain attribute, not a submodule
    return net.eval()
