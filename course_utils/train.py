"""Seeded, reproducible training of the course networks on CPU: ``train``, ``evaluate``, ``predict``.

Data is given as tensors ``(x, y)``: ``x`` raw pixels 0..255 (float32 ``(N, 400)`` centre crops, or
whole images ``(N, 784)`` / uint8 ``(N, 28, 28)`` which the networks centre-crop), ``y`` class labels.
``course_utils.torchdata.tensors(name, split)`` returns exactly that. Any iterable of ``(xb, yb)``
batches (a ``DataLoader``) works for training too.

The recipes that meet the course targets (see ``recipe``): Adam, cosine learning-rate schedule,
batch 256, lr 1e-3; the default W4A4 network 30 epochs with +-1-pixel random shifts (``shift=1``:
the crop window moves per image, ``torchdata.random_shift_crop``) and dropout 0.1 (``MLPConfig``),
which gives >= 98.3% on MNIST; other bit widths 12 epochs with the same shifts; binary (W1A1) 15
epochs at lr 1e-2; the float baseline 12 epochs without shifts.
Set ``COURSE_QUICK=1`` to shorten every ``epochs(n)`` to 1 (the kit's tests use it).
"""
from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

    from course_utils.models import MLPConfig

THREADS = 2
QUICK_ENV = "COURSE_QUICK"
SWEEP_CONFIGS = ((1, 1), (2, 2), (4, 4), (8, 8))


def seed_everything(seed: int = 0, threads: int = THREADS) -> None:
    """Seed Python, numpy and torch and fix torch's CPU thread count (results depend on it).

    Parameters
    ----------
    seed : int, default 0
    threads : int, default THREADS (2)
        torch's intra-op CPU threads: the same seed with another thread count gives other results.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(int(threads))


def quick() -> bool:
    """True when ``COURSE_QUICK`` is set (tests shorten training with it)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def epochs(n: int) -> int:
    """``n``, or 1 when ``COURSE_QUICK=1`` (so a test can run a notebook's training cells fast)."""
    return 1 if quick() else int(n)


@dataclass(frozen=True)
class Recipe:
    """Training hyper-parameters."""

    epochs: int = 12
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    shift: int = 0


DEFAULT_RECIPE = Recipe(epochs=30, shift=1)
CNN_EPOCHS = 24
"""Epochs of the CNN recipe (the 16->32-channel W4A4 CNN: about 99.1% on MNIST, ``bench/cnn.py``)."""


def recipe(cfg: MLPConfig | None = None) -> Recipe:
    """The recipe that met the course targets for ``cfg`` (None: the float baseline)."""
    from course_utils.models import CNNConfig, MLPConfig

    if cfg is None:
        return Recipe()
    if isinstance(cfg, CNNConfig):  # whole 28x28 images leave no room for shifts
        return Recipe(epochs=CNN_EPOCHS, shift=1 if cfg.side < 28 else 0)
    if cfg.weight_bits == 1 or cfg.act_bits == 1:
        return Recipe(epochs=15, lr=1e-2, shift=1)
    if (cfg.weight_bits, cfg.act_bits, tuple(cfg.hidden)) == (4, 4, MLPConfig().hidden):
        return DEFAULT_RECIPE
    return Recipe(shift=1)


@dataclass
class History:
    """Per-epoch training record; ``seconds`` is the pure training time (evaluation excluded)."""

    epoch: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)

    @property
    def final_test_acc(self) -> float | None:
        """Test accuracy after the last epoch (None without test data)."""
        return self.test_acc[-1] if self.test_acc else None


# --------------------------------------------------------------------------- data conversion

def as_inputs(x: Any) -> torch.Tensor:
    """Raw pixels as float32 ``(N, features)``: ``(N, 400)`` crops, ``(N, 784)`` or ``(N, 28, 28)`` images
    (flattened; the networks centre-crop whole images themselves)."""
    import torch

    if not isinstance(x, torch.Tensor):
        arr = np.asarray(x)
        x = torch.from_numpy(arr if arr.flags.writeable else arr.astype(np.float32))
    t = x
    if t.ndim == 3:
        t = t.reshape(t.shape[0], -1)
    if t.ndim != 2:
        raise ValueError(f"expected inputs shaped (N, 400), (N, 784) or (N, 28, 28), got {tuple(t.shape)}: "
                         "add a batch dimension with x[None] for a single image.")
    if t.is_floating_point() and t.numel() and float(t.max()) <= 1.0 and float(t.min()) >= 0.0 \
            and float(t.max()) > 0.0:
        raise ValueError("inputs look scaled to 0..1, but the course networks take raw pixels 0..255 "
                         "(they scale by 1/255 themselves): pass the uint8 images or x * 255.")
    return t.to(torch.float32)


def as_labels(y: Any, n: int | None = None) -> torch.Tensor:
    """Labels as int64 ``(N,)``; checks the length against ``n`` when given."""
    import torch

    t = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.array(y, dtype=np.int64))
    t = t.reshape(-1).to(torch.int64)
    if n is not None and len(t) != n:
        raise ValueError(f"got {n} inputs but {len(t)} labels: pass matching (x, y).")
    return t


