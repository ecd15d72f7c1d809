"""Flax parameters on disk: msgpack (``flax.serialization``), never pickle; flax imported on first use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mixrl.checkpoints.atomic import atomic_write


def write_flax(path: str | os.PathLike, tree: Any) -> None:
    """Write a parameter tree as Flax msgpack bytes, atomically (a crash never leaves a partial file)."""
    import flax.serialization

    data = flax.serialization.to_bytes(tree)
    atomic_write(path, lambda file: file.write(data))


def read_msgpack(path: str | os.PathLike) -> dict[str, Any]:
    """The tree of a msgpack file as written by :func:`write_flax` (nested dicts of NumPy arrays).

    Raises:
        ValueError: the file is not readable msgpack (truncated, corrupted, another format) or not a
            mapping; the message names the file.
    """
    import flax.serialization

    name = os.fspath(path)
    with open(path, "rb") as file:
        data = file.read()
    try:
        tree = flax.serialization.msgpack_restore(data)
    except Exception as error:  # msgpack and its ext hooks raise many types for corrupted bytes
        raise ValueError(f"{name}: not a readable flax msgpack file (truncated or corrupted?): {error}") from None
    if not isinstance(tree, Mapping):
        raise ValueError(f"{name}: expected a flax parameter tree (a mapping), got {type(tree).__name__}")
    return dict(tree)


def read_flax(path: str | os.PathLike) -> dict[str, Any]:
    """Flax parameters written as msgpack, without the ``{"params": {...}}`` level of mixrl JAX models.

    Raises:
        ImportError: flax is not installed.
        ValueError: the file is not readable msgpack or not a mapping.
    """
    tree = read_msgpack(path)
    return dict(tree["params"]) if set(tree) == {"params"} else tree
