"""Figures for Lab 3 (matplotlib only, so they also work on a board): predictions, throughput, confusion.

Every function returns the matplotlib Figure; matplotlib is imported inside the functions.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["show_predictions", "throughput_vs_batch", "confusion_matrix"]


def show_predictions(images: Any, labels: Any, preds: Any, n: int = 16, cols: int = 8) -> Any:
    """A grid of images titled 'prediction (label)', wrong ones in red."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    n = min(n, len(images))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].reshape(28, 28), cmap="gray_r")
        ok = int(preds[i]) == int(labels[i])
        ax.set_title(f"{int(preds[i])} ({int(labels[i])})", color="black" if ok else "red", fontsize=9)
    fig.suptitle("board prediction (label); wrong in red", fontsize=10)
    fig.tight_layout()
    return fig


def throughput_vs_batch(batch_sizes: Sequence[int], timings: Sequence[Any],
                        estimate_fps: float | None = None) -> Any:
    """Samples/s and time per batch against batch size, from :class:`runtime.Timing` results.

    The title says whether the times were measured on a board or modelled by the virtual board;
    ``estimate_fps`` (FINN's estimate) is drawn as a dashed line.
    """
    import matplotlib.pyplot as plt

    fps = [t.fps for t in timings]
    ms = [t.seconds * 1e3 for t in timings]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.plot(batch_sizes, fps, "o-")
    if estimate_fps:
        a1.axhline(estimate_fps, ls="--", color="gray", label=f"FINN estimate {estimate_fps:,.0f}/s")
        a1.legend()
    a1.set(xscale="log", yscale="log", xlabel="batch size (samples per DMA transfer)", ylabel="samples / s",
           title="throughput")
    a2.plot(batch_sizes, ms, "o-")
    a2.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms per batch", title="time per batch")
    for ax in (a1, a2):
        ax.grid(True, which="both", alpha=0.3)
    label = timings[0].label if timings else ""
    fig.suptitle(label, fontsize=9)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: Any, preds: Any, classes: int = 10) -> Any:
    """Counts of (label, prediction) pairs as an annotated heat map."""
    import matplotlib.pyplot as plt

    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    cm = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    im = ax.imshow(cm, cmap="Blues")
    for i in range(classes):
        for j in range(classes):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set(xlabel="prediction", ylabel="label", xticks=range(classes), yticks=range(classes),
           title=f"accuracy {np.trace(cm) / max(1, cm.sum()):.2%} on {cm.sum():,} samples")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig
