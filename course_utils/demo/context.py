"""What every demo stage shares: the run context, a stage's outcome, the run folder's sub-folder names.

A module of its own below ``stages`` and ``rtl_stage`` (both use it; ``stages`` lists ``rtl_stage``'s
functions in its table), so that neither imports the other in a circle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import fileio
from course_utils.demo.config import DemoConfig, DemoError
from course_utils.demo.state import RunState

LAB1_DIR = "lab1"
LAB2_DIR = "lab2"
PREDS_DIR = "predictions"
REFERENCE = "qat"
"""The stage whose predictions every later stage must reproduce (Brevitas QAT network)."""


class PredictionMismatch(AssertionError):
    """A stage that must compute exactly what Brevitas computes predicted something else."""


@dataclass
class Outcome:
    """What a stage did: a one-line summary, its result, the artifacts it wrote, or why it was skipped."""

    summary: str
    result: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class Context:
    """What a stage may use: the options, the run folder and state, display and board settings."""

    cfg: DemoConfig
    run_dir: Path
    state: RunState
    progress: bool = True
    board_python: Path | None = None
    _eval: tuple[np.ndarray, np.ndarray] | None = None

    def dir(self, *parts: str) -> Path:
        """A sub-folder of the run folder (created)."""
        path = self.run_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def result(self, stage: str) -> dict[str, Any]:
        """The result of a finished earlier stage (empty if it did not finish)."""
        return self.state.result(stage)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The test images every stage is checked on: uint8 ``(n, side*side)`` (the centre crops the
        network takes: 20x20 for the MLP, ``--side`` for the CNN) and their labels."""
        if self._eval is None:
            from course_utils import data, torchdata

            images, labels = data.load(self.cfg.dataset, "test")
            n = len(images) if self.cfg.eval_n is None else min(self.cfg.eval_n, len(images))
            self._eval = (np.ascontiguousarray(torchdata.crop(images[:n], self.cfg.input_side)),
                          labels[:n].astype(np.int64))
        return self._eval

    def save_array(self, name: str, values: np.ndarray, dtype: Any = np.int64) -> Path:
        """Save ``predictions/<name>.npy`` (predictions, integer outputs or logits) atomically."""
        path = self.dir(PREDS_DIR) / f"{name}.npy"
        with fileio.atomic_path(path) as tmp:
            np.save(tmp, np.asarray(values, dtype=dtype))
        return path

    def save_preds(self, name: str, preds: np.ndarray) -> Path:
        """Save the predictions of stage ``name`` (int64); return the path."""
        return self.save_array(name, preds)

    def preds(self, name: str) -> np.ndarray:
        """An array saved by ``save_array`` (e.g. a stage's predictions)."""
        path = self.run_dir / PREDS_DIR / f"{name}.npy"
        if not path.is_file():
            stage = name.split("_", 1)[0]
            raise DemoError(f"{path} is missing: run the demo again with --from {stage}.")
        return np.load(path)

    def reference(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Brevitas predictions and logits of the first ``n`` test images (what later stages must match)."""
        return self.preds(REFERENCE)[:n], self.preds(f"{REFERENCE}_logits")[:n]
