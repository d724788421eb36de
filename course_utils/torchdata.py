"""PyTorch views of the course datasets (host only): raw-pixel tensors and seeded loaders.

Inputs are float32 raw pixel values 0..255 shaped ``(N, 400)``: the 20x20 centre crop of each 28x28
image (``crop``; ``tensors(..., crop=None)`` keeps all 784). The networks scale them by 1/255
themselves (see ``course_utils.models``), exactly as the FPGA receives UINT8 pixels.
Labels are int64 (what ``nn.CrossEntropyLoss`` expects). ``random_shift_crop`` is the training-time
augmentation: the crop window moved by up to +-1 pixel per image (a random shift of the digit).
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_utils import data
from course_utils.models import CROP, IMAGE_SIDE


class Loaders(NamedTuple):
    """The loaders of a dataset: ``train`` (shuffled), ``test`` and ``val`` (None without a val split)."""

    train: DataLoader
    test: DataLoader
    val: DataLoader | None


def _as_images(images):
    """``images`` (numpy or torch) as ``(N, 28, 28)`` (accepts ``(N, 784)`` rows)."""
    shape = tuple(images.shape)
    if len(shape) == 2 and shape[1] == IMAGE_SIDE * IMAGE_SIDE:
        return images.reshape(shape[0], IMAGE_SIDE, IMAGE_SIDE)
    if len(shape) != 3 or shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected images shaped (N, 28, 28) or (N, 784), got {shape}.")
    return images


def crop(images, size: int = CROP):
    """The centre ``size`` x ``size`` crop of 28x28 images, flattened: ``(N, size*size)``, same type and
    dtype as ``images`` (numpy or torch; ``(N, 28, 28)`` or ``(N, 784)``). ``crop(x, 20)``: 400 pixels."""
    size = int(size)
    if not 1 <= size <= IMAGE_SIDE:
        raise ValueError(f"crop size must be 1..{IMAGE_SIDE}, got {size}.")
    img = _as_images(images)
    lo = (IMAGE_SIDE - size) // 2
    return img[:, lo:lo + size, lo:lo + size].reshape(img.shape[0], size * size)


_center_crop = crop  # ``tensors`` has an argument of that name


def random_shift_crop(images: torch.Tensor, size: int = CROP, shift: int = 1,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Training augmentation: each image's ``size`` crop window moved by a random ``(dy, dx)`` in
    ``-shift..shift`` (from ``generator``: seeded, reproducible); ``(N, size*size)``."""
    img = _as_images(images)
    lo = (IMAGE_SIDE - int(size)) // 2
    if not 0 <= int(shift) <= lo:
        raise ValueError(f"shift must be 0..{lo} for a {size}x{size} crop, got {shift}.")
    n, k = img.shape[0], 2 * int(shift) + 1
    offs = torch.randint(0, k * k, (n,), generator=generator)
    out = torch.empty((n, int(size) * int(size)), dtype=img.dtype)
    for o in range(k * k):
        sel = (offs == o).nonzero(as_tuple=True)[0]
        if len(sel):
            r, c = lo + o // k - int(shift), lo + o % k - int(shift)
            out[sel] = img[sel, r:r + size, c:c + size].reshape(len(sel), -1)
    return out


def tensors(name: str, split: str = "train", *, crop: int | None = CROP,
            data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x float32 (N, 400) raw pixels 0..255, y int64 (N,))`` of a split (new, writable tensors):
    the centre ``crop`` x ``crop`` of each image (``crop=None``: all 784 pixels)."""
    images, labels = data.load(name, split, data_dir=data_dir)
    flat = images.reshape(len(images), -1) if crop is None else _center_crop(images, crop)
    x = torch.from_numpy(flat.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def _val_count(val_size: int | float, n: int) -> int:
    """The number of validation samples: an int count or a fraction in [0, 1)."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise ValueError(f"val_size must be a count or a fraction, got {val_size!r}")
    count = int(round(val_size * n)) if isinstance(val_size, float) and 0 < val_size < 1 else val_size
    if count != int(count) or not 0 <= int(count) < n:
        raise ValueError(f"val_size={val_size!r}: give a whole count from 0 to {n - 1} "
                         "or a fraction between 0 and 1 of the training split.")
    return int(count)


def _loader(ds: TensorDataset, batch_size: int, generator: torch.Generator | None,
            num_workers: int) -> DataLoader:
    """A DataLoader; with ``generator`` it reshuffles every epoch from that seeded generator."""
    return DataLoader(ds, batch_size=batch_size, shuffle=generator is not None, generator=generator,
                      num_workers=num_workers)


def loaders(name: str, batch_size: int = 256, seed: int = 0, val_size: int | float = 0,
            num_workers: int = 0, *, data_dir: str | os.PathLike | None = None) -> Loaders:
    """Seeded ``DataLoader``s of a dataset: ``Loaders(train, test, val)``.

    ``val_size`` (a count or a fraction) samples are held out of the training split at random
    (seeded); ``val`` is None when it is 0. The same seed gives the same batches in the same order."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    x, y = tensors(name, "train", data_dir=data_dir)
    n_val = _val_count(val_size, len(x))
    val = None
    if n_val:
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
        val = _loader(TensorDataset(x[val_idx], y[val_idx]), batch_size, None, num_workers)
        x, y = x[train_idx], y[train_idx]
    shuffle = torch.Generator().manual_seed(seed + 1)
    train = _loader(TensorDataset(x, y), batch_size, shuffle, num_workers)
    test = _loader(TensorDataset(*tensors(name, "test", data_dir=data_dir)), batch_size, None, num_workers)
    return Loaders(train, test, val)
