"""The torch ops table of the expression language, and the torch modules of activations."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch

from mixrl.utils.model_instantiators._compile import OneHot, Ops
from mixrl.utils.model_instantiators._expressions import ACTIVATIONS
from mixrl.utils.spaces.torch import unflatten_tensorized_space

_SHIFTS: dict[tuple[bytes, torch.device], torch.Tensor] = {}


def _one_hot(index: torch.Tensor, shift: np.ndarray, width: int) -> torch.Tensor:
    key = (shift.tobytes(), index.device)
    if key not in _SHIFTS:  # one small tensor per space and device, not one copy per call
        _SHIFTS[key] = torch.as_tensor(shift, device=index.device)
    out = torch.zeros(index.shape[0], width, dtype=torch.float32, device=index.device)
    return out.scatter_(1, index.long() + _SHIFTS[key], 1.0)


def _concatenate(items: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(items, dim=-1)


def _getitem(value: Any, index: Any) -> Any:
    return value[index]


def _unflatten(space: Any, x: torch.Tensor) -> Any:
    return unflatten_tensorized_space(space, x)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


OPS = Ops(
    array=torch.Tensor,
    concatenate=_concatenate,
    permute=torch.permute,
    getitem=_getitem,
    reshape=torch.reshape,
    unflatten=_unflatten,
    one_hot=_one_hot,
    activations={name: _softmax if name == "softmax" else getattr(torch.nn.functional, name) for name in ACTIVATIONS},
)
ACTIVATION_MODULES: dict[str, Any] = {
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "leaky_relu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "softplus": torch.nn.Softplus,
    "softsign": torch.nn.Softsign,
    "selu": torch.nn.SELU,
    "softmax": lambda: torch.nn.Softmax(dim=-1),
}


def one_hot_encoding(
    space: gymnasium.spaces.Discrete | gymnasium.spaces.MultiDiscrete, x: torch.Tensor
) -> torch.Tensor:
    """One-hot encode Discrete / MultiDiscrete values (``start`` honoured; values are not range-checked).

    Args:
        space: ``Discrete(n, start)`` or ``MultiDiscrete(nvec, start)``.
        x: (batch, 1) or (batch,) Discrete values, (batch, *nvec.shape) MultiDiscrete values.

    Returns:
        float32 (batch, n) or (batch, sum(nvec)): the one-hots of the components, concatenated.

    Raises:
        ValueError: another space, or ``x`` has the wrong number of values per sample.
    """
    return OneHot(space, OPS)(x)
