"""Action clipping to the bounds of a Box action space, shared by the continuous mixins."""

from __future__ import annotations

from typing import Any

import gymnasium
import torch


def action_bounds(model: Any, clip_actions: bool, mixin: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Flat ``(low, high)`` float32 tensors of the model's Box action space, or ``None`` when not clipping.

    Raises:
        ValueError: clipping is requested but the action space is not a gymnasium Box.
    """
    if not clip_actions:
        return None
    space = model.action_space
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(
            f"{mixin}(clip_actions=True) needs a gymnasium Box action space to read bounds from, "
            f"got {type(space).__name__}: pass a Box or clip_actions=False"
        )
    low = torch.as_tensor(space.low, dtype=torch.float32).reshape(-1)
    high = torch.as_tensor(space.high, dtype=torch.float32).reshape(-1)
    return low.to(model.device), high.to(model.device)


def clip_to_bounds(entry: Any, actions: torch.Tensor) -> torch.Tensor:
    """Clamp ``actions`` (batch, A) to ``entry.bounds``, moving the bounds once if the model changed device."""
    low, high = entry.bounds
    if low.device != actions.device:
        low, high = entry.bounds = (low.to(actions.device), high.to(actions.device))
    return torch.clamp(actions, low, high)
