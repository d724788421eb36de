"""Figures of the labs: samples, histograms before/after quantization, accuracy vs bits, confusion matrix.

Every function returns a ``matplotlib.figure.Figure`` and shows nothing: a notebook displays the
returned figure (make it the cell's last expression), a script calls ``fig.savefig(path)``. Figures
are detached from pyplot's list of open figures, so a notebook never shows one twice.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.0, 4.0),
            **kwargs: Any) -> tuple[Figure, Any]:
    """A new figure and its axes, not registered with pyplot (no implicit display, no leak)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=size, **kwargs)
    plt.close(fig)
    return fig, axes


def _class_names(names: Sequence[str] | None, n: int = 10) -> list[str]:
    """``names`` as a list, or ``"0".."n-1"``."""
    return list(names) if names is not None else [str(i) for i in range(n)]


LABEL_SIZE = 12   # points: the sample labels stay readable in the HTML slides (8 pt was about 8 px)


def sample_grid(images: Any, labels: Any = None, class_names: Sequence[str] | None = None, *,
                preds: Any = None, n: int = 32, cols: int = 8, title: str | None = None) -> Figure:
    """The first ``n`` images (uint8 ``(N, 28, 28)`` or ``(N, 784)``) with labels (and predictions).

    With ``preds``, each title reads ``label -> prediction`` and wrong predictions are red.
    """
    imgs = np.asarray(images)[:n]
    if imgs.ndim == 2:
        side = int(round(np.sqrt(imgs.shape[1])))
        imgs = imgs.reshape(len(imgs), side, side)
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError(f"expected images shaped (N, 28, 28) or (N, 784), got {np.asarray(images).shape}.")
    names = _class_names(class_names)
    cols = max(1, min(cols, len(imgs)))
    rows = int(np.ceil(len(imgs) / cols))
    fig, axes = _figure(rows, cols, (1.7 * cols, 2.0 * rows), squeeze=False)   # labels readable on a slide
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(imgs):
            continue
        ax.imshow(imgs[i], cmap="gray_r", vmin=0, vmax=255)
        if labels is not None:
            lab = names[int(np.asarray(labels)[i])]
            if preds is None:
                ax.set_title(lab, fontsize=LABEL_SIZE)
            else:
                pred = int(np.asarray(preds)[i])
                wrong = pred != int(np.asarray(labels)[i])
                ax.set_title(f"{lab} -> {names[pred]}", fontsize=LABEL_SIZE,
                             color="red" if wrong else "black")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def histogram(values: Any, quantized: Any = None, *, bins: int = 100, title: str = "values",
              xlabel: str = "value", log: bool | None = None) -> Figure:
    """Histogram of real ``values``; with ``quantized``, its histogram on the *same* bins (comparable counts).

    ``log`` puts the counts on a log axis; by default it does when one bin of the float values towers over
    the rest (e.g. the spike of ReLU zeros), so that the tails stay visible.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    q = None if quantized is None else np.asarray(quantized, dtype=np.float64).ravel()
    edges = np.histogram_bin_edges(v if q is None else np.concatenate([v, q]), bins=bins)
    counts, _ = np.histogram(v, bins=edges)
    fig, ax = _figure(size=(7.0, 3.5))
    ax.hist(v, bins=edges, color="tab:blue", alpha=0.6, label=f"float ({v.size:,} values)")
    if q is not None:
        ax.hist(q, bins=edges, histtype="step", linewidth=1.6, color="tab:red",
                label=f"quantized ({len(np.unique(q))} levels)")
        ax.legend()
    nonzero = counts[counts > 0]
    if log is None:
        log = nonzero.size > 0 and nonzero.max() > 20 * np.median(nonzero)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"count per bin ({len(edges) - 1} equal bins)" + (", log scale" if log else ""))
    fig.tight_layout()
    return fig


def weight_histograms(net: Any, quantized: Mapping[str, Any] | None = None, bins: int = 80) -> Figure:
    """One histogram per linear layer's weights; ``quantized`` maps layer name -> its quantized weights.

    Works for ``FloatMLP`` and ``QuantMLP`` (the float "latent" weights Brevitas trains).
    """
    layers = [(name, mod.weight.detach().cpu().numpy()) for name, mod in net.named_modules()
              if hasattr(mod, "weight") and getattr(mod, "weight", None) is not None
              and mod.weight.ndim == 2]
    if not layers:
        raise ValueError("the network has no 2-D (linear) weights to plot.")
    fig, axes = _figure(1, len(layers), (4.2 * len(layers), 3.2), squeeze=False)
    for ax, (name, w) in zip(axes[0], layers):
        ax.hist(w.ravel(), bins=bins, color="tab:blue", alpha=0.6, label="float")
        if quantized is not None and name in quantized:
            levels, counts = np.unique(np.asarray(quantized[name], dtype=np.float64).ravel(),
                                       return_counts=True)
            ax.bar(levels, counts, width=(np.ptp(w) or 1.0) / 120, color="tab:red",
                   label=f"quantized ({len(levels)} levels)")
        ax.set_title(f"{name} {tuple(w.shape)}")
        ax.set_xlabel("weight")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("count")
    fig.tight_layout()
    return fig


def activation_histograms(acts: Mapping[str, Any], bins: int = 80, log: bool = True) -> Figure:
    """One histogram per named activation tensor (e.g. each ReLU output on a batch)."""
    if not acts:
        raise ValueError("no activations given: pass {name: array}.")
    fig, axes = _figure(1, len(acts), (4.2 * len(acts), 3.2), squeeze=False)
    for ax, (name, a) in zip(axes[0], acts.items()):
        ax.hist(np.asarray(a, dtype=np.float64).ravel(), bins=bins, color="tab:green", log=log)
        ax.set_title(name)
        ax.set_xlabel("activation")
    axes[0][0].set_ylabel("count (log)" if log else "count")
    fig.tight_layout()
    return fig


def _bits_key(key: Any) -> tuple[float, str]:
    """Sort key and label of a bit-width entry: ``4`` -> (4, "4"), ``"w2a2"`` -> (2, "W2A2")."""
    if isinstance(key, str) and key.lower().startswith("w") and "a" in key.lower():
        w, a = key.lower()[1:].split("a", 1)
        return float(w) + float(a) / 100, key.upper()
    return float(key), str(key)


def accuracy_vs_bits(results: Mapping[str, Mapping[Any, float]], float_accuracy: float | None = None, *,
                     title: str = "Test accuracy vs bit width",
                     ylim: tuple[float, float] | None = None) -> Figure:
    """Accuracy (fraction) vs bit width for one or more series, e.g. ``{"PTQ": {2: .13, 4: .97}, ...}``.

    Keys of a series are bit widths (``4``) or tags (``"w4a4"``); series may be mixed. A dashed
    line marks the float baseline.
    """
    if not results:
        raise ValueError("no results to plot: pass {series name: {bits: accuracy}}.")
    fig, ax = _figure(size=(6.5, 4.0))
    keys = {_bits_key(k) for series in results.values() for k in series}
    position = {key: i for i, key in enumerate(sorted(keys))}   # evenly spaced, in bit order
    for n, (name, series) in enumerate(results.items()):
        keyed = sorted((_bits_key(k), float(v)) for k, v in series.items())
        xs = [position[k] for k, _ in keyed]
        ys = [100 * v for _, v in keyed]
        ax.plot(xs, ys, marker="o", label=name)
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 6 if n % 2 == 0 else -13),
                        ha="center", fontsize=8)
    if float_accuracy is not None:
        ax.axhline(100 * float_accuracy, color="gray", linestyle="--",
                   label=f"float {100 * float_accuracy:.2f}%")
    ax.set_xticks(list(position.values()), [key[1] for key in position])
    ax.set_xlabel("bit width")
    ax.set_ylabel("test accuracy (%)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def error_vs_bits(errors: Mapping[str, Mapping[int, float]], *, ylabel: str = "SQNR (dB)",
                  title: str = "Quantization error vs bit width") -> Figure:
    """One line per series of ``{bits: error}`` (e.g. SQNR in dB of symmetric and asymmetric)."""
    if not errors:
        raise ValueError("no errors to plot: pass {series name: {bits: value}}.")
    fig, ax = _figure(size=(6.0, 3.8))
    for name, series in errors.items():
        bits = sorted(series)
        ax.plot(bits, [series[b] for b in bits], marker="o", label=name)
    ax.set_xlabel("bits")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(cm: Any, class_names: Sequence[str] | None = None, *, title: str = "Confusion matrix",
                     normalize: bool = False) -> Figure:
    """Heat map of ``cm[true, predicted]`` with counts (or row fractions with ``normalize``)."""
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {m.shape}.")
    names = _class_names(class_names, m.shape[0])
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure(size=(6.5, 5.5))
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = m.max() / 2 if m.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            text = f"{m[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > threshold else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def training_curves(history: Any, title: str = "Training") -> Figure:
    """Loss and accuracy per epoch from a ``train.History`` (or its ``to_dict()``)."""
    h = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    if not h.get("epoch"):
        raise ValueError("the history has no epochs: train first.")
    fig, (ax_loss, ax_acc) = _figure(1, 2, (10.0, 3.5))
    ax_loss.plot(h["epoch"], h["train_loss"], marker="o", label="train")
    if h.get("test_loss"):
        ax_loss.plot(h["epoch"], h["test_loss"], marker="o", label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.legend()
    ax_acc.plot(h["epoch"], [100 * a for a in h["train_acc"]], marker="o", label="train")
    if h.get("test_acc"):
        ax_acc.plot(h["epoch"], [100 * a for a in h["test_acc"]], marker="o", label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
