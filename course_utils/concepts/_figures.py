"""The one figure helper the lecture figures share."""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure and axes to draw on: ``ax``'s own, or a new figure (closed in pyplot) of ``figsize``."""
    import matplotlib.pyplot as plt

    if ax is None:  # a new figure, detached from pyplot so a notebook shows it once (as the cell result)
        fig, ax = plt.subplots(figsize=figsize)
        plt.close(fig)
        return fig, ax
    return cast("Figure", ax.figure), ax
