"""Where the kit's folders are: the kit root, ``build/``, ``data/``, ``pretrained/``.

Every location can be overridden by an environment variable, so a read-only install, a class
server or a test can put things elsewhere: ``COURSE_ROOT``, ``COURSE_BUILD_DIR``,
``COURSE_DATA_DIR``.
"""
from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("pyproject.toml", "course_utils")


def _looks_like_kit(path: Path) -> bool:
    """The kit's checkout (solutions/) or a student bundle made by `course release` (labs/, no solutions)."""
    return all((path / m).exists() for m in _MARKERS) and any(
        (path / d).is_dir() for d in ("solutions", "labs"))


def kit_root() -> Path:
    """The kit's top folder: ``$COURSE_ROOT``, the checkout this package lives in, or the first
    parent of the current directory that looks like the kit; else the current directory."""
    env = os.environ.get("COURSE_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if _looks_like_kit(here):
        return here
    cwd = Path.cwd().resolve()
    for parent in (cwd, *cwd.parents):
        if _looks_like_kit(parent):
            return parent
    return cwd


def build_dir(*parts: str, create: bool = True) -> Path:
    """``build/`` (or ``$COURSE_BUILD_DIR``), optionally a sub-folder such as ``build_dir("lab2")``."""
    base = Path(os.environ["COURSE_BUILD_DIR"]).expanduser() if os.environ.get("COURSE_BUILD_DIR") \
        else kit_root() / "build"
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Where datasets are cached: ``$COURSE_DATA_DIR`` or ``data/`` in the kit."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser() if env else kit_root() / "data"


def pretrained_dir(*parts: str) -> Path:
    """The shipped fallback artifacts (``pretrained/``), so each lab can start cold."""
    return kit_root().joinpath("pretrained", *parts)
