"""Numpy executor of a deploy package's verified dataflow model (what the accelerator computes).

The accelerator of the course is a chain of FINN layers; ``accelerator.json`` lists them under
``"layers"`` and ``dataflow.npz`` holds their parameters as integer arrays. This module runs that
chain with numpy alone (it must import on a PYNQ board and in the board env, where FINN, qonnx and
torch are absent), bit-exactly as FINN's own Python execution of the dataflow model:

* ``MVAU``: integer matrix-vector product ``x @ W`` (``W`` is ``(MW, MH)``), optionally followed by
  thresholds (FINN's "fused" activation) and ``act_val``; XNOR-popcount for binary layers.
* ``Thresholding``: per channel, the number of thresholds ``<= x``, plus ``act_val``
  (``BIPOLAR`` outputs map ``{0, 1} -> {-1, +1}``).
* ``LabelSelect``: indices of the ``K`` largest values.
* ``ConvolutionInputGenerator``: the sliding window of a convolution (FINN's ``Im2Col``): from an NHWC
  image ``(H, W, C)`` every ``k x k`` window, in output-pixel order, each as ``(ky, kx, c)``; the MVAU
  after it multiplies each window (``numInputVectors`` = output pixels) by the same weights.

Activations travel between layers as ``(N, values)`` in FINN's stream order (NHWC for images); each layer
reads them as vectors of its own width (an MVAU: ``MW``; a Thresholding layer: its channels).

Every layer checks that its input and output fit their FINN datatypes and raises a ``ValueError``
naming the layer when they do not (on hardware such values would silently wrap).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

SUPPORTED_OPS = ("MVAU", "Thresholding", "LabelSelect", "ConvolutionInputGenerator")
_FLOAT_EXACT = 2.0**52  # float64 integer arithmetic is exact below this magnitude
_FLOAT32_EXACT = 2.0**24  # ... and float32 below this one


@dataclass(frozen=True)
class IntType:
    """A FINN integer datatype by name: its value range and whether it is bipolar."""

    name: str
    min: int
    max: int

    @property
    def bipolar(self) -> bool:
        return self.name == "BIPOLAR"

    def check(self, values: np.ndarray, what: str) -> None:
        """Raise ValueError if ``values`` are not integers within this datatype's range."""
        if values.size == 0:
            return
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise ValueError(f"{what}: values are not finite (expected {self.name} integers).")
        if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
            raise ValueError(f"{what}: values are not integers (expected {self.name}).")
        lo, hi = values.min(), values.max()
        if lo < self.min or hi > self.max:
            raise ValueError(
                f"{what}: values span [{lo:g}, {hi:g}] but the datatype {self.name} holds "
                f"[{self.min}, {self.max}]; the hardware would wrap them silently."
            )
        if self.bipolar and np.any(values == 0):
            raise ValueError(f"{what}: BIPOLAR values must be -1 or +1, found 0.")


