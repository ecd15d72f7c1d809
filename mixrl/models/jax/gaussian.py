"""``GaussianMixin``: a diagonal Gaussian policy over a continuous (Box) action space."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from mixrl.models._roles import HeadSettings
from mixrl.models.jax._clip import action_bounds, clip_to_bounds, squash_bounds
from mixrl.models.jax._head import ActOutput, Head, entropy_input, post_init, register
from mixrl.models.jax.distributions import (
    Reduction,
    gaussian_entropy,
    gaussian_log_prob,
    gaussian_log_prob_of_noise,
    gaussian_sample,
    get_reduction,
    squash,
    squashed_gaussian_correction,
    unsquash,
)


@dataclasses.dataclass(eq=False, kw_only=True)
class GaussianSettings(HeadSettings):
    """Settings of a diagonal Gaussian head for one role (shared by the Gaussian and multivariate Gaussian mixins).

    ``bounds`` is the flat ``(low, high)`` of the Box when clipping; ``squash_bounds`` the
    ``(center, half_range, log(half_range))`` when squashing: NumPy constants of the compiled act.
    """

    clip_actions: bool
    bounds: tuple[np.ndarray, np.ndarray] | None
    clip_log_std: bool
    min_log_std: float
    max_log_std: float
    reduce: Reduction
    squash: bool = False
    squash_bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


class GaussianMixin(Head):
    """Diagonal Gaussian behaviour: ``__call__`` returns ``(mean_actions, log_std, outputs)``.

    ``log_std`` is (num_actions,) (state-independent) or (batch, num_actions) (state-dependent).

    Args:
        clip_actions: clamp sampled actions to the Box bounds. The log-probability of a clipped action is
            the density of the unclipped Gaussian there (no boundary mass correction).
        clip_log_std: clamp ``log_std`` to ``[min_log_std, max_log_std]``.
        min_log_std: lower clamp bound.
        max_log_std: upper clamp bound.
        reduction: how per-dimension log-probabilities are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, num_actions).
        role: role these settings belong to.
        squash: (keyword-only) bounded actions ``center + half_range * tanh(u)`` with ``u ~ Normal(mean, std)``
            and ``center``/``half_range`` from the Box bounds; the log-probability subtracts the stable tanh
            log-det on ``u`` and the log of the rescale per dimension, before the reduction.
            ``outputs["mean_actions"]`` is the squashed mean; ``get_entropy`` is that of ``u``'s Gaussian.

    ``act`` returns ``(actions (batch, A), log_prob, outputs)`` with these ``outputs`` keys, all (batch, A)
    (a state-independent ``log_std`` is broadcast over the batch inside the compiled act):
    ``"mean_actions"``, ``"log_std"`` (after the clamp) and ``"stddev"`` ``= exp(log_std)``.

    Raises:
        ValueError: ``clip_actions`` or ``squash`` without a gymnasium Box action space (``squash``: with
            finite bounds), or an unknown ``reduction``.
    """

    def __init__(
        self,
        clip_actions: bool = False,
        clip_log_std: bool = True,
        min_log_std: float = -20,
        max_log_std: float = 2,
        reduction: Literal["mean", "sum", "prod", "none"] = "sum",
        role: str = "",
        *,
        squash: bool = False,
    ) -> None:
        register(
            self,
            GaussianSettings(
                role=role,
                head=GaussianMixin,
                reduce=get_reduction(reduction),
                squash=bool(squash),
                squash_bounds=squash_bounds(self, "GaussianMixin") if squash else None,
                **gaussian_settings(self, "GaussianMixin", clip_actions, clip_log_std, min_log_std, max_log_std),
            ),
        )
        post_init(self)

    def _get_entropy(self, settings: GaussianSettings, stddev: jax.Array | dict) -> jax.Array:
        """Element-wise entropy ``1/2 + log(2 pi)/2 + log(stddev)``, same shape as ``stddev``.

        Args:
            stddev: ``outputs["stddev"]`` ((batch, A), or (A,)) or the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``num_actions``.
        """
        stddev = entropy_input(stddev, "stddev", self.num_actions, "GaussianMixin")
        return gaussian_entropy(jnp.log(stddev))

    @staticmethod
    def _finish(
        settings: GaussianSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> ActOutput:
        """Gaussian math on ``__call__``'s output (runs inside the compiled act)."""
        mean_actions, log_std, outputs = out
        log_std, stddev = clamped_log_std(settings, mean_actions, log_std)
        if settings.squash_bounds is not None:
            return _finish_squashed(
                settings, settings.squash_bounds, inputs, key, mean_actions, log_std, stddev, outputs
            )
        actions, noise = gaussian_sample(key, mean_actions, stddev)
        if settings.bounds is not None:
            actions = clip_to_bounds(settings.bounds, actions)

        taken_actions = inputs.get("taken_actions")
        if taken_actions is not None:
            log_prob = gaussian_log_prob(mean_actions, log_std, taken_actions)
        elif settings.bounds is not None:
            log_prob = gaussian_log_prob(mean_actions, log_std, actions)
        else:
            log_prob = gaussian_log_prob_of_noise(noise, log_std)
        return actions, settings.reduce(log_prob), gaussian_outputs(outputs, mean_actions, log_std, stddev)


