"""Find and load a deploy package (the Lab 2 -> Lab 3 hand-off), checking accelerator.json (numpy only).

A deploy package is a folder ``<name>/`` with ``<name>.bit``, ``<name>.hwh``, ``accelerator.json``,
``dataflow.onnx``, ``dataflow.npz`` and ``golden.npz`` (docs/ARCHITECTURE.md). It is looked for, in
this order, in ``$COURSE_DEPLOY_DIR`` (a package folder or a folder of packages), ``build/lab2/deploy/``
(your own Lab 2), ``pretrained/lab2/deploy/`` (the kit's fallback), ``./deploy/`` and ``../deploy/``
(next to the notebooks on a board).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .packing import StreamSpec

__all__ = ["PackageError", "DeployPackage", "load_package", "find_package", "search_locations"]

SCHEMA_VERSION = 1
REQUIRED_FILES = ("accelerator.json", "dataflow.npz", "golden.npz")
_REMAKE = ("Re-create the package with Lab 2's last notebook (course_utils.hw.deploy.write_deploy_package), "
           "or use the shipped one in pretrained/lab2/deploy/.")


class PackageError(ValueError):
    """A deploy package is missing, incomplete or has an invalid accelerator.json; says what to do."""


def _need(d: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``d[key]`` checked to be of ``kind``; a PackageError naming ``where.key`` otherwise."""
    if not isinstance(d, dict) or key not in d:
        raise PackageError(f"{where}: missing field '{key}'. {_REMAKE}")
    value = d[key]
    bad_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    if not isinstance(value, kind) or bad_bool:
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise PackageError(f"{where}: field '{key}' must be {names}, got {value!r}. {_REMAKE}")
    return value


def validate_spec(spec: Any, where: str = "accelerator.json") -> dict:
    """Check an accelerator.json document against schema 1; return it, or raise PackageError."""
    if not isinstance(spec, dict):
        raise PackageError(f"{where}: expected a JSON object at the top level. {_REMAKE}")
    version = _need(spec, "schema", int, where)
    if version != SCHEMA_VERSION:
        raise PackageError(f"{where}: schema version {version}, this kit reads version {SCHEMA_VERSION}. "
                           "Update the kit (git pull) or re-create the package with this kit's Lab 2.")
    for key in ("name", "board", "part", "ip_name", "dma_name"):
        if not _need(spec, key, str, where).strip():
            raise PackageError(f"{where}: field '{key}' is empty. {_REMAKE}")
    if _need(spec, "clock_mhz", (int, float), where) <= 0:
        raise PackageError(f"{where}: field 'clock_mhz' must be positive, got {spec['clock_mhz']!r}. "
                           f"{_REMAKE}")
    scale = _need(spec, "output_scale", (int, float, list), where)
    if isinstance(scale, list):  # per class (a binary network's output affine), with output_bias
        bias = _need(spec, "output_bias", list, where)
        if not scale or len(bias) != len(scale) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale + bias):
            raise PackageError(f"{where}: a per-class 'output_scale' needs an 'output_bias' of numbers of "
                               f"the same length, got {scale!r} and {bias!r}. {_REMAKE}")
    elif scale <= 0:
        raise PackageError(f"{where}: field 'output_scale' must be positive, got {scale!r}. {_REMAKE}")
    for side in ("input", "output"):
        try:
            StreamSpec.from_dict(_need(spec, side, dict, where), where=f"{where}: {side}")
        except ValueError as err:
            raise PackageError(f"{err} {_REMAKE}") from None
    dma = _need(spec, "dma", dict, where)
    for key in ("mm2s_width_bits", "s2mm_width_bits", "length_width", "max_transfer_bytes"):
        _need(dma, key, int, f"{where}: dma")
    if not 8 <= dma["length_width"] <= 26:
        raise PackageError(f"{where}: dma.length_width must be 8..26 (the AXI DMA's 'Width of Buffer "
                           f"Length Register'), got {dma['length_width']}. {_REMAKE}")
    if dma["max_transfer_bytes"] != (1 << dma["length_width"]) - 1:
        raise PackageError(f"{where}: dma.max_transfer_bytes must be 2**length_width - 1 = "
                           f"{(1 << dma['length_width']) - 1}, got {dma['max_transfer_bytes']}. {_REMAKE}")
    for key in ("mm2s_width_bits", "s2mm_width_bits"):
        if dma[key] not in (8, 16, 32, 64, 128, 256, 512, 1024):
            raise PackageError(f"{where}: dma.{key} must be a power of two from 8 to 1024, got {dma[key]}.")
    if _need(spec, "tlast", str, where) not in ("per_packet", "none"):
        raise PackageError(f"{where}: field 'tlast' must be 'per_packet' or 'none', got {spec['tlast']!r}.")
    est = _need(spec, "estimates", dict, where)
    for key in ("cycles_per_sample", "latency_cycles"):
        if _need(est, key, (int, float), f"{where}: estimates") <= 0:
            raise PackageError(f"{where}: estimates.{key} must be positive, got {est[key]!r}. {_REMAKE}")
    _need(spec, "layers", list, where)
    bit = _need(spec, "bitstream", dict, where)
    _need(bit, "file", str, f"{where}: bitstream")
    _need(bit, "placeholder", bool, f"{where}: bitstream")
    return spec