def _pair(data: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a ``(x, y)`` tuple of arrays or tensors."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{what} must be a pair (x, y), e.g. torchdata.tensors('mnist', 'test'); "
                        f"got {type(data).__name__}.")
    x = as_inputs(data[0])
    return x, as_labels(data[1], len(x))


# --------------------------------------------------------------------------- evaluation

def logits(net: nn.Module, x: Any, batch_size: int = 2048) -> np.ndarray:
    """The network's outputs (float32 ``(N, classes)``) in eval mode, without gradients."""
    import torch

    xt = as_inputs(x)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            outs = [net(xt[i:i + batch_size]) for i in range(0, len(xt), batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)


def predict(net: nn.Module, x: Any, batch_size: int = 2048) -> np.ndarray:
    """Predicted classes (int64 ``(N,)``) of the network for raw-pixel inputs."""
    return np.asarray(logits(net, x, batch_size).argmax(axis=1), dtype=np.int64)


def evaluate(net: nn.Module, data: Any, batch_size: int = 2048) -> dict[str, float]:
    """Loss and accuracy of ``net`` on a labelled batch.

    Parameters
    ----------
    net : torch.nn.Module
        The network (float or quantized).
    data : tuple of array_like
        ``(x, y)``: raw pixels as the network takes them and integer labels.
    batch_size : int, default 2048

    Returns
    -------
    dict of str to float
        ``{"loss": mean cross-entropy, "accuracy": fraction correct}``.
    """
    import torch

    x, y = _pair(data, "data")
    out = torch.from_numpy(logits(net, x, batch_size))
    loss = torch.nn.functional.cross_entropy(out, y).item()
    acc = (out.argmax(1) == y).float().mean().item()
    return {"loss": float(loss), "accuracy": float(acc)}


def confusion_matrix(labels: Any, preds: Any, num_classes: int = 10) -> np.ndarray:
    """Counts ``cm[true, predicted]`` (int64 ``(num_classes, num_classes)``)."""
    t = np.asarray(labels).astype(np.int64).reshape(-1)
    p = np.asarray(preds).astype(np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"labels ({t.size}) and predictions ({p.size}) differ in length.")
    for name, a in (("labels", t), ("predictions", p)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}, found {a.min()}..{a.max()}.")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


# --------------------------------------------------------------------------- training

def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
             gen: torch.Generator) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled pass over ``(x, y)`` in mini-batches (order from the seeded generator)."""
    import torch

    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        yield x[idx], y[idx]


def train(net: nn.Module, train_data: Any, test_data: Any = None, *, epochs: int = 12, lr: float = 1e-3,
          batch_size: int = 256, weight_decay: float = 0.0, shift: int = 0, seed: int = 0,
          progress: bool = True, desc: str | None = None) -> History:
    """Train ``net`` in place with Adam + cosine schedule; return its ``History``.

    ``train_data`` is ``(x, y)`` (shuffled here from ``seed``) or an iterable of batches such as a
    ``DataLoader``; ``test_data`` ``(x, y)`` is evaluated after every epoch. ``shift`` > 0 moves each
    training image's crop window by a random -shift..shift pixels (``torchdata.random_shift_crop``):
    ``train_data`` must then hold whole images (``torchdata.tensors(name, split, crop=None)``). The
    same seed, data and thread count give the same weights.

    Parameters
    ----------
    net : torch.nn.Module
        The network to train (changed in place).
    train_data : tuple of array_like or iterable of batches
        ``(x, y)`` or a ``DataLoader``.
    test_data : tuple of array_like, optional
        ``(x, y)`` evaluated after every epoch.
    epochs : int, default 12
    lr : float, default 1e-3
        Adam's peak learning rate (cosine schedule).
    batch_size : int, default 256
    weight_decay : float, default 0.0
    shift : int, default 0
        Random crop shift in pixels (augmentation); needs whole images.
    seed : int, default 0
    progress : bool, default True
        A tqdm bar per epoch.
    desc : str, optional
        The bar's label.

    Returns
    -------
    History
        Per-epoch loss and accuracies.
    """
    import torch
    from tqdm.auto import tqdm

    from course_utils.torchdata import random_shift_crop

    if int(epochs) < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    shift_gen = torch.Generator().manual_seed(seed + 2)
    in_features = getattr(getattr(net, "cfg", None), "in_features", getattr(net, "in_features", None))
    side = int(round((in_features or 0) ** 0.5))
    if shift and (not in_features or side * side != in_features or side >= 28):
        raise ValueError(f"shift={shift} needs a network that takes a square crop of the 28x28 images "
                         f"(in_features 400 = 20x20), this one takes {in_features}: use shift=0.")
    if isinstance(train_data, (tuple, list)):
        x, y = _pair(train_data, "train_data")
        steps_per_epoch = math.ceil(len(x) / batch_size)
        epoch_batches = lambda: _batches(x, y, batch_size, gen)  # noqa: E731
    else:
        steps_per_epoch = len(train_data)
        epoch_batches = lambda: ((as_inputs(xb), as_labels(yb)) for xb, yb in train_data)  # noqa: E731
    test = _pair(test_data, "test_data") if test_data is not None else None
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    hist = History()
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc or "training", unit="batch",
               disable=not progress, mininterval=0.5)
    try:
        for ep in range(1, epochs + 1):
            t0 = time.perf_counter()
            net.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for step, (xb, yb) in enumerate(epoch_batches()):
                if shift:
                    if xb.shape[1] != 28 * 28:
                        raise ValueError(f"shift={shift} moves the crop window inside whole images: give "
                                         "train_data as (N, 784) images (torchdata.tensors(name, split, "
                                         f"crop=None)), got {tuple(xb.shape)}.")
                    xb = random_shift_crop(xb, side, shift, shift_gen)
                out = net(xb)
                loss = torch.nn.functional.cross_entropy(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(yb)
                correct += int((out.argmax(1) == yb).sum())
                seen += len(yb)
                bar.update(1)
                if step % 25 == 0:
                    bar.set_postfix(epoch=ep, loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}",
                                    refresh=False)
            hist.seconds += time.perf_counter() - t0
            if seen == 0:
                raise ValueError("train_data yielded no batches: check that it is not empty.")
            hist.epoch.append(ep)
            hist.lr.append(float(opt.param_groups[0]["lr"]))
            hist.train_loss.append(loss_sum / seen)
            hist.train_acc.append(correct / seen)
            post = {"epoch": ep, "loss": f"{loss_sum / seen:.4f}", "acc": f"{correct / seen:.4f}"}
            if test is not None:
                ev = evaluate(net, test)
                hist.test_loss.append(ev["loss"])
                hist.test_acc.append(ev["accuracy"])
                post["test_acc"] = f"{ev['accuracy']:.4f}"
            bar.set_postfix(post)
    finally:
        bar.close()
    net.eval()
    return hist


def fit(cfg: MLPConfig | None, dataset: str = "mnist", *, seed: int = 0, n_epochs: int | None = None,
        progress: bool = True) -> tuple[nn.Module, History]:
    """Build and train the course MLP for ``cfg`` (None: the float baseline; a ``CNNConfig``: a
    ``QuantCNN``) with its ``recipe``.

    Returns ``(net, history)``; ``n_epochs`` overrides the recipe (``epochs(...)`` honours
    ``COURSE_QUICK``).
    """
    from course_utils import torchdata
    from course_utils.models import CNNConfig, FloatMLP, QuantCNN, QuantMLP

    r = recipe(cfg)
    seed_everything(seed)
    net = FloatMLP() if cfg is None else QuantCNN(cfg) if isinstance(cfg, CNNConfig) else QuantMLP(cfg)
    n = epochs(r.epochs if n_epochs is None else n_epochs)
    side = cfg.side if isinstance(cfg, CNNConfig) else torchdata.CROP
    train_xy = torchdata.tensors(dataset, "train", crop=None if r.shift else side)
    hist = train(net, train_xy, torchdata.tensors(dataset, "test", crop=side), epochs=n,
                 lr=r.lr, batch_size=r.batch_size, weight_decay=r.weight_decay, shift=r.shift, seed=seed,
                 progress=progress, desc=f"{dataset} {'float' if cfg is None else cfg.tag}")
    return net, hist


def sweep(bit_widths: Iterable[tuple[int, int]] = SWEEP_CONFIGS, dataset: str = "mnist", *, seed: int = 0,
          n_epochs: int | None = None, progress: bool = True,
          done: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Train one ``QuantMLP`` per ``(weight_bits, act_bits)``; return ``{tag: result}``.

    Each result holds ``weight_bits``, ``act_bits``, ``accuracy``, ``epochs``, ``seconds`` (training
    time). Entries already in ``done`` (e.g. a W4A4 run you have) are reused, not retrained.
    """
    from course_utils.models import MLPConfig

    results: dict[str, dict[str, Any]] = {}
    for wb, ab in bit_widths:
        cfg = MLPConfig(weight_bits=int(wb), act_bits=int(ab))
        if done and cfg.tag in done:
            results[cfg.tag] = dict(done[cfg.tag])
            continue
        _, hist = fit(cfg, dataset, seed=seed, n_epochs=n_epochs, progress=progress)
        results[cfg.tag] = sweep_entry(cfg, hist)
    return results


def sweep_entry(cfg: MLPConfig, hist: History) -> dict[str, Any]:
    """The sweep record of one trained configuration."""
    return {"weight_bits": cfg.weight_bits, "act_bits": cfg.act_bits, "accuracy": hist.final_test_acc,
            "epochs": len(hist.epoch), "seconds": round(hist.seconds, 2)}
