"""Variant designs of a deploy package for the virtual board's pitfall demos (Lab 3.3), made on the host.

A variant is a copy of a package whose ``.hwh`` is regenerated from the kit's block-design description
(:mod:`course_utils.hw.hwh`, which runs the block-design Tcl in a Tcl interpreter): a 14-bit DMA length
register or no TLAST packetizer. It lives in ``hw/`` and not in ``board/`` because the board part imports
only numpy and pynq (docs/ARCHITECTURE.md); ``hw/`` may import ``board/``, never the reverse.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from course_utils import fileio
from course_utils.board.package import DeployPackage, load_package, validate_spec
from course_utils.hw.hwh import generate_hwh

__all__ = ["write_variant"]


def write_variant(pkg: DeployPackage, dest: str | os.PathLike, *, length_width: int | None = None,
                  tlast: bool | None = None) -> DeployPackage:
    """A copy of ``pkg`` describing a variant design, for the virtual board's pitfall demos.

    Parameters
    ----------
    pkg : DeployPackage
        The package to copy (``course_utils.board.package.find_package()``).
    dest : str or os.PathLike
        Folder that receives the variant ``<name>_len14`` / ``<name>_notlast`` (created if missing).
    length_width : int, optional
        Width of the AXI DMA's buffer length register; ``14`` is Vivado's default.
    tlast : bool, optional
        ``False`` leaves the TLAST packetizer out (a bare FINN accelerator on the S2MM stream).

    Returns
    -------
    DeployPackage
        The variant, loaded. Its ``.bit`` is always a placeholder: a real board needs a bitstream built
        from the variant design.
    """
    suffix = "".join([f"_len{length_width}" if length_width else "", "_notlast" if tlast is False else ""])
    if not suffix:
        raise ValueError("write_variant needs length_width=... and/or tlast=False.")
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{pkg.name}{suffix}"
    with fileio.atomic_path(target, folder=True) as tmp:
        for f in pkg.path.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        spec = json.loads((pkg.path / "accelerator.json").read_text(encoding="utf-8"))
        if length_width is not None:
            spec["dma"]["length_width"] = int(length_width)
            spec["dma"]["max_transfer_bytes"] = (1 << int(length_width)) - 1
        if tlast is False:
            spec["tlast"] = "none"
        generate_hwh(spec, tmp / pkg.hwh.name, tlast=spec["tlast"] != "none",
                     length_width=spec["dma"]["length_width"])
        spec["bitstream"]["placeholder"] = True
        (tmp / pkg.bitfile.name).write_text(
            f"PLACEHOLDER BITSTREAM: variant '{suffix[1:]}' of {pkg.name} for the virtual board's "
            "pitfall demos.\n"
            "A real board needs a bitstream built from this variant design with Vivado.\n", encoding="utf-8")
        (tmp / "accelerator.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        validate_spec(spec, str(tmp / "accelerator.json"))
    return load_package(target, source=f"variant of {pkg.name}")
