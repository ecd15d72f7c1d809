"""Action clipping to the bounds of a Box action space, shared by the continuous mixins."""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np


def action_bounds(
    model: Any, clip_actions: bool, mixin: str, option: str = "clip_actions"
) -> tuple[np.ndarray, np.ndarray] | None:
    """Flat ``(low, high)`` float32 NumPy arrays of the model's Box action space, or ``None`` when not clipping.

    NumPy (not device) arrays: they become constants of the compiled act, at no per-call cost.

    Raises:
        ValueError: clipping is requested but the action space is not a gymnasium Box.
    """
    return box_bounds(model, mixin, option) if clip_actions else None


def box_bounds(model: Any, mixin: str, option: str) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``(low, high)`` float32 NumPy arrays of the model's Box action space, needed by ``mixin(option=True)``.

    Raises:
        ValueError: the action space is not a gymnasium Box.
    """
    space = model.action_space
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(
            f"{mixin}({option}=True) needs a gymnasium Box action space to read bounds from, "
            f"got {type(space).__name__}: pass a Box or {option}=False"
        )
    low = np.asarray(space.low, dtype=np.float32).reshape(-1)
    high = np.asarray(space.high, dtype=np.float32).reshape(-1)
    return low, high


def clip_to_bounds(bounds: tuple[np.ndarray, np.ndarray], actions: jax.Array) -> jax.Array:
    """Clamp ``actions`` (batch, A) element-wise to ``bounds = (low, high)``."""
    low, high = bounds
    return jnp.clip(actions, low, high)


def squash_bounds(model: Any, mixin: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(center, half_range, log(half_range))`` (A,) NumPy constants of the Box action space, for tanh squashing.

    Raises:
        ValueError: the action space is not a gymnasium Box, or a bound is infinite.
    """
    low, high = box_bounds(model, mixin, "squash")
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(f"{mixin}(squash=True) needs finite Box bounds, got low={low.tolist()} high={high.tolist()}")
    half_range = (high - low) / 2
    return (high + low) / 2, half_range, np.log(half_range)