def int_type(name: str) -> IntType:
    """The :class:`IntType` of a FINN datatype name (``UINT8``, ``INT4``, ``BIPOLAR``, ``BINARY``...)."""
    name = str(name).strip()
    m = re.fullmatch(r"(U?)INT(\d+)", name)
    if m:
        bits = int(m.group(2))
        if m.group(1):
            return IntType(name, 0, 2**bits - 1)
        return IntType(name, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    fixed = {"BIPOLAR": (-1, 1), "BINARY": (0, 1), "TERNARY": (-1, 1)}
    if name in fixed:
        return IntType(name, *fixed[name])
    raise ValueError(
        f"datatype {name!r} is not an integer FINN datatype; the numpy executor supports "
        "UINTn, INTn, BIPOLAR, BINARY and TERNARY."
    )


def _absmax(a: np.ndarray) -> float:
    """Largest magnitude in ``a`` (0 for an empty array), without a temporary copy."""
    return float(max(abs(int(a.min())), abs(int(a.max())))) if a.size else 0.0


def _matmul_exact(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer ``x @ w`` exactly, on the fastest exact path.

    BLAS in float32 when every partial sum stays below 2**24 (integers are exact there), float64
    below 2**52, else int64 (no BLAS, slow but exact).
    """
    bound = _absmax(x) * _absmax(w) * w.shape[0]
    for limit, ftype in ((_FLOAT32_EXACT, np.float32), (_FLOAT_EXACT, np.float64)):
        if bound < limit:
            return np.rint(x.astype(ftype) @ w.astype(ftype)).astype(np.int64)
    return x.astype(np.int64) @ w.astype(np.int64)


def _count_thresholds(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per channel (last axis of ``x``), how many thresholds are ``<= x`` (FINN's MultiThreshold)."""
    n, c = x.shape
    t = np.broadcast_to(thresholds, (c, thresholds.shape[1])) if thresholds.shape[0] == 1 else thresholds
    if np.all(np.diff(t, axis=1) >= 0):  # sorted rows: binary search per channel (rows contiguous)
        xt = np.ascontiguousarray(x.T)
        out_t = np.empty((c, n), dtype=np.int64)
        for ch in range(c):
            out_t[ch] = np.searchsorted(t[ch], xt[ch], side="right")
        return out_t.T
    out = np.empty((n, c), dtype=np.int64)
    step = max(1, (1 << 22) // max(1, c * t.shape[1]))  # bound the boolean temporary to ~4 MB
    for i in range(0, n, step):
        out[i : i + step] = np.count_nonzero(x[i : i + step, :, None] >= t[None, :, :], axis=2)
    return out


@dataclass
class Layer:
    """One layer of the chain: its ``accelerator.json`` entry and its parameter arrays."""

    spec: dict[str, Any]
    weights: np.ndarray | None = None
    thresholds: np.ndarray | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def op(self) -> str:
        return str(self.spec["op"])

    def run(self, x: np.ndarray) -> np.ndarray:
        """Apply this layer to ``x`` of shape ``(N, values)`` (stream order); integer in, integer out."""
        spec = self.spec
        int_type(spec["input_dt"]).check(x, f"layer {self.name} ({self.op}) input")
        n = x.shape[0]
        if self.op == "MVAU":
            y = self._mvau(self._vectors(x, int(spec["MW"]))).reshape(n, -1)
        elif self.op == "Thresholding":
            y = self._activate(self._vectors(x, int(spec["channels"]))).reshape(n, -1)
        elif self.op == "ConvolutionInputGenerator":
            y = self._windows(x)
        else:  # LabelSelect
            k = int(spec.get("K", 1))
            # onnxruntime's TopK: largest first, ties broken by the lower index
            y = np.argsort(-x.astype(np.int64), axis=1, kind="stable")[:, :k].astype(np.int64)
        int_type(spec["output_dt"]).check(y, f"layer {self.name} ({self.op}) output")
        return y

    def _vectors(self, x: np.ndarray, width: int) -> np.ndarray:
        """``x`` ``(N, values)`` as ``(N * vectors, width)`` (one row per pixel for a convolution)."""
        if x.shape[1] % width:
            raise ValueError(f"layer {self.name} ({self.op}): {x.shape[1]} values per sample are not a whole "
                             f"number of {width}-wide vectors; the package's layers do not fit together.")
        return x.reshape(-1, width)

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """The sliding windows of NHWC images ``(N, H*W*C)``: ``(N, OH*OW*k*k*C)``, each ``(ky, kx, c)``."""
        spec = self.spec
        (h, w), c = spec["IFMDim"], int(spec["IFMChannels"])
        (kh, kw), (sh, sw), (dh, dw) = spec["ConvKernelDim"], spec["Stride"], spec["Dilation"]
        (oh, ow) = spec["OFMDim"]
        if x.shape[1] != h * w * c:
            raise ValueError(f"layer {self.name}: expected {h}x{w}x{c} = {h * w * c} values per image, got "
                             f"{x.shape[1]}.")
        img = x.reshape(-1, h, w, c)
        rows = (np.arange(oh) * sh)[:, None, None, None] + (np.arange(kh) * dh)[None, None, :, None]
        cols = (np.arange(ow) * sw)[None, :, None, None] + (np.arange(kw) * dw)[None, None, None, :]
        win = img[:, rows, cols, :]  # (N, OH, OW, KH, KW, C)
        return np.ascontiguousarray(win).reshape(len(img), -1)

    def _mvau(self, x: np.ndarray) -> np.ndarray:
        spec, w = self.spec, self.weights
        assert w is not None, "an MVAU layer has weights"
        if spec.get("binary_xnor") or (spec["input_dt"] == "BIPOLAR" and spec["weight_dt"] == "BIPOLAR"):
            x = x.astype(np.int64)  # uint8 arithmetic below would wrap
            xb = x if spec.get("binary_xnor") else (x + 1) // 2  # both operands as {0, 1}
            wb = w if spec.get("binary_xnor") else (w + 1) // 2
            acc = (_matmul_exact(2 * xb - 1, 2 * wb - 1) + w.shape[0]) // 2  # XNOR-popcount
        else:
            acc = _matmul_exact(x, w)
        if self.thresholds is None:
            return acc
        return self._activate(acc)

    def _activate(self, x: np.ndarray) -> np.ndarray:
        assert self.thresholds is not None
        y = _count_thresholds(x, self.thresholds)
        if int_type(self.spec["output_dt"]).bipolar:
            return 2 * y - 1
        return y + int(self.spec.get("act_val", 0))


class AcceleratorModel:
    """The accelerator's function, from a deploy package: ``run(x_int) -> y_int``, numpy only."""

    def __init__(
        self,
        layers: list[Layer],
        *,
        input_dt: str,
        output_dt: str,
        in_features: int,
        out_features: int,
        name: str = "accelerator",
    ):
        if not layers:
            raise ValueError("an accelerator needs at least one layer")
        self.layers = layers
        self.name = name
        self.input_dt, self.output_dt = input_dt, output_dt
        self.in_features, self.out_features = in_features, out_features

    @classmethod
    def from_description(cls, desc: dict[str, Any], params: Any, name: str | None = None) -> AcceleratorModel:
        """Build from an ``accelerator.json`` dict and the arrays of ``dataflow.npz`` (any mapping)."""
        specs = desc.get("layers")
        if not specs:
            raise ValueError(
                "accelerator.json has no 'layers': re-export the deploy package with the "
                "kit's writer (course_utils.hw.deploy.write_deploy_package)."
            )
        layers = []
        for spec in specs:
            lname = spec.get("name", "?")
            if spec.get("op") not in SUPPORTED_OPS:
                raise ValueError(
                    f"layer {lname}: op {spec.get('op')!r} is not supported by the numpy "
                    f"executor (supported: {', '.join(SUPPORTED_OPS)})."
                )
            arrays = {}
            for key in ("weights", "thresholds"):
                ref = spec.get(key)
                if ref is None:
                    continue
                if ref not in params:
                    raise ValueError(
                        f"layer {lname}: array {ref!r} missing from dataflow.npz; the "
                        "package is incomplete, re-export it."
                    )
                arrays[key] = np.asarray(params[ref])
            layer = Layer(dict(spec), **arrays)
            _check_shapes(layer)
            layers.append(layer)
        inp, out = desc["input"], desc["output"]
        return cls(
            layers,
            input_dt=inp["datatype"],
            output_dt=out["datatype"],
            in_features=int(np.prod(inp["shape_normal"][1:])),
            out_features=int(np.prod(out["shape_normal"][1:])),
            name=name or desc.get("name", "accelerator"),
        )

    @classmethod
    def from_package(cls, path: str | Path) -> AcceleratorModel:
        """Load ``accelerator.json`` + ``dataflow.npz`` from a deploy package folder."""
        folder = Path(path)
        jpath, npath = folder / "accelerator.json", folder / "dataflow.npz"
        for p in (jpath, npath):
            if not p.is_file():
                raise FileNotFoundError(
                    f"{p} not found: {folder} is not a complete deploy package "
                    "(expected accelerator.json and dataflow.npz)."
                )
        desc = json.loads(jpath.read_text())
        with np.load(npath, allow_pickle=False) as npz:
            params = {k: npz[k] for k in npz.files}
        return cls.from_description(desc, params)

    @overload
    def run(self, x: np.ndarray, *, return_all: Literal[False] = False) -> np.ndarray: ...

    @overload
    def run(self, x: np.ndarray, *, return_all: Literal[True]) -> list[np.ndarray]: ...

    def run(self, x: np.ndarray, *, return_all: bool = False) -> np.ndarray | list[np.ndarray]:
        """Integer outputs ``(N, out_features)`` for integer inputs ``(N, in_features)``."""
        a = np.asarray(x)
        if a.ndim == 1:
            a = a[None, :]
        a = a.reshape(a.shape[0], -1)
        if a.shape[1] != self.in_features:
            raise ValueError(
                f"{self.name}: expected inputs of {self.in_features} values per sample, got "
                f"shape {np.shape(x)}."
            )
        if a.dtype.kind not in "iub":
            int_type(self.input_dt).check(a, f"{self.name} input")
            a = a.astype(np.int64)
        outs = []
        for layer in self.layers:
            a = layer.run(a)
            outs.append(a)
        return outs if return_all else a

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices: argmax of the integer outputs (or the labels, for a LabelSelect tail)."""
        y = self.run(x)
        return y[:, 0] if self.layers[-1].op == "LabelSelect" else np.argmax(y, axis=1)

    def __repr__(self) -> str:
        chain = " -> ".join(f"{layer.name}" for layer in self.layers)
        return (
            f"AcceleratorModel({self.name}: {self.input_dt}[{self.in_features}] -> {chain} -> "
            f"{self.output_dt}[{self.out_features}])"
        )


def _check_shapes(layer: Layer) -> None:
    """Raise ValueError when a layer's arrays disagree with its sizes in accelerator.json."""
    spec, name = layer.spec, layer.name
    if layer.op == "MVAU":
        if layer.weights is None:
            raise ValueError(f"layer {name}: MVAU without weights")
        if layer.weights.shape != (spec["MW"], spec["MH"]):
            raise ValueError(
                f"layer {name}: weights have shape {layer.weights.shape}, expected "
                f"(MW, MH) = ({spec['MW']}, {spec['MH']})."
            )
        channels = spec["MH"]
    elif layer.op == "Thresholding":
        if layer.thresholds is None:
            raise ValueError(f"layer {name}: Thresholding without thresholds")
        channels = spec["channels"]
    elif layer.op == "ConvolutionInputGenerator":
        missing = [k for k in ("IFMDim", "IFMChannels", "ConvKernelDim", "Stride", "Dilation", "OFMDim")
                   if k not in spec]
        if missing:
            raise ValueError(f"layer {name}: sliding window without {', '.join(missing)} in "
                             "accelerator.json; re-export the deploy package.")
        return
    else:
        return
    t = layer.thresholds
    if t is not None and (t.ndim != 2 or t.shape[0] not in (1, channels)):
        raise ValueError(f"layer {name}: thresholds have shape {t.shape}, expected ({channels}, steps).")
