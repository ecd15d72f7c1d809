"""What ``Model.migrate(path=...)`` reads: the file type is recognised from the content, never the extension.

* a zip holding ``policy.pth`` -> a **stable-baselines3** archive (:mod:`.sb3`); the source is ``policy.pth``;
* a ``torch.save`` file holding a dict with a ``"model"`` mapping -> an **rl_games** checkpoint
  (:mod:`.rl_games`); the source is ``checkpoint["model"]``;
* a ``torch.save`` file holding names to tensors, or a ``.safetensors`` file -> a plain **state dict**;
* a msgpack map -> **Flax** parameters (as written by ``mixrl.models.jax.Model.save``).

Torch files are read with ``weights_only=True`` (plus NumPy data types); arbitrary pickles only with
``allow_pickle=True``. Torch files need torch; safetensors and msgpack files can be read without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mixrl.checkpoints.formats import MIGRATION_SOURCES, describe_format, require_torch, sniff_format

SourceKind = Literal["stable-baselines3", "rl_games", "state_dict", "flax"]


@dataclass(frozen=True)
class MigrationSource:
    """What a checkpoint file holds for ``migrate``.

    Attributes:
        kind: ``"stable-baselines3"``, ``"rl_games"``, ``"state_dict"`` or ``"flax"``.
        entries: names to CPU tensors in file order (NumPy arrays for a safetensors file read with
            ``arrays="numpy"``; ``"flax"``: the nested parameter tree of NumPy arrays, without the
            ``"params"`` collection level).
    """

    kind: SourceKind
    entries: dict[str, Any]


def read_migration_source(
    path: str | os.PathLike,
    *,
    allow_pickle: bool = False,
    arrays: Literal["torch", "numpy"] = "torch",
    key: str | None = None,
) -> MigrationSource:
    """Read the state dict that ``migrate`` imports from ``path`` (type recognised from the content).

    Args:
        path: a stable-baselines3 ``.zip``, an rl_games ``.pth``, a ``torch.save``/``.safetensors`` state dict
            or a Flax msgpack file (any extension).
        allow_pickle: unpickle arbitrary objects from torch files (can run code: trusted files only).
        arrays: how a safetensors file is read: torch tensors, or NumPy arrays (no torch needed).
        key: the state dict ``content[key]`` of a torch file holding several (an skrl agent checkpoint
            ``{"policy": ..., "value": ..., "optimizer": ...}``: ``key="policy"``); torch files only.

    Returns:
        the source kind and its entries.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportError: a torch file (``.pt``, SB3, rl_games) and torch is not installed.
        ValueError: the file type cannot be identified, or the file is truncated, corrupted or holds
            objects other than tensors and plain data (without ``allow_pickle``).
    """
    name = os.fspath(path)
    found = sniff_format(path)
    if key is not None and found not in ("torch", "torch-legacy"):
        raise ValueError(f"{name}: key={key!r} selects a state dict in a torch file; this is {describe_format(found)}")
    if found == "zip":
        from mixrl.checkpoints.sb3 import read_sb3

        return MigrationSource("stable-baselines3", read_sb3(path, allow_pickle=allow_pickle))
    if found in ("torch", "torch-legacy"):
        require_torch(f"reading {name} ({describe_format(found)})")
        import torch

        from mixrl.checkpoints.rl_games import network_state
        from mixrl.checkpoints.torch_io import load_torch, numpy_globals, select_state_dict

        content = load_torch(name, name, "cpu", not allow_pickle, numpy_globals())
        network = network_state(content, name) if key is None else None
        if network is not None:
            return MigrationSource("rl_games", network)
        content = select_state_dict(content, key, name)
        if isinstance(content, Mapping) and content and all(isinstance(v, torch.Tensor) for v in content.values()):
            return MigrationSource("state_dict", dict(content))
        raise ValueError(f"cannot identify file type of {name}: {MIGRATION_SOURCES}; got {_summary(content)}")
    if found == "safetensors":
        from mixrl.checkpoints.safetensors_io import read_safetensors

        return MigrationSource("state_dict", read_safetensors(name, arrays=arrays))
    if found == "msgpack":
        from mixrl.checkpoints.flax_io import read_flax

        return MigrationSource("flax", read_flax(path))
    raise ValueError(
        f"cannot identify file type of {name}: {MIGRATION_SOURCES}; the content is {describe_format(found)}"
    )


def _summary(content: Any) -> str:
    if isinstance(content, Mapping):
        keys = list(content)[:8]
        return f"a {type(content).__name__} with keys {keys}{' ...' if len(content) > 8 else ''}"
    return f"a {type(content).__name__}"
