"""Installed versions of Python distributions: the one table-maker for every artifact and report.

Standard library only, so the board part and the board-side demo use it too.
"""
from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

NOT_INSTALLED = "not installed"


def dist_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (``"finn-plus"``, ``"pynq"``), or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def dist_versions(dists: Iterable[str], missing: str | None = NOT_INSTALLED) -> dict[str, str]:
    """``{dist: version}`` for ``dists`` in order.

    Parameters
    ----------
    dists : iterable of str
        Distribution names as pip knows them.
    missing : str or None
        What a distribution that is not installed gets (default ``"not installed"``); None leaves it out.

    Returns
    -------
    dict of str to str
    """
    out = {}
    for dist in dists:
        found = dist_version(dist)
        if found is not None:
            out[dist] = found
        elif missing is not None:
            out[dist] = missing
    return out
