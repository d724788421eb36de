"""QONNX export of the Lab 1 network, its check against Brevitas, and the Lab 1 -> Lab 2 hand-off.

``save_lab1_artifacts(qnn)`` writes ``build/lab1/``: the checkpoint (``qnn_w4a4.pt``), the QONNX model
(``model_qonnx.onnx``, input ``(1, 400)`` raw pixels: the 20x20 centre crop,
``torchdata.crop``), a golden batch (``golden.npz``) and ``meta.json``,
which records every file's sha256 and is written last, so a half-written folder never looks complete.
``lab1_artifacts()`` returns those paths, falling back to the shipped ``pretrained/lab1/`` (with a
printed note) when ``build/lab1/`` is missing, incomplete or inconsistent. Lab 2 starts from it.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from course_utils.fileio import atomic_file, publish, sha256_file, write_text_atomic
from course_utils.paths import build_dir, pretrained_dir
from course_utils.versions import dist_versions

if TYPE_CHECKING:
    from torch import nn

QONNX_FILE = "model_qonnx.onnx"
GOLDEN_FILE = "golden.npz"
META_FILE = "meta.json"
SWEEP_FILE = "sweep.json"
FLOAT_FILE = "float_mlp.pt"
DEFAULT_WEIGHTS_FILE = "qnn_w4a4.pt"
GOLDEN_SIZE = 64
INPUT_SHAPE = (1, 400)  # the default network's input contract; export_qonnx uses the network's own size
_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript", "brevitas")


class ExportMismatch(AssertionError):
    """The exported model does not compute what the Brevitas network computes."""


def weights_file(qnn: nn.Module) -> str:
    """The checkpoint's file name for ``qnn``: ``qnn_w4a4.pt`` for the default W4A4 network."""
    return f"qnn_{cast(Any, qnn).cfg.tag}.pt"


# --------------------------------------------------------------------------- small file helpers

sha256 = sha256_file  # the name Lab 1's code and tests use


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text_atomic(Path(path), json.dumps(obj, indent=1, sort_keys=False) + "\n")


def tool_versions() -> dict[str, str]:
    """Versions of the tools that made an artifact (torch, brevitas, qonnx, onnx, finn-plus, course-utils)."""
    return dist_versions(("torch", "brevitas", "qonnx", "onnx", "finn-plus", "numpy", "course-utils"),
                         missing=None)


# --------------------------------------------------------------------------- export and execution

@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Silence torch.onnx/Brevitas chatter (prints, warnings, log lines); yields what was printed."""
    buf = io.StringIO()
    saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
            warnings.simplefilter("ignore")
            yield buf
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def export_qonnx(qnn: nn.Module, path: str | os.PathLike) -> Path:
    """Export ``qnn`` (eval mode) to QONNX at ``path``, quietly and atomically.

    Parameters
    ----------
    qnn : torch.nn.Module
        A Brevitas network of the kit (``QuantMLP`` or ``QuantCNN``); its training mode is restored after.
    path : str or os.PathLike
        The ``.onnx`` file to write (its folder is created).

    Returns
    -------
    pathlib.Path
        ``path``. The model's input is ``(1, qnn.cfg.in_features)`` (``(1, 400)`` for the default
        network), or ``(1, 1, side, side)`` for a CNN.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a private folder: the exporter also drops a stray "<name>.data" copy of the weights next to the model
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    tmp = tmpdir / path.name
    was_training = qnn.training
    qnn.eval()
    try:
        with quiet() as log:
            try:
                from brevitas.export import export_qonnx as brevitas_export_qonnx

                brevitas_export_qonnx(qnn, torch.zeros(input_shape(qnn)), str(tmp))
            except Exception as err:
                raise RuntimeError(f"QONNX export failed ({type(err).__name__}: {err}). Exporter output:\n"
                                   f"{log.getvalue()[-2000:]}") from err
        if _uses_external_data(tmp):
            raise RuntimeError(f"the exported model keeps its weights in a separate file; {path} would be "
                               "incomplete. Report this with your tool versions (export.tool_versions()).")
        publish(tmp, path)
    finally:
        qnn.train(was_training)
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def input_shape(qnn: nn.Module) -> tuple[int, ...]:
    """The exported model's input shape: ``(1, in_features)`` for an MLP (``(1, 400)`` by default),
    ``(1, 1, side, side)`` for a CNN (``cfg.input_shape``); ``INPUT_SHAPE`` for a network without a cfg."""
    cfg = getattr(qnn, "cfg", None)
    shape = getattr(cfg, "input_shape", None)
    if shape:
        return tuple(int(d) for d in shape)
    n = getattr(cfg, "in_features", None)
    return (1, int(n)) if n else tuple(INPUT_SHAPE)


