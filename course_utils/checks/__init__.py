"""Exercise checkpoints: ``from course_utils import checks; checks.lab1.ex_2_3(fn)``.

Each check takes the student's objects as arguments (never globals), prints
"Exercise 2.3 passed: ..." or raises ``CheckFailure`` (an AssertionError): one short block with the
exercise, the mistake, a counterexample and a hint. ``checks.environment("lab3")`` in a setup cell
stops at once, saying which kernel to select, when the notebook runs on the wrong one.
The per-lab modules are imported on first use, so importing ``checks`` is cheap (and works on the board).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

__all__ = ["lab1", "lab2", "lab3", "environment", "EnvironmentMismatch"]

HOST_KERNEL = "Python 3 (ipykernel)"
BOARD_KERNEL = "PYNQ virtual board (Zynq-7020)"
NEEDS = {  # lab -> (modules its notebooks import, the kernel that has them)
    "lab1": (("torch", "brevitas", "qonnx"), HOST_KERNEL),
    "lab2": (("finn", "qonnx"), HOST_KERNEL),
    "lab3": (("pynq",), BOARD_KERNEL),
}


class EnvironmentMismatch(RuntimeError):
    """The notebook runs on a kernel without the packages it needs: says which kernel to select."""

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows instead of a traceback: the message, first line in red."""
        first, *rest = str(self).splitlines()
        return [f"\x1b[31m\x1b[1m{first}\x1b[0m", *rest]


def environment(lab: str) -> None:
    """Stop with what to select when this kernel lacks the packages of ``lab`` ("lab1", "lab2", "lab3")."""
    if lab not in NEEDS:
        raise ValueError(f"unknown lab {lab!r}: use one of {sorted(NEEDS)}")
    modules, kernel = NEEDS[lab]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    other_lab = "lab1" if kernel == BOARD_KERNEL else "lab3"
    other = NEEDS[other_lab][1]
    on_other = all(importlib.util.find_spec(m) is not None for m in NEEDS[other_lab][0])
    wrong = f" You are probably on the kernel '{other}'." if on_other else ""
    lines = [f"Wrong kernel: this {lab[:3].title()} {lab[3:]} notebook needs the kernel '{kernel}'.",
             f"This kernel ({sys.executable}) has no {', '.join(missing)}.{wrong}",
             f"Select it: menu Kernel > Change Kernel..., choose '{kernel}', then run this cell again."]
    if kernel == BOARD_KERNEL:
        lines.append("On a real PYNQ board, choose the board's own 'Python 3' kernel instead.")
    lines.append("Not in the list? Start JupyterLab with `make lab` from the kit's folder (it installs both "
                 "kernels); `course doctor` says what is missing.")
    raise EnvironmentMismatch("\n".join(lines))


def __getattr__(name: str) -> ModuleType:
    if name in ("lab1", "lab2", "lab3"):
        return importlib.import_module(f"course_utils.checks.{name}")
    raise AttributeError(f"module 'course_utils.checks' has no attribute {name!r}")
