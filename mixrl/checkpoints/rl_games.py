"""rl_games checkpoints: a pickled dict holding ``"model"``, the network state dict, and training state.

``checkpoint["model"]`` names ``a2c_network.*`` (``actor_mlp.N.*``, ``mu.*``, ``sigma``, ``value.*``) plus
the normaliser statistics ``running_mean_std.*`` and ``value_mean_std.*``; ``"epoch"``, ``"frame"``,
``"optimizer"``, ``"last_mean_rewards"`` and ``"env_state"`` are not read. rl_games stores NumPy values,
which the restricted unpickler allows (:func:`~mixrl.checkpoints.torch_io.numpy_globals`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mixrl.checkpoints.formats import describe_format, require_torch, sniff_format

if TYPE_CHECKING:
    import torch


def network_state(content: Any, name: str) -> dict[str, torch.Tensor] | None:
    """``content["model"]`` as names to tensors when ``content`` is an rl_games checkpoint, else ``None``."""
    if isinstance(content, Mapping) and isinstance(content.get("model"), Mapping):
        from mixrl.checkpoints.torch_io import tensors_only

        return tensors_only(content["model"], f"{name}['model']")
    return None


def read_rl_games(path: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The network state dict (``checkpoint["model"]``) of an rl_games checkpoint, on the CPU.

    Raises:
        ImportError: torch is not installed.
        ValueError: not a torch file, or it holds no ``"model"`` mapping.
    """
    name = os.fspath(path)
    found = sniff_format(path)
    if found not in ("torch", "torch-legacy"):
        raise ValueError(f"{name}: expected an rl_games checkpoint (a torch.save file), got {describe_format(found)}")
    require_torch(f"reading the rl_games checkpoint {name}")
    from mixrl.checkpoints.torch_io import load_torch, numpy_globals

    state = network_state(load_torch(name, name, "cpu", not allow_pickle, numpy_globals()), name)
    if state is None:
        raise ValueError(f"{name}: expected an rl_games checkpoint (a dict with 'model'), got a plain state dict")
    return state
