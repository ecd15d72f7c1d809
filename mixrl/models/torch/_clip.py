"""Action clipping to the bounds of a Box action space, shared by the continuous mixins."""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium
import torch


class _Clipped(Protocol):
    """Settings of a head that clips to the Box: ``bounds`` is set (not ``None``) whenever clipping is on."""

    bounds: tuple[torch.Tensor, torch.Tensor] | None


class _Squashed(Protocol):
    """Settings of a head that squashes into the Box: ``squash_bounds`` is set whenever squashing is on."""

    squash_bounds: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None


def action_bounds(
    model: Any, clip_actions: bool, mixin: str, option: str = "clip_actions"
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Flat ``(low, high)`` float32 tensors of the model's Box action space, or ``None`` when not clipping.

    Raises:
        ValueError: clipping is requested but the action space is not a gymnasium Box.
    """
    if not clip_actions:
        return None
    space = model.action_space
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(
            f"{mixin}({option}=True) needs a gymnasium Box action space to read bounds from, "
            f"got {type(space).__name__}: pass a Box or {option}=False"
        )
    low = torch.as_tensor(space.low, dtype=torch.float32).reshape(-1)
    high = torch.as_tensor(space.high, dtype=torch.float32).reshape(-1)
    return low.to(model.device), high.to(model.device)


def clip_to_bounds(settings: _Clipped, actions: torch.Tensor) -> torch.Tensor:
    """Clamp ``actions`` (batch, A) to ``settings.bounds``, moving the bounds once if the model changed device."""
    assert settings.bounds is not None, "clip_to_bounds needs the bounds of a head built with clip_actions=True"
    low, high = settings.bounds
    if low.device != actions.device:
        low, high = settings.bounds = (low.to(actions.device), high.to(actions.device))
    return torch.clamp(actions, low, high)


def squash_bounds(model: Any, mixin: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(center, half_range, log(half_range))`` (A,) of the model's Box action space, for tanh squashing.

    Raises:
        ValueError: the action space is not a gymnasium Box, or a bound is infinite.
    """
    bounds = action_bounds(model, True, mixin, option="squash")
    assert bounds is not None  # clip_actions=True: a Box, or a ValueError
    low, high = bounds
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
        raise ValueError(f"{mixin}(squash=True) needs finite Box bounds, got low={low.tolist()} high={high.tolist()}")
    half_range = (high - low) / 2
    return (high + low) / 2, half_range, half_range.log()


def squash_bounds_on(settings: _Squashed, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``settings.squash_bounds`` on ``device`` (moved once if the model changed device)."""
    bounds = settings.squash_bounds
    assert bounds is not None, "squash_bounds_on needs the bounds of a head built with squash=True"
    if bounds[0].device != device:
        center, half_range, log_half_range = (t.to(device) for t in bounds)
        bounds = settings.squash_bounds = (center, half_range, log_half_range)
    return bounds