@dataclass(frozen=True)
class DeployPackage:
    """A loaded, checked deploy package; ``spec`` is its accelerator.json."""

    path: Path
    spec: dict
    source: str = "given path"
    input: StreamSpec = field(init=False)
    output: StreamSpec = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input", StreamSpec.from_dict(self.spec["input"], "input"))
        object.__setattr__(self, "output", StreamSpec.from_dict(self.spec["output"], "output"))

    @property
    def name(self) -> str:
        """The package (and overlay) name, e.g. ``mnist_w4a4``."""
        return self.spec["name"]

    @property
    def bitfile(self) -> Path:
        """The bitstream file; pass ``str(pkg.bitfile)`` to ``pynq.Overlay``."""
        return self.path / self.spec["bitstream"]["file"]

    @property
    def hwh(self) -> Path:
        """The hardware hand-off file pynq reads next to the bitstream."""
        return self.bitfile.with_suffix(".hwh")

    @property
    def placeholder_bitstream(self) -> bool:
        """True if the .bit is a placeholder (built without Vivado): fine for the virtual board only."""
        return bool(self.spec["bitstream"]["placeholder"])

    @property
    def clock_mhz(self) -> float:
        """The accelerator clock (FCLK0) the design was built for."""
        return float(self.spec["clock_mhz"])

    @property
    def dma_name(self) -> str:
        """Instance name of the AXI DMA in the overlay (``axi_dma_0``)."""
        return self.spec["dma_name"]

    @property
    def ip_name(self) -> str:
        """Instance name of the accelerator in the overlay (``finn_accel_0``)."""
        return self.spec["ip_name"]

    @property
    def output_scale(self) -> float | np.ndarray:
        """Logits = integer output * output_scale (+ ``output_bias``): one number, or one per class."""
        scale = self.spec["output_scale"]
        return np.asarray(scale, dtype=np.float64) if isinstance(scale, list) else float(scale)

    @property
    def output_bias(self) -> float | np.ndarray:
        """Added to ``y_int * output_scale`` on the host: 0.0, or one per class (binary networks)."""
        bias = self.spec.get("output_bias")
        return 0.0 if bias is None else np.asarray(bias, dtype=np.float64)

    def logits(self, y_int: Any) -> np.ndarray:
        """Float logits of the accelerator's integer outputs ``(N, classes)``: ``y_int * scale + bias``."""
        return np.asarray(y_int, dtype=np.float64) * self.output_scale + self.output_bias

    @property
    def dataset(self) -> str:
        """The dataset the network was trained on ("mnist", "fashion-mnist"): test it on that one.

        Packages written before the kit recorded it are taken as MNIST (the course's dataset).
        """
        return str((self.spec.get("dataset") or {}).get("name") or "mnist")

    @property
    def classes(self) -> int:
        """Number of classes (outputs per sample)."""
        recorded = (self.spec.get("dataset") or {}).get("classes")
        return int(recorded or np.prod(self.output.shape_normal[1:]))

    def check_dataset(self, name: str) -> None:
        """Raise PackageError if the package was made for another dataset than ``name``."""
        if name != self.dataset:
            raise PackageError(
                f"the deploy package '{self.name}' was trained on {self.dataset}, not {name}: testing it on "
                f"{name} would give about chance accuracy (10%) with no error. Load "
                f"data.load(pkg.dataset, 'test') instead.")

    @property
    def hls_layers(self) -> dict:
        """``{layer: why it is HLS}``: layers with no RTL (Vitis HLS makes their HDL); empty if all-RTL."""
        return dict(self.spec.get("hls_layers") or {})

    @property
    def max_transfer_bytes(self) -> int:
        """Largest single DMA transfer (2**length_width - 1 bytes)."""
        return int(self.spec["dma"]["max_transfer_bytes"])

    @property
    def max_batch(self) -> int:
        """Most samples one DMA transfer can carry (input and output side)."""
        return min(self.max_transfer_bytes // self.input.bytes_per_sample,
                   self.max_transfer_bytes // self.output.bytes_per_sample)

    @property
    def estimates(self) -> dict:
        """FINN's estimates: cycles_per_sample, latency_cycles, fps, resources, ..."""
        return self.spec["estimates"]

    def golden(self) -> dict[str, np.ndarray]:
        """The golden batch Lab 2 verified, to check the board's outputs against.

        Returns
        -------
        dict of str to numpy.ndarray
            ``x`` (N, 400) uint8 (the 20x20 crops), ``y_int`` (N, 10) the accelerator's integer outputs,
            ``pred`` (N,) the predicted classes, ``labels`` (N,) the true ones (when recorded).

        Raises
        ------
        PackageError
            ``golden.npz`` lacks ``x`` or ``y_int``.
        """
        path = self.path / "golden.npz"
        with np.load(path) as data:
            out = {k: data[k] for k in data.files}
        missing = {"x", "y_int"} - set(out)
        if missing:
            raise PackageError(f"{path}: missing arrays {sorted(missing)}. {_REMAKE}")
        return out

    def describe(self) -> str:
        """A few lines saying what the package is and where it came from."""
        i, o = self.input, self.output
        bit = ("PLACEHOLDER (no Vivado: virtual board only)" if self.placeholder_bitstream
               else "real bitstream")
        return "\n".join([
            f"deploy package '{self.name}' from {self.source}: {self.path}",
            f"  board {self.spec['board']} ({self.spec['part']}), clock {self.clock_mhz:g} MHz, {bit}",
            f"  input  {i.datatype.name} {list(i.shape_normal)} -> folded {list(i.shape_folded)}, "
            f"{i.bytes_per_sample} bytes/sample on a {i.stream_width_bits}-bit stream",
            f"  output {o.datatype.name} {list(o.shape_normal)} -> folded {list(o.shape_folded)}, "
            f"{o.bytes_per_sample} bytes/sample on a {o.stream_width_bits}-bit stream",
            f"  trained on {self.dataset} ({self.classes} classes)"
            + ("" if (self.spec.get("dataset") or {}).get("name") else " (not recorded: assumed)"),
            f"  DMA '{self.dma_name}' (length register {self.spec['dma']['length_width']} bits: at most "
            f"{self.max_transfer_bytes:,} bytes = {self.max_batch:,} samples per transfer), "
            f"accelerator '{self.ip_name}'",
        ])


def load_package(path: str | os.PathLike, source: str = "given path") -> DeployPackage:
    """Load and check the deploy package in folder ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A package folder: ``accelerator.json``, ``<name>.bit``, ``<name>.hwh``, ``dataflow.npz`` and
        ``golden.npz``.
    source : str, default "given path"
        Where it was found, for :meth:`DeployPackage.describe`.

    Returns
    -------
    DeployPackage

    Raises
    ------
    PackageError
        A missing file or a field of ``accelerator.json`` that is absent or wrong; the message says what
        to do.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise PackageError(f"{folder} is not a folder. A deploy package is a folder with accelerator.json, "
                           f"<name>.bit and <name>.hwh. {_REMAKE}")
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise PackageError(f"{folder}: missing {', '.join(missing)}: not a complete deploy package. "
                           f"{_REMAKE}")
    where = str(folder / "accelerator.json")
    try:
        spec = json.loads((folder / "accelerator.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PackageError(f"{where}: not valid JSON ({err}). {_REMAKE}") from None
    validate_spec(spec, where)
    pkg = DeployPackage(folder.resolve(), spec, source)
    for f in (pkg.bitfile, pkg.hwh):
        if not f.is_file():
            raise PackageError(f"{folder}: missing {f.name} (pynq needs the .bit and the .hwh side by side, "
                               f"same name). {_REMAKE}")
    return pkg


def search_locations() -> list[tuple[str, Path]]:
    """Where :func:`find_package` looks, in order: (label, folder holding packages or a package)."""
    from ..paths import build_dir, pretrained_dir

    places = []
    env = os.environ.get("COURSE_DEPLOY_DIR")
    if env:
        places.append(("$COURSE_DEPLOY_DIR", Path(env).expanduser()))
    places.append(("build/ (your Lab 2)", build_dir("lab2", "deploy", create=False)))
    places.append(("pretrained/ (the kit's fallback)", pretrained_dir("lab2", "deploy")))
    places.append(("./deploy (next to the notebooks)", Path.cwd() / "deploy"))
    places.append(("../deploy (beside the notebook folder)", Path.cwd().parent / "deploy"))
    return places


def _packages_in(folder: Path) -> list[Path]:
    """``folder`` itself if it is a package, else its sub-folders that hold an accelerator.json."""
    if (folder / "accelerator.json").is_file():
        return [folder]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "accelerator.json").is_file())


def find_package(name: str | None = None) -> DeployPackage:
    """The first deploy package found (named ``name`` if given), searching :func:`search_locations`.

    Parameters
    ----------
    name : str, optional
        The package's name (its folder, e.g. ``"mnist_w4a4"``); default: the first one found.

    Returns
    -------
    DeployPackage
        Found in ``$COURSE_DEPLOY_DIR``, ``build/lab2/deploy/``, ``pretrained/lab2/deploy/``, ``./deploy``
        or ``../deploy``, in that order.

    Raises
    ------
    PackageError
        None found: the message lists where it looked.
    """
    looked = []
    for label, folder in search_locations():
        looked.append(f"{label}: {folder}")
        for pkg in _packages_in(folder):
            if name is None or pkg.name == name:
                return load_package(pkg, source=label)
    wanted = f"named '{name}' " if name else ""
    raise PackageError(f"No deploy package {wanted}found. Looked in:\n  " + "\n  ".join(looked) +
                       "\nRun Lab 2 to the end (it writes build/lab2/deploy/<name>/), or on a board copy "
                       "a package folder next to the notebooks as ./deploy/<name>/, or set "
                       "COURSE_DEPLOY_DIR to a package folder.")