def input_features(qnn: nn.Module) -> int:
    """Raw pixels per sample the exported model takes (the product of ``input_shape`` without the batch)."""
    return int(np.prod(input_shape(qnn)[1:]))


def _uses_external_data(path: Path) -> bool:
    """True if the ONNX file at ``path`` refers to weights stored in other files."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    return any(uses_external_data(t) for t in model.graph.initializer)


def _wrapper(model: Any) -> Any:
    """A qonnx ``ModelWrapper`` for a path or an existing wrapper."""
    from qonnx.core.modelwrapper import ModelWrapper

    if isinstance(model, ModelWrapper):
        return model
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {path}: export it first (export.export_qonnx).")
    return ModelWrapper(str(path))


def execute_qonnx(model: Any, x: Any) -> np.ndarray:
    """Execute a QONNX model (path or ``ModelWrapper``) on raw pixels ``x``, one sample at a time
    (whole 28x28 images are centre-cropped to the model's input, as the Brevitas networks do).

    Uses ``qonnx.core.onnx_exec.execute_onnx``; returns float32 ``(N, outputs)``.
    """
    from qonnx.core.onnx_exec import execute_onnx

    from course_utils.train import as_inputs

    mw = _wrapper(model)
    xs = as_inputs(x).numpy()
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    shape = tuple(mw.get_tensor_shape(iname))
    per_sample = int(np.prod(shape[1:]))
    if xs.ndim == 2 and xs.shape[1] == 784 and per_sample < 784 and (len(shape) == 2 or shape[1] == 1):
        from course_utils.models import fit_to_inputs

        xs = fit_to_inputs(xs, per_sample)
    if len(shape) > 2 and xs.ndim == 2 and xs.shape[1] == per_sample:  # a CNN's input as flat pixels
        xs = xs.reshape(len(xs), *shape[1:])
    if shape[1:] != xs.shape[1:]:
        raise ValueError(f"the model takes inputs shaped {shape}, got samples shaped {xs.shape[1:]}.")
    outs = [np.asarray(execute_onnx(mw, {iname: xs[i:i + 1]})[oname]).reshape(1, -1) for i in range(len(xs))]
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, 0), np.float32)


def verify_qonnx(qnn: nn.Module, model: Any, x: Any, atol: float = 1e-4) -> float:
    """Check that the QONNX model computes the Brevitas network's logits on ``x``; return the max |diff|.

    Raises ``ExportMismatch`` (with the max difference) when any logit differs by more than ``atol``
    (float rounding only: both evaluate the same integer maths).
    """
    from course_utils.train import logits

    ref = logits(qnn, x)
    got = execute_qonnx(model, x)
    if got.shape != ref.shape:
        raise ExportMismatch(f"QONNX output shape {got.shape} differs from Brevitas {ref.shape}.")
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    if not diff <= atol:
        worst = int(np.unravel_index(np.argmax(np.abs(got - ref)), ref.shape)[0])
        raise ExportMismatch(f"QONNX execution differs from Brevitas: max |diff| = {diff:.3g} > {atol:g} "
                             f"(worst sample {worst}). Re-export the network in eval mode after training "
                             "(export.export_qonnx) and make sure you pass the same raw-pixel inputs.")
    return diff


# --------------------------------------------------------------------------- golden batch

def golden_batch(qnn: nn.Module, images: Any, labels: Any, n: int = GOLDEN_SIZE) -> dict[str, np.ndarray]:
    """``{"x": uint8 (n, 400), "logits": float32 (n, 10), "pred": int64, "labels": uint8}`` from Brevitas.

    ``x`` is what the exported model takes: whole 28x28 images are centre-cropped to its input size."""
    from course_utils.models import fit_to_inputs
    from course_utils.train import logits

    imgs = np.asarray(images)
    if imgs.dtype != np.uint8:
        raise ValueError(f"golden images must be uint8 pixels (what the FPGA receives), got {imgs.dtype}.")
    if len(imgs) < n:
        raise ValueError(f"need at least {n} images for the golden batch, got {len(imgs)}.")
    x = np.ascontiguousarray(fit_to_inputs(imgs[:n].reshape(n, -1), input_features(qnn)))
    out = logits(qnn, x).astype(np.float32)
    return {"x": x, "logits": out, "pred": out.argmax(axis=1).astype(np.int64),
            "labels": np.asarray(labels)[:n].astype(np.uint8)}


def save_golden(golden: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write a golden batch as ``.npz`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        np.savez(f, **cast(dict[str, Any], golden))
    return path


def load_golden(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a golden batch and check its keys, dtypes and shapes."""
    with np.load(path) as z:
        g = {k: z[k] for k in z.files}
    missing = {"x", "logits", "pred", "labels"} - set(g)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}: re-create it with export.save_lab1_artifacts.")
    n = len(g["x"])
    lengths_ok = all(len(g[k]) == n for k in ("logits", "pred", "labels"))
    if g["x"].dtype != np.uint8 or g["x"].ndim != 2 or not lengths_ok:
        raise ValueError(f"{path}: expected x uint8 (N, pixels) and N logits/pred/labels; "
                         "re-create it with export.save_lab1_artifacts.")
    return g


