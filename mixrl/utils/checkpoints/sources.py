"""Readers of external checkpoints for ``migrate``: stable-baselines3, rl_games, plain state dicts, Flax msgpack.

The file type is recognised from the content, never from the extension alone:

* a zip holding ``policy.pth`` -> a **stable-baselines3** archive; the source is ``policy.pth``;
* a ``torch.save`` file holding a dict with a ``"model"`` mapping -> an **rl_games** checkpoint; the source
  is ``checkpoint["model"]`` (``a2c_network.*``, ``running_mean_std.*``, ``value_mean_std.*``);
* a ``torch.save`` file holding names to tensors, or a ``.safetensors`` file -> a plain **state dict**;
* a msgpack map -> **Flax** parameters (as written by ``mixrl.models.jax.Model.save``).

Torch files are read with ``weights_only=True`` (NumPy scalars, arrays and dtypes, which rl_games stores
in its checkpoints, are allowed too: they are data and run no code); arbitrary pickles only with
``allow_pickle=True``. Archive members are read into memory, nothing is extracted to disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from packaging.version import Version

from mixrl._logging import logger
from mixrl.models.torch._checkpoint import (
    describe_format,
    load_torch,
    read_bytes_member,
    read_safetensors,
    sniff_format,
)

SourceKind = Literal["stable-baselines3", "rl_games", "state_dict", "flax"]

_SB3_POLICY = "policy.pth"
_SB3_MARKERS = ("_stable_baselines3_version", "data", "policy.optimizer.pth")
_EXPECTED = (
    "expected a stable-baselines3 .zip (with policy.pth), an rl_games checkpoint (a torch.save dict with 'model'), "
    "a torch state dict (.pt/.safetensors) or flax msgpack parameters"
)


@dataclass(frozen=True)
class MigrationSource:
    """What a checkpoint file holds for ``migrate``.

    Attributes:
        kind: ``"stable-baselines3"``, ``"rl_games"``, ``"state_dict"`` or ``"flax"``.
        entries: names to CPU tensors in file order (``"flax"``: the nested parameter tree of NumPy arrays,
            without the ``"params"`` collection level).
    """

    kind: SourceKind
    entries: dict[str, Any]


def numpy_globals() -> list[Any]:
    """NumPy types the restricted unpickler may rebuild (scalars, arrays, dtypes: data, never code).

    Files written with NumPy 1.x name ``numpy.core.multiarray.*``; NumPy 2 moved it to ``numpy._core``,
    so both names are allowed.
    """
    core = getattr(np, "_core", None) or np.core
    multiarray = core.multiarray
    allowed: list[Any] = [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype]
    if Version(torch.__version__).release >= (2, 6):  # (object, name) aliases: torch >= 2.6
        allowed += [(multiarray.scalar, "numpy.core.multiarray.scalar")]
        allowed += [(multiarray._reconstruct, "numpy.core.multiarray._reconstruct")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return allowed


def read_migration_source(path: str | os.PathLike, *, allow_pickle: bool = False) -> MigrationSource:
    """Read the state dict that ``migrate`` imports from ``path`` (type recognised from the content).

    Args:
        path: a stable-baselines3 ``.zip``, an rl_games ``.pth``, a ``torch.save``/``.safetensors`` state dict
            or a Flax msgpack file (any extension).
        allow_pickle: unpickle arbitrary objects from torch files (can run code: trusted files only).

    Returns:
        the source kind and its entries.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file type cannot be identified, or the file is truncated, corrupted or holds
            objects other than tensors and plain data (without ``allow_pickle``).
    """
    name = os.fspath(path)
    found = sniff_format(path)
    if found == "zip":
        return MigrationSource("stable-baselines3", read_sb3(path, allow_pickle=allow_pickle))
    if found in ("torch", "torch-legacy"):
        content = load_torch(name, name, "cpu", not allow_pickle, numpy_globals())
        if isinstance(content, Mapping) and isinstance(content.get("model"), Mapping):
            return MigrationSource("rl_games", _tensors(content["model"], f"{name}['model']"))
        if isinstance(content, Mapping) and content and all(isinstance(v, torch.Tensor) for v in content.values()):
            return MigrationSource("state_dict", dict(content))
        raise ValueError(f"cannot identify file type of {name}: {_EXPECTED}; got {_summary(content)}")
    if found == "safetensors":
        return MigrationSource("state_dict", read_safetensors(name, "cpu"))
    if found == "msgpack":
        return MigrationSource("flax", read_flax(path))
    raise ValueError(f"cannot identify file type of {name}: {_EXPECTED}; the content is {describe_format(found)}")


def read_sb3(path: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The policy state dict (``policy.pth``) of a stable-baselines3 archive, on the CPU.

    Keys are SB3's, e.g. ``mlp_extractor.policy_net.0.weight``, ``action_net.*``, ``value_net.*``,
    ``log_std`` (on-policy) or ``actor.latent_pi.*``, ``actor.mu.*``, ``critic.qf0.*`` (off-policy).
    An SB3 archive without ``policy.pth`` gives an empty dict (with a warning).

    Raises:
        ValueError: not a zip archive, a zip that is not an SB3 archive, or an unreadable ``policy.pth``.
    """
    name = os.fspath(path)
    member = read_bytes_member(path, _SB3_POLICY)
    if member is None:
        import zipfile

        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if not any(marker in names for marker in _SB3_MARKERS):
            raise ValueError(f"cannot identify file type of {name}: a zip archive without {_SB3_POLICY}; {_EXPECTED}")
        logger.warning(f"{name}: stable-baselines3 archive without {_SB3_POLICY}: nothing to migrate")
        return {}
    content = load_torch(member, f"{name}:{_SB3_POLICY}", "cpu", not allow_pickle, numpy_globals())
    return _tensors(content, f"{name}:{_SB3_POLICY}")


