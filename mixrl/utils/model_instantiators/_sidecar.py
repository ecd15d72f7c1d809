"""The description sidecar of a checkpoint: ``<weights path>.model.yaml``, framework-free.

``Model.save("runs/policy.pt")`` of an instantiated model writes the weights to ``runs/policy.pt`` and
its resolved description (see :mod:`._resolved`) to ``runs/policy.pt.model.yaml``, so the checkpoint
can rebuild its own model. The sidecar is a configuration document: ``model_from_config`` reads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, BinaryIO

import yaml

from mixrl.checkpoints.atomic import atomic_write

SUFFIX = ".model.yaml"
_HEADER = "# mixrl model description of the weights in {name}: rebuild with load_model({name!r})\n"


def sidecar_path(path: str | os.PathLike) -> str:
    """The sidecar of the weights file ``path``: ``<path>.model.yaml``."""
    return os.fspath(path) + SUFFIX


def write_sidecar(path: str | os.PathLike, description: Mapping[str, Any]) -> None:
    """Write ``description`` as YAML beside the weights file ``path``, atomically.

    Raises:
        yaml.representer.RepresenterError: ``description`` holds something other than plain data.
    """
    text = yaml.safe_dump(dict(description), sort_keys=False, default_flow_style=None, width=120)
    header = _HEADER.format(name=os.path.basename(os.fspath(path)))

    def write(file: BinaryIO) -> None:
        file.write((header + text).encode("utf-8"))

    atomic_write(sidecar_path(path), write)


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The description saved beside the weights file ``path``.

    Raises:
        ValueError: the sidecar is missing, is not valid YAML, or is not a mapping (the message names it).
    """
    sidecar = sidecar_path(path)
    try:
        with open(sidecar, encoding="utf-8") as file:
            description = yaml.safe_load(file)
    except FileNotFoundError:
        raise ValueError(
            f"{sidecar}: missing: the weights {os.fspath(path)!r} have no model description beside them "
            "(Model.save writes it for models built by the model instantiators)"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{sidecar}: corrupted model description (not valid YAML): {error}") from None
    if not isinstance(description, dict):
        kind = type(description).__name__
        raise ValueError(f"{sidecar}: corrupted model description: expected a mapping, got {kind}")
    return description
