"""Build the real bitstream of a deploy package with Vivado (2022.2 or 2024.2), when Vivado is installed.

``build_bitstream(package, ip_repo)`` writes the Vivado inputs (``params.tcl`` with this machine's
paths, next to the package's ``vivado/params.tcl``), runs ``vivado -mode batch -source
tcl/build.tcl`` (project, the kit's block design, synthesis, implementation, bitstream), and
copies ``<name>.bit`` and ``<name>.hwh`` from the Vivado project into the package, replacing the
placeholder and the generated ``.hwh`` (``accelerator.json`` records it). Without Vivado it raises
``course_utils.tools.ToolNotFound`` with one sentence saying what is skipped and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from course_utils import fileio
from course_utils.hw.blockdesign import params_from_accelerator, write_params_tcl
from course_utils.hw.dryrun import TCL_DIR
from course_utils.hw.ipmodels import RTL_DIR
from course_utils.tools import require_vivado

BUILD_TCL = TCL_DIR / "build.tcl"


class VivadoBuildError(RuntimeError):
    """Vivado ran but the build failed; the message points at the log."""


def build_inputs(
    package: str | Path, ip_repo: str | Path, work_dir: str | Path, jobs: int | None = None
) -> Path:
    """Write ``<work_dir>/params.tcl`` for ``tcl/build.tcl`` (design parameters + paths); return it."""
    pkg = Path(package)
    spec = json.loads((pkg / "accelerator.json").read_text())
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    repo = Path(ip_repo)
    if not repo.is_dir():
        raise FileNotFoundError(
            f"FINN stitched IP folder {repo} not found: run Lab 2's stitched-IP step with Vivado first "
            "(it writes <builder output>/stitched_ip)."
        )
    extra = {
        "name": spec["name"],
        "proj_dir": str(work / "project"),
        "out_dir": str(work / "out"),
        "ip_repo": str(repo.resolve()),
        "rtl_dir": str(RTL_DIR),
        "jobs": str(jobs or max(1, (os.cpu_count() or 2) // 2)),
    }
    return write_params_tcl(params_from_accelerator(spec), work / "params.tcl", extra)


def build_bitstream(
    package: str | Path,
    ip_repo: str | Path,
    *,
    work_dir: str | Path | None = None,
    jobs: int | None = None,
    timeout_s: float = 4 * 3600,
) -> Path:
    """Build ``<name>.bit``/``<name>.hwh`` for the deploy package with Vivado and put them in it.

    Raises ToolNotFound without Vivado, VivadoBuildError when the build fails (see the log path).
    Takes 10-30 minutes for the course's MLP on a laptop.
    """
    vivado = require_vivado("bitstream build (block design, synthesis, implementation)")
    pkg = Path(package)
    spec = json.loads((pkg / "accelerator.json").read_text())
    work = Path(work_dir) if work_dir else pkg.parent / f".{spec['name']}.vivado"
    params = build_inputs(pkg, ip_repo, work, jobs)
    log = work / "vivado.log"
    cmd = [
        str(vivado.executable),
        "-mode",
        "batch",
        "-nojournal",
        "-log",
        str(log),
        "-source",
        str(BUILD_TCL),
        "-tclargs",
        str(params),
    ]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout_s, check=False)
    out = work / "out"
    bit, hwh = out / f"{spec['name']}.bit", out / f"{spec['name']}.hwh"
    if proc.returncode != 0 or not bit.is_file() or not hwh.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise VivadoBuildError(f"Vivado build failed (exit {proc.returncode}); full log: {log}\n{tail}")
    for src, name in ((bit, f"{spec['name']}.bit"), (hwh, f"{spec['name']}.hwh")):
        with fileio.atomic_path(pkg / name) as tmp:
            shutil.copyfile(src, tmp)
    spec["bitstream"] = {"file": f"{spec['name']}.bit", "placeholder": False}
    spec["hwh"] = {"file": f"{spec['name']}.hwh", "generated": False}
    spec["vivado_version"] = vivado.version()
    fileio.write_text_atomic(pkg / "accelerator.json", json.dumps(spec, indent=1) + "\n")
    return pkg
