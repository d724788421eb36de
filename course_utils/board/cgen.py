"""Write test-set samples and labels as a C header for the bare-metal (Vitis) version of Lab 3.

The header carries the samples already packed as the accelerator's input stream expects (the same
bytes pynq would DMA), the labels, optionally the verified model's integer outputs, and the stream
geometry as ``#define``s that ``baremetal/finn_io.c`` uses to unpack the results. numpy only.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.fileio import write_text_atomic

from .package import DeployPackage

__all__ = ["c_array", "c_double_array", "samples_header", "write_samples_header", "BAREMETAL_DIR"]

BAREMETAL_DIR = Path(__file__).resolve().parent / "baremetal"
MAX_SAMPLES = 10000


def _initializer(a: np.ndarray, indent: int, per_line: int) -> str:
    """A braced C initializer of ``a``, one brace level per dimension."""
    pad = " " * (indent + 4)
    if a.ndim == 1:
        vals = [str(v) for v in a.tolist()]
        rows = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    else:
        rows = [_initializer(sub, indent + 4, per_line) for sub in a]
    return "{\n" + ",\n".join(pad + r for r in rows) + "\n" + " " * indent + "}"


def c_array(name: str, data: np.ndarray, ctype: str, *, align: int | None = None, per_line: int = 16) -> str:
    """A ``static const`` C array definition of ``data`` (any shape), values in decimal."""
    data = np.asarray(data)
    if data.dtype.kind not in "iub":
        raise TypeError(f"{name}: C arrays are written from integer data, got {data.dtype}.")
    if data.ndim == 0:
        raise ValueError(f"{name}: give an array, not a scalar.")
    dims = "".join(f"[{d}]" for d in data.shape)
    attr = f" __attribute__((aligned({align})))" if align else ""
    return f"static const {ctype} {name}{dims}{attr} = {_initializer(data.astype(np.int64), 0, per_line)};\n"


def _ctype(values: np.ndarray) -> str:
    """The smallest fixed-width C integer type holding ``values``."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for bits in (8, 16, 32):
        if lo >= 0 and hi < 1 << bits:
            return f"uint{bits}_t"
        if -(1 << (bits - 1)) <= lo and hi < 1 << (bits - 1):
            return f"int{bits}_t"
    return "int64_t"


def c_double_array(name: str, data: Any) -> str:
    """A ``static const double`` C array of ``data`` (1-D), each value written so that C reads back the
    same IEEE double (``repr``), so the C side computes exactly what numpy computes in float64."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 1 or not np.all(np.isfinite(data)):
        raise ValueError(f"{name}: give a 1-D array of finite numbers, got shape {data.shape}.")
    vals = [repr(float(v)) for v in data]
    rows = [", ".join(vals[i:i + 4]) for i in range(0, len(vals), 4)]
    return f"static const double {name}[{len(vals)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def _affine_lines(pkg: DeployPackage) -> list[str]:
    """The output scale as the host applies it (``pkg.logits``): one ``OUTPUT_SCALE``, or for a binary
    network's output BatchNorm a per-class ``output_scale[]`` and ``output_bias[]`` with
    ``OUTPUT_AFFINE 1`` (its classes are ranked by ``y_int * scale + bias``, not by ``y_int``)."""
    scale = pkg.output_scale
    if np.ndim(scale) == 0:
        return [f"#define OUTPUT_SCALE {float(scale)!r}f", "#define OUTPUT_AFFINE 0"]
    n = pkg.output.elems_per_sample
    bias = np.broadcast_to(np.asarray(pkg.output_bias, dtype=np.float64), (n,))
    if np.shape(scale) != (n,):
        raise ValueError(f"per-class output_scale has {np.size(scale)} values, the output {n} per sample.")
    return ["#define OUTPUT_AFFINE 1",
            "/* the output affine of a binary network (its output BatchNorm; the host applies it too):",
            " * logit[k] = y_int[k] * output_scale[k] + output_bias[k]; classes rank by these",
            " * (finn_argmax_affine), not by y_int */",
            c_double_array("output_scale", scale).rstrip("\n"),
            c_double_array("output_bias", bias).rstrip("\n")]


def samples_header(pkg: DeployPackage, x: Any, labels: Any, y_int: Any = None, *,
                     guard: str = "COURSE_TEST_DATA_H") -> str:
    """The text of ``test_data.h``: packed inputs, labels, expected outputs and the stream geometry."""
    x = np.asarray(x)
    labels = np.asarray(labels)
    n = int(x.shape[0]) if x.ndim else 0
    if n == 0 or n > MAX_SAMPLES:
        raise ValueError(f"give 1..{MAX_SAMPLES} samples, got {n} (the header becomes part of the program "
                         "image).")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) like the {n} samples, got {labels.shape}.")
    out = pkg.output
    dt = out.datatype
    if not dt.is_integer or dt.bitwidth > 32:
        raise ValueError(f"output datatype {dt.name}: the C unpacker handles integer outputs up to 32 bits.")
    packed = pkg.input.pack(x).reshape(n, pkg.input.bytes_per_sample)
    lines = [
        f"/* test_data.h: {n} samples of the test set for deploy package '{pkg.name}'.",
        " * Generated by course_utils.board.cgen (Lab 3.4). Do not edit: regenerate it instead.",
        " * Inputs are packed as the accelerator's input stream expects (FINN's packing):",
        f" *   {pkg.input.datatype.name} {list(pkg.input.shape_normal)} folded "
        f"{list(pkg.input.shape_folded)}, {pkg.input.bytes_per_sample} bytes per sample.",
        " */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
        f'#define ACCEL_NAME "{pkg.name}"',
        f"#define NUM_SAMPLES {n}",
        f"#define IN_BYTES_PER_SAMPLE {pkg.input.bytes_per_sample}",
        f"#define OUT_BYTES_PER_SAMPLE {out.bytes_per_sample}",
        f"#define OUT_WORDS_PER_SAMPLE {out.words_per_sample}",
        f"#define OUT_WORD_BYTES {out.word_bytes}",
        f"#define OUT_ELEMS_PER_WORD {out.elems_per_word}",
        f"#define OUT_VALUES_PER_SAMPLE {out.elems_per_sample}",
        f"#define OUT_BITS {dt.bitwidth}",
        f"#define OUT_SIGNED {1 if dt.signed else 0}",
        f"#define OUT_BIPOLAR {1 if dt.kind == 'bipolar' else 0}",
        f"#define DMA_MAX_TRANSFER_BYTES {pkg.max_transfer_bytes}u",
        *_affine_lines(pkg),
        "",
        "/* samples, packed: test_input[i] is what the DMA sends for sample i */",
        c_array("test_input", packed, "uint8_t", align=64),
        "/* labels of the samples */",
        c_array("test_labels", labels.astype(np.int64), "uint8_t"),
    ]
    if y_int is not None:
        y = np.asarray(y_int).reshape(n, -1)
        if y.shape[1] != out.elems_per_sample:
            raise ValueError(f"y_int must have {out.elems_per_sample} values per sample, got shape "
                             f"{y.shape}.")
        lines += ["#define HAVE_TEST_EXPECTED 1",
                  "/* the verified model's integer outputs: what the accelerator must return */",
                  c_array("test_expected", y, _ctype(y))]
    lines += [f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def write_samples_header(path: str | os.PathLike, pkg: DeployPackage, x: Any, labels: Any,
                      y_int: Any = None) -> Path:
    """Write :func:`samples_header` to ``path`` atomically; return the path."""
    text = samples_header(pkg, x, labels, y_int)
    return write_text_atomic(path, text, encoding="ascii")
