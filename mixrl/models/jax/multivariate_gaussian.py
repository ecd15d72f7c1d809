"""``MultivariateGaussianMixin``: a multivariate Gaussian policy with ``scale_tril = diag(exp(log_std))``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from mixrl.models.jax._clip import clip_to_bounds
from mixrl.models.jax._head import ActOutput, Head, entropy_input, post_init, register
from mixrl.models.jax.distributions import (
    REDUCTIONS,
    gaussian_log_prob_of_noise,
    gaussian_sample,
    multivariate_gaussian_entropy,
    multivariate_gaussian_log_prob,
)
from mixrl.models.jax.gaussian import GaussianSettings, clamped_log_std, gaussian_outputs, gaussian_settings


class MultivariateGaussianMixin(Head):
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
    ``outputs["log_std"]`` (clamped) and ``outputs["stddev"]``, all (batch, A) (a state-independent
    ``log_std`` is broadcast over the batch inside the compiled act).

    Raises:
        ValueError: ``clip_actions`` without a gymnasium Box action space.
    """

    def __init__(
        self,
        clip_actions: bool = False,
        clip_log_std: bool = True,
        min_log_std: float = -20,
        max_log_std: float = 2,
        role: str = "",
    ) -> None:
        register(
            self,
            GaussianSettings(
                role=role,
                head=MultivariateGaussianMixin,
                reduce=REDUCTIONS["sum"],
                **gaussian_settings(
                    self, "MultivariateGaussianMixin", clip_actions, clip_log_std, min_log_std, max_log_std
                ),
            ),
        )
        post_init(self)

    def _get_entropy(self, settings: GaussianSettings, stddev: jax.Array | dict) -> jax.Array:
        """Entropy ``A/2 (1 + log 2 pi) + sum(log stddev)``: (batch,) for (batch, A) (() for an (A,) array).

        Args:
            stddev: ``outputs["stddev"]`` or the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``num_actions``.
        """
        stddev = entropy_input(stddev, "stddev", self.num_actions, "MultivariateGaussianMixin")
        return multivariate_gaussian_entropy(jnp.log(stddev))

    @staticmethod
    def _finish(
        settings: GaussianSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> ActOutput:
        """Multivariate Gaussian math on ``__call__``'s output (runs inside the compiled act)."""
        mean_actions, log_std, outputs = out
        log_std, stddev = clamped_log_std(settings, mean_actions, log_std)
        actions, noise = gaussian_sample(key, mean_actions, stddev)
        if settings.bounds is not None:
            actions = clip_to_bounds(settings.bounds, actions)

        taken_actions = inputs.get("taken_actions")
        if taken_actions is not None:
            log_prob = multivariate_gaussian_log_prob(mean_actions, log_std, taken_actions)
        elif settings.bounds is not None:
            log_prob = multivariate_gaussian_log_prob(mean_actions, log_std, actions)
        else:
            log_prob = jnp.sum(gaussian_log_prob_of_noise(noise, log_std), axis=-1, keepdims=True)
        return actions, log_prob, gaussian_outputs(outputs, mean_actions, log_std, stddev)
