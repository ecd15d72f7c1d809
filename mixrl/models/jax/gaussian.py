"""``GaussianMixin``: a diagonal Gaussian policy over a continuous (Box) action space."""

from __future__ import annotations

from typing import Any, Literal

import flax
import jax
import jax.numpy as jnp

from mixrl.models.jax import _act
from mixrl.models.jax._clip import action_bounds, clip_to_bounds, squash_bounds
from mixrl.models.jax.distributions import (
    gaussian_entropy,
    gaussian_log_prob,
    gaussian_log_prob_of_noise,
    gaussian_sample,
    get_reduction,
    squash,
    squashed_gaussian_correction,
    unsquash,
)


class GaussianMixin:
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

    ``act`` returns ``(actions (batch, A), log_prob, outputs)`` with ``outputs["mean_actions"]`` (batch, A),
    ``outputs["log_std"]`` (clamped, shaped as returned by ``__call__``) and ``outputs["stddev"]``.
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
        _act.register(
            self,
            GaussianMixin,
            role,
            clip_actions=bool(clip_actions),
            bounds=action_bounds(self, clip_actions, "GaussianMixin"),
            clip_log_std=bool(clip_log_std),
            min_log_std=float(min_log_std),
            max_log_std=float(max_log_std),
            reduce=get_reduction(reduction),
            squash=bool(squash),
            squash_bounds=squash_bounds(self, "GaussianMixin") if squash else None,
            stochastic=True,
            finish=_finish,
        )
        flax.linen.Module.__post_init__(self)

    def act(self, inputs: dict[str, Any], role: str = "", params: Any = None) -> tuple[jax.Array, jax.Array, dict]:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``.

        Args:
            inputs: ``"states"`` (batch, obs), optional ``"taken_actions"`` (batch, A) and ``"key"``.
            role: role of the call.
            params: variables to use (default ``state_dict.params``); may be traced.
        """
        entry = self.__dict__["_mixrl_routes"].get((GaussianMixin, role)) or _act.route(self, GaussianMixin, role)
        if entry.owner is not GaussianMixin:
            return entry.owner.act(self, inputs, role, params)
        return _act.run(self, entry, inputs, role, params)

    def get_entropy(self, stddev: jax.Array | dict, role: str = "") -> jax.Array:
        """Element-wise entropy ``1/2 + log(2 pi)/2 + log(stddev)``, same shape as ``stddev``.

        Args:
            stddev: ``outputs["stddev"]`` ((A,) or (batch, A)) or the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``num_actions``.
        """
        entry = _act.entropy_owner(self, GaussianMixin, role)
        if entry.owner is not GaussianMixin:
            return entry.owner.get_entropy(self, stddev, role)
        stddev = _act.entropy_argument(stddev, "stddev", self.num_actions, "GaussianMixin")
        return gaussian_entropy(jnp.log(stddev))


def _finish(entry: Any, out: tuple, inputs: dict[str, Any], key: jax.Array) -> tuple[jax.Array, jax.Array, dict]:
    """Gaussian math on ``__call__``'s output (runs inside the compiled act)."""
    mean_actions, log_std, outputs = out
    if entry.clip_log_std:
        log_std = jnp.clip(log_std, entry.min_log_std, entry.max_log_std)
    stddev = jnp.exp(log_std)
    if entry.squash:
        return _finish_squashed(entry, inputs, key, mean_actions, log_std, stddev, outputs)
    actions, noise = gaussian_sample(key, mean_actions, stddev)
    if entry.clip_actions:
        actions = clip_to_bounds(entry, actions)

    taken_actions = inputs.get("taken_actions")
    if taken_actions is not None:
        log_prob = gaussian_log_prob(mean_actions, log_std, taken_actions)
    elif entry.clip_actions:
        log_prob = gaussian_log_prob(mean_actions, log_std, actions)
    else:
        log_prob = gaussian_log_prob_of_noise(noise, log_std)

    outputs = dict(outputs)
    outputs["mean_actions"] = mean_actions
    outputs["log_std"] = log_std
    outputs["stddev"] = stddev
    return actions, entry.reduce(log_prob), outputs


def _finish_squashed(entry: Any, inputs: dict, key: jax.Array, mean_actions, log_std, stddev, outputs) -> tuple:
    """The ``squash=True`` branch of :func:`_finish`: log-prob through the change of variables."""
    center, half_range, log_half_range = entry.squash_bounds
    u, noise = gaussian_sample(key, mean_actions, stddev)
    actions = squash(u, center, half_range)
    taken_actions = inputs.get("taken_actions")
    if taken_actions is None:
        log_prob = gaussian_log_prob_of_noise(noise, log_std) - squashed_gaussian_correction(u, log_half_range)
    else:
        u = unsquash(taken_actions, center, half_range)
        log_prob = gaussian_log_prob(mean_actions, log_std, u) - squashed_gaussian_correction(u, log_half_range)
    outputs = dict(outputs)
    outputs["mean_actions"] = squash(mean_actions, center, half_range)
    outputs["log_std"] = log_std
    outputs["stddev"] = stddev
    return actions, entry.reduce(log_prob), outputs
