"""A layer by hand: integer-only inference of the exported MLP in numpy (Lab 2, notebook 00).

The exported, verified dataflow model (the deploy package's ``dataflow.npz``) holds every layer as
integers: ``W`` of each matrix-vector unit (FINN's MVAU) and ``T`` of each thresholding unit. This
module reads them and runs the network the way the hardware does: unsigned 8-bit pixels, integer
dot products into a wide accumulator, requantization back to 4 bits, integer logits, argmax.

Requantization two ways:

* ``requant_thresholds``: FINN's way, count the thresholds the accumulator reaches (exact).
* by shift (``infer(style="shift")``; students write it as Exercise 0.3, so the kit has no
  ``requant_shift``): a multiplier per channel, then an arithmetic shift that truncates (floor), as
  the blog's ``TruncateLSB`` layer does; ``shift_params`` derives the integer multiplier and offset
  from the thresholds, so the error it makes is only the rounding of those two integers.

The hardware unit that computes one layer's dot products lives in ``course_utils.handbuilt_hdl``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils import paths

DEPLOY = ("lab2", "deploy", "mnist_w4a4")
"""Where the deploy package lives, under ``build/`` (the learner's own) or ``pretrained/`` (shipped)."""
LAYERS = (("MVAU_rtl_0", "Thresholding_rtl_0"), ("MVAU_rtl_1", "Thresholding_rtl_1"), ("MVAU_rtl_2", None))
"""(matrix-vector unit, thresholding unit) per layer; the last layer has no activation."""


@dataclass(frozen=True)
class IntegerMLP:
    """The integer parameters of the exported MLP: weights ``W[i]`` (in, out) and thresholds ``T[i]``."""

    W: tuple[np.ndarray, ...]
    T: tuple[np.ndarray, ...]
    source: Path
    x: np.ndarray
    """Golden batch inputs (N, inputs) uint8 (the 20x20 centre crops by default), shipped with the model."""
    y_int: np.ndarray
    """The exported model's integer outputs on ``x`` (N, 10)."""


def deploy_folder(folder: str | Path | None = None) -> Path:
    """The deploy package to read: ``folder``, else ``build/lab2/...``, else the shipped fallback."""
    if folder is not None:
        path = Path(folder)
    else:
        own = paths.build_dir(*DEPLOY, create=False)
        path = own if (own / "dataflow.npz").is_file() else paths.pretrained_dir(*DEPLOY)
    if not (path / "dataflow.npz").is_file() or not (path / "golden.npz").is_file():
        raise FileNotFoundError(f"{path} has no dataflow.npz/golden.npz: run Lab 2 notebook 04 to write "
                                "the deploy package, or restore the shipped pretrained/ folder "
                                "(git checkout).")
    return path


def load(folder: str | Path | None = None) -> IntegerMLP:
    """Read the integer weights, thresholds and the golden batch of the exported model."""
    path = deploy_folder(folder)
    with np.load(path / "dataflow.npz") as arrays, np.load(path / "golden.npz") as golden:
        missing = [f"{m}.W" for m, _ in LAYERS if f"{m}.W" not in arrays]
        missing += [f"{t}.T" for _, t in LAYERS if t and f"{t}.T" not in arrays]
        if missing:
            raise KeyError(f"{path / 'dataflow.npz'} lacks {', '.join(missing)}: this notebook needs the "
                           "course's MLP (three all-RTL MVAU layers, two Thresholding layers).")
        W = tuple(np.asarray(arrays[f"{m}.W"], dtype=np.int64) for m, _ in LAYERS)
        T = tuple(np.asarray(arrays[f"{t}.T"], dtype=np.int64) for _, t in LAYERS if t)
        return IntegerMLP(W=W, T=T, source=path, x=np.asarray(golden["x"], dtype=np.uint8),
                          y_int=np.asarray(golden["y_int"], dtype=np.int64))


def accumulator_range(W: np.ndarray, in_min: int, in_max: int) -> tuple[int, int]:
    """Smallest and largest accumulator value a layer can reach, over all its output channels."""
    W = np.asarray(W, dtype=np.int64)
    pos, neg = np.clip(W, 0, None).sum(0), np.clip(W, None, 0).sum(0)
    hi = pos * in_max + neg * in_min
    lo = pos * in_min + neg * in_max
    return int(lo.min()), int(hi.max())


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the two's-complement integer that holds every value in ``[lo, hi]``."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def requant_thresholds(acc: np.ndarray, T: np.ndarray) -> np.ndarray:
    """FINN's MultiThreshold: output = how many of channel c's thresholds ``acc`` reaches (>=)."""
    return (np.asarray(acc)[..., :, None] >= T[None, :, :]).sum(-1).astype(np.int64)


def shift_params(T: np.ndarray, shift: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Integer multiplier ``M`` and offset ``B`` per channel so that ``(acc*M + B) >> shift`` ~ thresholds.

    The thresholds of channel c are (up to rounding) ``alpha + beta*k`` for k = 1..levels: a straight line
    fitted through them gives the float scale ``1/beta``; ``M`` and ``B`` are that line scaled by
    ``2**shift`` and rounded to integers."""
    T = np.asarray(T, dtype=np.float64)
    k = np.arange(1, T.shape[1] + 1, dtype=np.float64)
    beta, alpha = np.polyfit(k, T.T, 1)
    if np.any(beta <= 0):
        raise ValueError("a channel's thresholds decrease: a negative scale cannot be a right shift.")
    M = np.round((1 << shift) / beta).astype(np.int64)
    B = np.round(-alpha * (1 << shift) / beta).astype(np.int64)
    return M, B


def infer(mlp: IntegerMLP, x: np.ndarray, style: str = "thresholds", shift: int = 16) -> np.ndarray:
    """Integer logits (N, 10) of uint8 inputs ``x`` (N, inputs), requantizing by ``style``."""
    if style not in ("thresholds", "shift"):
        raise ValueError(f"style must be 'thresholds' or 'shift', not {style!r}.")
    h = np.asarray(x).reshape(len(x), -1).astype(np.int64)
    for i, W in enumerate(mlp.W):
        acc = h @ W
        if i == len(mlp.T):
            return acc
        T = mlp.T[i]
        if style == "thresholds":
            h = requant_thresholds(acc, T)
        else:
            M, B = shift_params(T, shift)
            h = np.clip((acc * M + B) >> shift, 0, T.shape[1])   # Exercise 0.3's unit, inline
    raise AssertionError("unreachable: the last layer returns")


def argmax_first(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class (first maximum, as ``np.argmax`` and FINN's TopK) and a mask of exact ties."""
    y = np.asarray(y)
    top = y.max(1, keepdims=True)
    return y.argmax(1), (y == top).sum(1) > 1
