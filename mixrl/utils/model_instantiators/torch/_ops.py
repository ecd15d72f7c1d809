"""The torch ops table of the expression language, and the torch modules of activations."""

from __future__ import annotations

import operator
from typing import Any

import gymnasium
import numpy as np
import torch

from mixrl.utils.model_instantiators._compile import ONE_HOT_DOC, OneHot, Ops
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


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


OPS = Ops(
    array=torch.Tensor,
    concatenate=_concatenate,
    permute=torch.permute,
    getitem=operator.getitem,
    reshape=torch.reshape,
    unflatten=unflatten_tensorized_space,
    one_hot=_one_hot,
    activations={name: _softmax if name == "softmax" else getattr(torch.nn.functional, name) for name in ACTIVATIONS},
)
_MODULES = ("ReLU", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "Softplus", "Softsign", "SELU", "Softmax")
ACTIVATION_MODULES: dict[str, Any] = {
    name: getattr(torch.nn, module) for name, module in zip(ACTIVATIONS, _MODULES, strict=True)
}
ACTIVATION_MODULES["softmax"] = lambda: torch.nn.Softmax(dim=-1)


def one_hot_encoding(
    space: gymnasium.spaces.Discrete | gymnasium.spaces.MultiDiscrete, x: torch.Tensor
) -> torch.Tensor:
    encoder = OneHot(space, OPS)
    encoder.check(x.detach().cpu().numpy())
    return encoder(x)


one_hot_encoding.__doc__ = ONE_HOT_DOC
