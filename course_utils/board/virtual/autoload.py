"""Switch the virtual board on when ``pynq`` is imported (the board env's .pth imports this module).

The board environment's ``zz_course_virtual_board.pth`` imports this module at interpreter start-up
when ``PYNQ_VIRTUAL_BOARD`` is set (the Jupyter kernel "PYNQ virtual board" sets it). Importing pynq
here would slow every start-up, so this only puts a small finder on ``sys.meta_path``: when pynq is
first imported, the finder lets pynq load normally and then imports
``course_utils.board.virtual.device``, which registers the virtual device with pynq before any device
is probed. Student code stays plain ``from pynq import Overlay, allocate``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

DEVICE_MODULE = "course_utils.board.virtual.device"


def register() -> None:
    """Register the virtual device with pynq (idempotent; pynq must be importable)."""
    importlib.import_module(DEVICE_MODULE)


class _RegisterAfterLoad(importlib.abc.Loader):
    """Wraps pynq's own loader: run it, then register the virtual device."""

    def __init__(self, loader: Any):
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        """Load pynq (quietly), then register the virtual device."""
        import warnings

        with warnings.catch_warnings():  # pynqutils imports the deprecated pkg_resources: not the student's
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            self.loader.exec_module(module)
        uninstall()
        register()


class PynqImportHook(importlib.abc.MetaPathFinder):
    """Finder for ``pynq`` only: the import of pynq gets a loader that registers the virtual device.

    It stays on ``sys.meta_path`` until pynq is really loaded: a mere ``importlib.util.find_spec("pynq")``
    (as a notebook's environment check does) must not use it up, or the later ``import pynq`` would find no
    device."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """pynq's own spec (from the path finders, so this finder is not asked again), loader wrapped."""
        if fullname != "pynq":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfterLoad(spec.loader)
        return spec


def install() -> None:
    """Arrange for the virtual device to be registered with pynq (now, if pynq is already loaded)."""
    if "pynq" in sys.modules:
        register()
    elif not any(isinstance(f, PynqImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, PynqImportHook())


def uninstall() -> None:
    """Remove the finder (it removes itself once pynq is imported)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, PynqImportHook)]


if os.environ.get("PYNQ_VIRTUAL_BOARD", "").strip() not in ("", "0"):
    install()
