"""FINN (finn-plus) without Vivado: the import shim, FINN's folders under the kit's build folder.

finn-plus expects to be started by its own CLI, which needs Vivado. Three things make its Python API
usable on any machine:

* ``finn.builder.build_dataflow_steps`` does ``from finn.xsi import SimEngine`` at import time, and
  ``finn.xsi`` then insists on a compiled Vivado simulator. Without Vivado a placeholder ``SimEngine``
  is bound first (RTL simulation needs Vivado anyway; nothing else uses it); with Vivado, FINN's own.
* ``FINN_BUILD_DIR`` (FINN's scratch folder for generated code) goes to ``build/finn/`` and
  ``FINN_SETTINGS`` to ``build/finn/settings.yaml``, never to the home folder.
* The builder writes ``XILINX_VIVADO`` into its report at the end: ``vivado_placeholder()`` gives it
  a clearly fake value for estimate-only and code-generation runs, and removes it afterwards.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from course_utils import tools
from course_utils.paths import build_dir

FPGA_PART = "xc7z020clg400-1"
"""The Zynq-7020 of the PYNQ-Z1/Z2 and Zybo Z7-20 boards."""
DEFAULT_CLOCK_MHZ = 100.0
PLACEHOLDER_VIVADO = "/nonexistent/Xilinx/Vivado/not-installed"

# Harmless warnings printed by every QONNX import of a Brevitas export.
_KNOWN_WARNINGS = (
    r"The GemmToMatMul transformation only offers explicit support for version 9",
    r"Assuming 2D input is NC",
    r"Assuming 4D input is NCHW",
)


def finn_build_dir() -> Path:
    """FINN's scratch folder for generated code: ``build/finn`` (follows ``$COURSE_BUILD_DIR``)."""
    return build_dir("finn")


def setup() -> Path:
    """Make finn-plus importable and usable here; return ``FINN_BUILD_DIR``. Idempotent, cheap.

    Call it before importing ``finn.builder``. It follows ``$COURSE_BUILD_DIR`` (tests point it at a
    temporary folder), and resets FINN's cached settings when that folder changed.
    """
    folder = finn_build_dir().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    changed = os.environ.get("FINN_BUILD_DIR") != str(folder)
    os.environ["FINN_BUILD_DIR"] = str(folder)
    os.environ["FINN_SETTINGS"] = str(folder / "settings.yaml")
    for pattern in _KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
    _bind_simengine_placeholder()
    if changed:
        _reset_finn_settings()
    return folder


def _bind_simengine_placeholder() -> None:
    """Without Vivado, bind a placeholder ``finn.xsi.SimEngine`` (with Vivado, FINN loads the real one)."""
    import finn.xsi as xsi

    if "SimEngine" not in vars(xsi) and not tools.find_vivado().found:
        class SimEngine:  # noqa: D401 - placeholder type, used in annotations only
            """Placeholder: RTL simulation needs Vivado's XSI (course_utils.finnflow.env)."""

        xsi.SimEngine = SimEngine


def _reset_finn_settings() -> None:
    """Forget FINN's cached settings so that the next use reads the new ``FINN_BUILD_DIR``."""
    import finn.util.settings as settings

    settings._SETTINGS = None


def status() -> dict[str, object]:
    """What the FINN flow can do here: versions, FINN folders, Vivado / Vitis HLS found or not."""
    from course_utils.versions import dist_version as _version

    vivado, hls = tools.find_vivado(), tools.find_vitis_hls()
    return {
        "finn-plus": _version("finn-plus"),
        "qonnx": _version("qonnx"),
        "FINN_BUILD_DIR": os.environ.get("FINN_BUILD_DIR"),
        "FINN_SETTINGS": os.environ.get("FINN_SETTINGS"),
        "vivado": str(vivado.executable) if vivado.found else None,
        "vitis_hls": str(hls.executable) if hls.found else None,
        "can_synthesize": vivado.found and hls.found,
    }


def vivado_available() -> bool:
    """True when both Vivado and Vitis HLS were found (FINN's IP steps need both)."""
    return tools.vivado_available()


@contextlib.contextmanager
def vivado_placeholder() -> Iterator[bool]:
    """Inside: ``XILINX_VIVADO`` is set (a clearly fake path when Vivado is absent). Yields found-or-not.

    The builder only *reads* the variable at its end (to write the tool version in a report); steps
    that really need Vivado still fail, with FINN's own "vivado not found" error.
    """
    found = tools.find_vivado().found
    old = os.environ.get("XILINX_VIVADO")
    if not found:
        os.environ["XILINX_VIVADO"] = PLACEHOLDER_VIVADO
    try:
        yield found
    finally:
        if not found:
            if old is None:
                os.environ.pop("XILINX_VIVADO", None)
            else:
                os.environ["XILINX_VIVADO"] = old
