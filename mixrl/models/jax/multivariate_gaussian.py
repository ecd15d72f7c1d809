"""``MultivariateGaussianMixin``: a multivariate Gaussian policy with ``scale_tril = diag(exp(log_std))``."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp

from mixrl.models.jax import _act
from mixrl.models.jax._clip import action_bounds, clip_to_bounds
from mixrl.models.jax.distributions import (
    gaussian_log_prob_of_noise,
    gaussian_sample,
    multivariate_gaussian_entropy,
    multivariate_gaussian_log_prob,
)


class MultivariateGaussianMixin:
    """Multivariate Gaussian behaviour: ``__call__`` returns ``(mean_actions, log_std, outputs)``.

    The scale is the standard deviation ``exp(log_std)`` on the diagonal of ``scale_tril`` (skrl uses the
    variance there, which squares the effective standard deviation). ``log_std`` may be (num_actions,)
    or state-dependent (batch, num_actions).

    Args:
        clip_actions: clamp sampled actions to the Box bounds (log-probability under the unclipped density).
        clip_log_std: clamp ``log_std`` to ``[min_log_std, max_log_std]``.
        min_log_std: lower clamp bound.
        max_log_std: upper clamp bound.
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, A), log_prob (batch, 1), outputs)`` with ``outputs["mean_actions"]``,
    ``outputs["log_std"]`` (clamped) and ``outputs["stddev"]``.
    """

    def __init__(
        self,
        clip_actions: bool = False,
        clip_log_std: bool = True,
        min_log_std: float = -20,
        max_log_std: float = 2,
        role: str = "",
    ) -> None:
        _act.register(
            self,
            MultivariateGaussianMixin,
            role,
            clip_actions=bool(clip_actions),
            bounds=action_bounds(self, clip_actions, "MultivariateGaussianMixin"),
            clip_log_std=bool(clip_log_std),
            min_log_std=float(min_log_std),
            max_log_std=float(max_log_std),
            stochastic=True,
            finish=_finish,
        )
        flax.linen.Module.__post_init__(self)

    def act(self, inputs: dict[str, Any], role: str = "", params: Any = None) -> tuple[jax.Array, jax.Array, dict]:
        """Sample actions (reparameterised) and return their joint log-probability (batch, 1).

        Args:
            inputs: ``"states"``, optional ``"taken_actions"`` (batch, A) and ``"key"``.
            role: role of the call.
            params: variables to use (default ``state_dict.params``); may be traced.
        """
        mixin = MultivariateGaussianMixin
        entry = self.__dict__["_mixrl_routes"].get((mixin, role)) or _act.route(self, mixin, role)
        if entry.owner is not mixin:
            return entry.owner.act(self, inputs, role, params)
        return _act.run(self, entry, inputs, role, params)

    def get_entropy(self, stddev: jax.Array | dict, role: str = "") -> jax.Array:
        """Entropy ``A/2 (1 + log 2 pi) + sum(log stddev)``: (batch,) for (batch, A), () for (A,).

        Args:
            stddev: ``outputs["stddev"]`` or the whole ``outputs`` dict (then broadcast to (batch,)).

        Raises:
            ValueError: the last dimension is not ``num_actions``.
        """
        entry = _act.entropy_owner(self, MultivariateGaussianMixin, role)
        if entry.owner is not MultivariateGaussianMixin:
            return entry.owner.get_entropy(self, stddev, role)
        batch = stddev["mean_actions"].shape[:-1] if isinstance(stddev, dict) and "mean_actions" in stddev else None
        stddev = _act.entropy_argument(stddev, "stddev", self.num_actions, "MultivariateGaussianMixin")
        entropy = multivariate_gaussian_entropy(jnp.log(stddev))
        return entropy if batch is None else jnp.broadcast_to(entropy, batch)


def _finish(entry: Any, out: tuple, inputs: dict[str, Any], key: jax.Array) -> tuple[jax.Array, jax.Array, dict]:
    """Multivariate Gaussian math on ``__call__``'s output (runs inside the compiled act)."""
    mean_actions, log_std, outputs = out
    if entry.clip_log_std:
        log_std = jnp.clip(log_std, entry.min_log_std, entry.max_log_std)
    stddev = jnp.exp(log_std)
    actions, noise = gaussian_sample(key, mean_actions, stddev)
    if entry.clip_actions:
        actions = clip_to_bounds(entry, actions)

    taken_actions = inputs.get("taken_actions")
    if taken_actions is not None:
        log_prob = multivariate_gaussian_log_prob(mean_actions, log_std, taken_actions)
    elif entry.clip_actions:
        log_prob = multivariate_gaussian_log_prob(mean_actions, log_std, actions)
    else:
        log_prob = jnp.sum(gaussian_log_prob_of_noise(noise, log_std), axis=-1, keepdims=True)

    outputs = dict(outputs)
    outputs["mean_actions"] = mean_actions
    outputs["log_std"] = log_std
    outputs["stddev"] = stddev
    return actions, log_prob, outputs
