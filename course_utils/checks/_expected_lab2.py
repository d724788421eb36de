"""Precomputed expectations of Lab 2.0's Exercise 0.3 (``requant_shift``): the kit ships no reference answer.

Same pattern as ``_expected`` (Lab 1.2): the inputs are seeded, the outputs are computed by executing the
solution notebook's own ``# Exercise 0.3`` cell, and both are stored in ``expected_lab2_00.npz``.
Instructors rebuild the file with::

    .venv/host/bin/python -m course_utils.checks._expected_lab2

numpy only.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.checks._expected import ExpectationsMissing, load_arrays, save_arrays

FILE = Path(__file__).with_name("expected_lab2_00.npz")
NOTEBOOK = "solutions/lab2_finn/00_layer_by_hand.ipynb"
CASES = ((16, 15), (12, 3))   # (shift, levels)


def cases() -> dict[str, np.ndarray]:
    """Seeded inputs: per-channel M and B, accumulators around every level, and the three values -1, 0, 1."""
    rng = np.random.default_rng(3)
    out: dict[str, np.ndarray] = {}
    M = rng.integers(20, 60, size=8).astype(np.int64)
    B = rng.integers(-2**20, 2**20, size=8).astype(np.int64)
    out |= {"M": M, "B": B}
    for i, (shift, levels) in enumerate(CASES):
        target = rng.uniform(-2, levels + 2, size=(16, 8)) * 2.0**shift   # mostly inside 0..levels
        acc = np.floor((target - B) / M).astype(np.int64)
        acc[0, :3] = [-1, 0, 1]
        out |= {f"acc{i}": acc, f"shift{i}": np.array(shift), f"levels{i}": np.array(levels)}
    return out


def _solution_function(kit_root: Path) -> Any:
    import nbformat

    path = kit_root / NOTEBOOK
    if not path.is_file():
        raise ExpectationsMissing(f"{path} not found: expectations are built from the solutions "
                                  "(instructors only).")
    namespace: dict[str, Any] = {"np": np}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("# Exercise 0.3"):
            exec(compile(cell.source, f"{NOTEBOOK} (exercise cell)", "exec"), namespace)  # noqa: S102
    if "requant_shift" not in namespace:
        raise ExpectationsMissing(f"{NOTEBOOK} defines no requant_shift in its '# Exercise 0.3' cell.")
    return namespace["requant_shift"]


def build(kit_root: Path) -> dict[str, np.ndarray]:
    """The inputs and the solution's outputs of every case."""
    fn = _solution_function(kit_root)
    out = cases()
    for i in range(len(CASES)):
        want = fn(out[f"acc{i}"].copy(), out["M"].copy(), out["B"].copy(), int(out[f"shift{i}"]),
                  int(out[f"levels{i}"]))
        out[f"want{i}"] = np.asarray(want, dtype=np.int64)
    return out


def write(kit_root: Path, path: Path = FILE) -> Path:
    """Build the expectations and write them atomically (compressed npz)."""
    return save_arrays(build(kit_root), path)


@lru_cache(maxsize=1)
def load() -> dict[str, np.ndarray]:
    """The stored expectations (read once)."""
    return load_arrays(FILE, "course_utils.checks._expected_lab2")


if __name__ == "__main__":
    from course_utils.paths import kit_root

    print(f"wrote {write(kit_root())}")
