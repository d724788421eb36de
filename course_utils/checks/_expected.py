"""Precomputed expectations of the Lab 1.2 checkpoints, so that the student kit ships no reference answer.

The checks of notebook ``lab1_qat/02_quantization_maths`` compare the student's functions with values
stored in ``expected_lab1_02.npz`` (inputs and outputs of each case). Instructors regenerate the file from
the solution notebook itself (its exercise cells are executed, nothing is re-implemented here)::

    .venv/host/bin/python -m course_utils.checks._expected

The solution notebook is not in the student bundle, so neither is anything that computes the answers.
numpy only.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FILE = Path(__file__).with_name("expected_lab1_02.npz")
NOTEBOOK = "solutions/lab1_qat/02_quantization_maths.ipynb"
FUNCTIONS = ("quantize_symmetric", "dequantize", "quantize_asymmetric", "sqnr_db", "quantize_per_channel",
             "int_linear")


class ExpectationsMissing(RuntimeError):
    """The expectations file is missing or stale: the message says how to rebuild it."""


def cases() -> dict[str, Any]:
    """The inputs of every case (seeded; stored in the file too, so the file alone defines the check)."""
    rng = np.random.default_rng(21)
    ties = np.array([7.0, 2.5, -2.5, 0.5, -1.5, 3.5, 1.0, -7.0])   # scale 1.0: exact .5 ties
    sym = [(4, ties), (4, rng.normal(0, 1, 1000)), (8, rng.normal(0.3, 2, (20, 30))), (2, -rng.random(500))]
    rng = np.random.default_rng(22)
    asym = [(4, np.array([-2.0, 13.0, 0.5, 2.5, -1.5, 6.5, 0.0, 4.25]), "with .5 ties"),
            (4, rng.normal(0.7, 1, 1000), "mixed signs"),
            (8, rng.exponential(1.0, 800) + 0.5, "all positive"),
            (3, rng.normal(-1.0, 0.5, (10, 40)), "mostly negative")]
    rng = np.random.default_rng(24)
    w = rng.normal(0, 1, (16, 40)) * rng.uniform(0.05, 3.0, (16, 1))
    rng = np.random.default_rng(25)
    q_x, q_w = rng.integers(0, 16, (6, 24)), rng.integers(-7, 8, (5, 24))
    scale_ws = [np.array(0.037), rng.uniform(0.01, 0.1, (5, 1))]
    return {"sym": sym, "asym": asym, "sqnr_x": np.random.default_rng(23).normal(0, 1, 2000),
            "w": w, "q_x": q_x, "q_w": q_w, "scale_ws": scale_ws}


def _solution_functions(kit_root: Path) -> dict[str, Any]:
    """The exercise functions of the solution notebook, executed from its cells."""
    import nbformat

    path = kit_root / NOTEBOOK
    if not path.is_file():
        raise ExpectationsMissing(f"{path} not found: expectations are built from the solutions "
                                  "(instructors only).")
    nb = nbformat.read(path, as_version=4)
    namespace: dict[str, Any] = {"np": np}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("# Exercise 2."):
            exec(compile(cell.source, f"{NOTEBOOK} (exercise cell)", "exec"), namespace)  # noqa: S102
    missing = [f for f in FUNCTIONS if f not in namespace]
    if missing:
        raise ExpectationsMissing(f"{NOTEBOOK} defines no {missing} in its '# Exercise 2.k' cells.")
    return namespace


def build(kit_root: Path) -> dict[str, np.ndarray]:
    """Every input and expected output of the Lab 1.2 checks, computed with the solution's functions."""
    f = _solution_functions(kit_root)
    c = cases()
    out: dict[str, np.ndarray] = {}
    for i, (bits, x) in enumerate(c["sym"]):
        q, scale = f["quantize_symmetric"](x, bits)
        out |= {f"2.1/x{i}": x, f"2.1/bits{i}": np.array(bits), f"2.1/q{i}": np.asarray(q, np.int64),
                f"2.1/scale{i}": np.asarray(scale, np.float64),
                f"2.1/deq{i}": np.asarray(f["dequantize"](q, scale, 0), np.float64)}
    zq, zs, zz = np.array([0, 3, 7, 15, 9]), 0.5, 3
    out |= {"2.1/zq": zq, "2.1/zs": np.array(zs), "2.1/zz": np.array(zz),
            "2.1/zdeq": np.asarray(f["dequantize"](zq, zs, zz), np.float64)}
    for i, (bits, x, kind) in enumerate(c["asym"]):
        q, scale, zp = f["quantize_asymmetric"](x, bits)
        out |= {f"2.2/x{i}": x, f"2.2/bits{i}": np.array(bits), f"2.2/kind{i}": np.array(kind),
                f"2.2/q{i}": np.asarray(q, np.int64), f"2.2/scale{i}": np.asarray(scale, np.float64),
                f"2.2/zp{i}": np.asarray(zp, np.int64),
                f"2.2/deq{i}": np.asarray(f["dequantize"](q, scale, zp), np.float64)}
    x = c["sqnr_x"]
    out["2.3/x"] = x
    for bits in (2, 4, 8):
        x_hat = np.asarray(f["dequantize"](*f["quantize_symmetric"](x, bits)), np.float64)
        out |= {f"2.3/x_hat{bits}": x_hat, f"2.3/sqnr{bits}": np.array(float(f["sqnr_db"](x, x_hat)))}
    out["2.4/w"] = c["w"]
    for bits in (4, 3):
        q, s = f["quantize_per_channel"](c["w"], bits)
        out |= {f"2.4/q{bits}": np.asarray(q, np.int64), f"2.4/s{bits}": np.asarray(s, np.float64)}
    out |= {"2.5/q_x": c["q_x"], "2.5/q_w": c["q_w"]}
    for i, sw in enumerate(c["scale_ws"]):
        out |= {f"2.5/scale_w{i}": sw,
                f"2.5/y{i}": np.asarray(f["int_linear"](c["q_x"], c["q_w"], 0.25, sw), np.float64)}
    return out


def save_arrays(arrays: dict[str, Any], path: Path) -> Path:
    """Write expectation arrays atomically as a compressed npz; return the path."""
    from course_utils.fileio import atomic_file

    with atomic_file(path) as f:
        np.savez_compressed(f, **arrays)
    return path


def load_arrays(path: Path, module: str) -> dict[str, np.ndarray]:
    """The arrays of an expectations file; ExpectationsMissing says how ``module`` rebuilds it."""
    if not path.is_file():
        raise ExpectationsMissing(f"{path.name} is missing from the kit: instructors rebuild it with "
                                  f"`python -m {module}`.")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def write(kit_root: Path, path: Path = FILE) -> Path:
    """Build the expectations and write them atomically (compressed npz)."""
    return save_arrays(build(kit_root), path)


@lru_cache(maxsize=1)
def load() -> dict[str, np.ndarray]:
    """The stored expectations (read once)."""
    return load_arrays(FILE, "course_utils.checks._expected")


if __name__ == "__main__":
    from course_utils.paths import kit_root

    print(f"wrote {write(kit_root())}")
