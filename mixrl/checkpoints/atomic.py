"""Crash-safe file writing shared by every backend.

:func:`atomic_write` writes a temporary file ``.<name>.<8 random characters>.tmp`` in the destination's
directory, flushes and fsyncs it, gives it the permissions an ordinary ``open(path, "w")`` would (an existing
destination keeps its own, a new one gets ``0o666 & ~umask``) and renames it over the destination. A symlink
destination is written through: the link's target is replaced and the link stays a link. Temporary files of
the same destination left by a killed earlier save (older than the current one) are removed first.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from typing import Any, BinaryIO

_TEMP_SUFFIX = ".tmp"
_RANDOM = "[a-z0-9_]{8}"  # tempfile.mkstemp's random part


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Write a file so that ``path`` holds either its old content or the complete new one.

    ``write`` receives a binary file object in the same directory (its return value is ignored); once
    it returns, the data is flushed to disk, the file gets the mode ``open()`` would give it and is renamed
    over ``path`` (through a symlink: over its target). On any error the temporary file is removed and
    ``path`` is left untouched. Stale temporary files of ``path`` (a save killed before its rename) that are
    older than this call are removed.
    """
    started = time.time()
    destination = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    directory, base = os.path.split(destination)
    remove_stale_temporaries(destination, started)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fchmod(file.fileno(), _mode_for(destination))
            os.fsync(file.fileno())
        os.replace(tmp_path, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise


def temporary_pattern(destination: str) -> re.Pattern[str]:
    """The names of :func:`atomic_write`'s temporary files for ``destination`` (a file name or path)."""
    return re.compile(rf"\.{re.escape(os.path.basename(destination))}\.{_RANDOM}{re.escape(_TEMP_SUFFIX)}")


def remove_stale_temporaries(destination: str, before: float) -> list[str]:
    """Remove the temporary files of ``destination`` last modified before ``before`` (a ``time.time()``).

    Only names matching :func:`temporary_pattern` for this destination, in its directory, are considered.

    Returns:
        the removed paths.
    """
    directory = os.path.dirname(destination) or "."
    pattern = temporary_pattern(destination)
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not pattern.fullmatch(name):
            continue
        candidate = os.path.join(directory, name)
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            info = os.lstat(candidate)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < before:
                os.unlink(candidate)
                removed.append(candidate)
    return removed


def _mode_for(destination: str) -> int:
    """The permission bits ``open(destination, "w")`` gives: the existing file's, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(destination).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux ``/proc``)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only briefly)
    os.umask(mask)
    return mask
