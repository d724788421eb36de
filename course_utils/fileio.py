"""Atomic writes and checksums, shared by every stage (standard library only: runs on the board too).

A file is written to a temporary file in the same folder and renamed into place only when the write
finished, so an interrupted or failed step never leaves a half-written file that looks good.

Two forms, used by every writer in the kit (a test scans the tree for hand-written renames):

- :func:`atomic_file` yields an open file object (``json.dump``, ``f.write``, ``np.savez(f, ...)``);
- :func:`atomic_path` yields a temporary path for writers that take a path (``torch.save``, ``np.save``,
  ``ModelWrapper.save``, ``fig.savefig``, ``shutil.copyfile``), or with ``folder=True`` a temporary folder
  that replaces the target folder as a whole (a deploy package, a cache entry);
- :func:`publish` is the rename behind both, for the few writers that stage several files first.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_CHUNK = 1 << 20


def _umask() -> int:
    """The process's umask (mkstemp makes 0600 files; ours are readable like any other file)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                newline: str | None = None, permissions: int | None = None) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on a clean exit rename it to ``path``, on an error delete it.

    ``mode``, ``encoding`` and ``newline`` are ``open``'s; ``permissions`` the file's mode bits (default:
    readable like any other file under the umask; ``0o600`` for a secret).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask() if permissions is None else permissions)
        publish(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike, *, folder: bool = False, keep_existing: bool = False
                ) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit rename it to ``path``, on an error delete it.

    Parameters
    ----------
    path : str or os.PathLike
        The file (or with ``folder=True`` the folder) to write. Its parent folder is created.
    folder : bool
        ``False``: the temporary path does not exist yet and ends with the target's suffix (so ``np.save``
        does not append ``.npy`` and ``savefig`` picks the format from it); the writer creates it.
        ``True``: the temporary path is an empty folder; on success it replaces the target folder as a
        whole (an existing target is moved aside first and deleted after the swap).
    keep_existing : bool
        For content-addressed cache entries (``folder=True`` only): when the target folder exists at the
        end (another process built the same key meanwhile), keep it and drop this one.

    Yields
    ------
    pathlib.Path
        Where to write.

    Raises
    ------
    FileNotFoundError
        If the writer deleted or never produced the temporary path.
    IsADirectoryError, NotADirectoryError
        If the target exists with the other kind (a folder where a file goes, or the reverse).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.stem if not folder else target.name}."
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=f".tmp{target.suffix}")
        os.close(fd)
        tmp = Path(name)
        tmp.unlink()  # a fresh name: the writer creates the file with the usual permissions
    try:
        yield tmp
        if not folder and not tmp.is_file():
            raise FileNotFoundError(f"nothing was written to {tmp} for {target}: the writer must write "
                                    "to exactly the path it was given")
        publish(tmp, target, keep_existing=keep_existing)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.unlink(tmp)


def publish(src: str | os.PathLike, target: str | os.PathLike, *, keep_existing: bool = False) -> Path:
    """Move a finished file or folder ``src`` to ``target`` in one rename (same file system); return it.

    For staging folders whose files are written first and put in place together, and for tools that
    write their own output where the kit cannot choose the name. A file replaces a file; a folder
    replaces a folder as a whole (see :func:`atomic_path`).
    """
    src, target = Path(src), Path(target)
    if src.is_dir() and not src.is_symlink():
        _swap_folder(src, target, keep_existing)
    else:
        if target.is_dir() and not target.is_symlink():
            raise IsADirectoryError(f"{target} is a folder: remove it or write the file elsewhere")
        os.replace(src, target)
    return target


def _swap_folder(tmp: Path, target: Path, keep_existing: bool) -> None:
    """Put the finished folder ``tmp`` at ``target``, replacing an existing folder there."""
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} is a file, not a folder: remove it and run again")
    os.chmod(tmp, 0o777 & ~_umask())
    if not target.exists():
        try:
            os.replace(tmp, target)
            return
        except OSError:  # the target appeared meanwhile (a non-empty folder cannot be replaced)
            if not target.is_dir():
                raise
    if keep_existing:
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
    os.replace(target, old / "previous")
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(old / "previous", target)  # put the old folder back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_file(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation); return the path."""
    with atomic_file(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
