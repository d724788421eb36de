"""Exercise checkpoints: ``from course_utils import checks; checks.lab1.ex_2_3(fn)``.

Each check takes the student's objects as arguments (never globals), prints
"Exercise 2.3 passed: ..." or raises ``AssertionError("Exercise 2.3: ... Hint: ...")``.
The per-lab modules are imported on first use, so importing ``checks`` is cheap.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["lab1", "lab2", "lab3"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"course_utils.checks.{name}")
    raise AttributeError(f"module 'course_utils.checks' has no attribute {name!r}")