# --------------------------------------------------------------------------- the Lab 1 hand-off

def save_sweep(results: dict[str, Any], out_dir: str | os.PathLike | None = None, *, dataset: str = "mnist",
               seed: int | None = None, float_accuracy: float | None = None) -> Path:
    """Write the bit-width sweep (``train.sweep`` results) to ``<out_dir>/sweep.json``."""
    out = Path(out_dir) if out_dir is not None else build_dir("lab1")
    return write_json(out / SWEEP_FILE, {"dataset": dataset, "seed": seed, "float_accuracy": float_accuracy,
                                         "results": results})


def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``sweep.json`` (``{"dataset", "seed", "float_accuracy", "results": {tag: {...}}}``)."""
    sweep = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(sweep, dict) or not isinstance(sweep.get("results"), dict):
        raise ValueError(f"{path} is not a sweep file (no 'results'): re-run the sweep to re-create it.")
    return sweep


def save_lab1_artifacts(qnn: nn.Module, out_dir: str | os.PathLike | None = None, *,
                        dataset: str = "mnist", test_accuracy: float | None = None, epochs: int | None = None,
                        seed: int | None = None, extra: dict[str, Any] | None = None,
                        verify: bool = True) -> dict[str, Path]:
    """Write the Lab 1 hand-off for ``qnn`` into ``out_dir`` (default ``build/lab1/``).

    Files: the checkpoint, ``model_qonnx.onnx``, ``golden.npz`` (the first 64 test images of
    ``dataset``), then ``meta.json`` with the files' sha256. The QONNX model is checked against
    Brevitas on the golden batch first (``verify``); nothing is replaced when that fails.
    Returns ``{"weights", "qonnx", "golden", "meta"}`` paths.
    """
    from course_utils import data
    from course_utils.models import QuantCNN, QuantMLP, save_checkpoint
    from course_utils.train import evaluate

    if not isinstance(qnn, (QuantMLP, QuantCNN)):
        raise TypeError(f"expected the QuantMLP of Lab 1 (or a QuantCNN), got {type(qnn).__name__}.")
    out = Path(out_dir) if out_dir is not None else build_dir("lab1")
    out.mkdir(parents=True, exist_ok=True)
    if qnn.cfg.tag != "w4a4":
        print(f"Note: Lab 2 is written for the W4A4 network (all-RTL on a Zynq-7020); this is {qnn.cfg.tag}.")
    images, labels = data.load(dataset, "test")
    golden = golden_batch(qnn, images, labels)
    if test_accuracy is None:
        test_accuracy = evaluate(qnn, (images, labels))["accuracy"]
    info = {"dataset": dataset, "test_accuracy": test_accuracy, "epochs": epochs, "seed": seed}
    names = {"weights": weights_file(qnn), "qonnx": QONNX_FILE, "golden": GOLDEN_FILE}
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        save_checkpoint(qnn, staging / names["weights"], info)
        export_qonnx(qnn, staging / names["qonnx"])
        save_golden(golden, staging / names["golden"])
        max_diff = verify_qonnx(qnn, staging / names["qonnx"], golden["x"]) if verify else None
        meta = {
            "dataset": dataset, "config": qnn.cfg.to_dict(), "test_accuracy": test_accuracy,
            "epochs": epochs, "seed": seed, "input": {"shape": list(input_shape(qnn)), "datatype": "UINT8",
                                                     "crop": int(round(input_features(qnn) ** 0.5)),
                                                     "layout": "NCHW" if len(input_shape(qnn)) == 4
                                                     else "flat",
                                                     "note": "raw pixels 0..255 as float, the centre "
                                                             "crop x crop of each 28x28 image"},
            "golden": {"n": len(golden["x"]), "agreement_with_labels":
                       float(np.mean(golden["pred"] == golden["labels"]))},
            "qonnx_vs_brevitas_max_abs_diff": max_diff,
            "files": {role: {"name": name, "sha256": sha256(staging / name)} for role, name in names.items()},
            "versions": tool_versions(), **(extra or {}),
        }
        (out / META_FILE).unlink(missing_ok=True)  # the folder is incomplete until meta is back
        for name in names.values():
            publish(staging / name, out / name)
        write_json(out / META_FILE, meta)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {role: out / name for role, name in names.items()} | {"meta": out / META_FILE}


def lab1_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` is not a usable Lab 1 hand-off (missing/changed files), or None if it is."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        return f"{folder} has no {META_FILE}" if folder.is_dir() else f"{folder} does not exist"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"{meta_path} is unreadable ({err})"
    defaults = (("weights", DEFAULT_WEIGHTS_FILE), ("qonnx", QONNX_FILE), ("golden", GOLDEN_FILE))
    files = meta.get("files") or {role: {"name": name} for role, name in defaults}
    missing = [f["name"] for f in files.values() if not (folder / f["name"]).is_file()]
    if missing:
        return f"{folder} is incomplete (missing {', '.join(missing)})"
    changed = [f["name"] for f in files.values()
               if f.get("sha256") and sha256(folder / f["name"]) != f["sha256"]]
    if changed:
        return f"{folder} is inconsistent ({', '.join(changed)} changed after {META_FILE} was written)"
    return None


def _paths(folder: Path, source: str) -> dict[str, Any]:
    """The artifact dict of a checked Lab 1 folder."""
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    files = meta.get("files") or {}
    sweep = folder / SWEEP_FILE
    name = lambda role, default: files.get(role, {}).get("name", default)  # noqa: E731
    return {"weights": folder / name("weights", DEFAULT_WEIGHTS_FILE),
            "qonnx": folder / name("qonnx", QONNX_FILE), "golden": folder / name("golden", GOLDEN_FILE),
            "meta": folder / META_FILE,
            "sweep": sweep if sweep.is_file() else None, "source": source}


def lab1_artifacts(prefer: str = "build") -> dict[str, Any]:
    """Paths of the Lab 1 hand-off: ``{"qonnx", "golden", "meta", "weights", "sweep", "source"}``.

    ``prefer="build"`` uses ``build/lab1/`` when it is complete and consistent, else prints a note and
    falls back to ``pretrained/lab1/``; ``prefer="pretrained"`` takes the shipped files directly.
    ``source`` says which was used; ``sweep`` is None when that folder has no ``sweep.json``.
    """
    if prefer not in ("build", "pretrained"):
        raise ValueError(f"prefer must be 'build' or 'pretrained', got {prefer!r}.")
    if prefer == "build":
        folder = build_dir("lab1", create=False)
        problem = lab1_problem(folder)
        if problem is None:
            return _paths(folder, "build")
        print(f"Note: {problem}; using the shipped model in pretrained/lab1/ instead "
              "(run Lab 1 notebook 05 to export your own).")
    folder = pretrained_dir("lab1")
    problem = lab1_problem(folder)
    if problem is not None:
        raise FileNotFoundError(f"the shipped Lab 1 model is unusable: {problem}. Restore it with "
                                "`git checkout -- pretrained/lab1` or re-create it with "
                                "`python scripts/pretrained_lab1.py`.")
    return _paths(folder, "pretrained")


def lab1_file(name: str, prefer: str = "build") -> Path:
    """One Lab 1 file (e.g. ``float_mlp.pt``, ``sweep.json``) from build/lab1, else pretrained/lab1."""
    if prefer == "build":
        path = build_dir("lab1", create=False) / name
        if path.is_file():
            return path
        print(f"Note: build/lab1/{name} not found; using the shipped pretrained/lab1/{name}.")
    path = pretrained_dir("lab1", name)
    if not path.is_file():
        raise FileNotFoundError(f"{name} is neither in build/lab1/ nor in pretrained/lab1/: run the Lab 1 "
                                "notebook that makes it, or restore pretrained/lab1 from git.")
    return path