def read_rl_games(path: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The network state dict (``checkpoint["model"]``) of an rl_games checkpoint, on the CPU.

    Raises:
        ValueError: not a torch file, or it holds no ``"model"`` mapping.
    """
    source = read_migration_source(path, allow_pickle=allow_pickle)
    if source.kind != "rl_games":
        raise ValueError(f"{os.fspath(path)}: expected an rl_games checkpoint (a dict with 'model'), got {source.kind}")
    return source.entries


def read_flax(path: str | os.PathLike) -> dict[str, Any]:
    """Flax parameters written as msgpack (``flax.serialization.to_bytes``), as a nested dict of NumPy arrays.

    The ``{"params": {...}}`` collection level written by mixrl JAX models is removed.

    Raises:
        ImportError: flax is not installed.
        ValueError: the file is not readable msgpack or not a mapping.
    """
    import flax.serialization

    name = os.fspath(path)
    with open(path, "rb") as file:
        data = file.read()
    try:
        tree = flax.serialization.msgpack_restore(data)
    except Exception as error:  # msgpack raises many types for corrupted bytes
        raise ValueError(f"{name}: not a readable flax msgpack file (truncated or corrupted?): {error}") from None
    if not isinstance(tree, Mapping):
        raise ValueError(f"{name}: expected a flax parameter tree (a mapping), got {type(tree).__name__}")
    return dict(tree["params"]) if set(tree) == {"params"} else dict(tree)


def _tensors(content: Any, name: str) -> dict[str, torch.Tensor]:
    """``content`` as names to tensors (non-tensor values are dropped with a warning)."""
    if not isinstance(content, Mapping):
        raise ValueError(f"{name}: expected a state dict (names to tensors), got {type(content).__name__}")
    tensors = {key: value for key, value in content.items() if isinstance(value, torch.Tensor)}
    dropped = [key for key in content if key not in tensors]
    if dropped:
        logger.warning(f"{name}: ignoring non-tensor entries {dropped}")
    return tensors


def _summary(content: Any) -> str:
    if isinstance(content, Mapping):
        keys = list(content)[:8]
        return f"a {type(content).__name__} with keys {keys}{' ...' if len(content) > 8 else ''}"
    return f"a {type(content).__name__}"