def gaussian_settings(
    model: Any, mixin: str, clip_actions: bool, clip_log_std: bool, min_log_std: float, max_log_std: float
) -> dict[str, Any]:
    """Validated per-role settings of a diagonal Gaussian head (clip bounds read from the Box action space)."""
    return {
        "clip_actions": bool(clip_actions),
        "bounds": action_bounds(model, clip_actions, mixin),
        "clip_log_std": bool(clip_log_std),
        "min_log_std": float(min_log_std),
        "max_log_std": float(max_log_std),
    }


def clamped_log_std(
    settings: GaussianSettings, mean_actions: jax.Array, log_std: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(log_std, exp(log_std))`` clamped if ``clip_log_std`` and broadcast to ``mean_actions``' (batch, A)."""
    if settings.clip_log_std:
        log_std = jnp.clip(log_std, settings.min_log_std, settings.max_log_std)
    shape = jnp.shape(mean_actions)
    return jnp.broadcast_to(log_std, shape), jnp.broadcast_to(jnp.exp(log_std), shape)


def gaussian_outputs(outputs: dict, mean_actions: jax.Array, log_std: jax.Array, stddev: jax.Array) -> dict:
    """A copy of the user's ``outputs`` with ``mean_actions``, ``log_std`` and ``stddev`` (each (batch, A))."""
    outputs = dict(outputs)
    outputs["mean_actions"] = mean_actions
    outputs["log_std"] = log_std
    outputs["stddev"] = stddev
    return outputs


def _finish_squashed(
    settings: GaussianSettings,
    squash_bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
    inputs: dict[str, Any],
    key: jax.Array,
    mean_actions: jax.Array,
    log_std: jax.Array,
    stddev: jax.Array,
    outputs: dict,
) -> ActOutput:
    """The ``squash=True`` branch of ``GaussianMixin._finish``: log-prob through the change of variables."""
    center, half_range, log_half_range = squash_bounds
    u, noise = gaussian_sample(key, mean_actions, stddev)
    actions = squash(u, center, half_range)
    taken_actions = inputs.get("taken_actions")
    if taken_actions is None:
        log_prob = gaussian_log_prob_of_noise(noise, log_std) - squashed_gaussian_correction(u, log_half_range)
    else:
        u = unsquash(taken_actions, center, half_range)
        log_prob = gaussian_log_prob(mean_actions, log_std, u) - squashed_gaussian_correction(u, log_half_range)
    squashed_mean = squash(mean_actions, center, half_range)
    return actions, settings.reduce(log_prob), gaussian_outputs(outputs, squashed_mean, log_std, stddev)
