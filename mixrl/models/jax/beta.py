"""``BetaMixin``: a Beta policy over a bounded continuous (Box) action space."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from mixrl.models._roles import HeadSettings
from mixrl.models.jax._head import ActOutput, Head, entropy_input, post_init, register
from mixrl.models.jax.distributions import (
    Reduction,
    beta_entropy,
    beta_log_prob,
    beta_log_prob_of_logit,
    beta_sample,
    get_reduction,
)

# (low, high, high - low, log(high - low)), each (A,) float32 NumPy: constants of the compiled act
Bounds = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(eq=False, kw_only=True)
class BetaSettings(HeadSettings):
    """Settings of a Beta head for one role: the Box ``bounds`` (see ``Bounds``) and the log-prob reduction."""

    bounds: Bounds
    reduce: Reduction


class BetaMixin(Head):
    """Beta behaviour: ``__call__`` returns ``(alpha, beta, outputs)``, both (batch, num_actions) and positive.

    Actions are ``low + (high - low) * x`` with ``x ~ Beta(alpha, beta)`` per dimension, drawn with a
    reparameterised sampler (differentiable in ``alpha`` and ``beta``), so they always lie inside the Box
    and need no clipping. Map the network output to positive concentrations yourself, e.g.
    ``nn.softplus(x) + 1``: with ``alpha, beta > 1`` every density is unimodal and vanishes on the bounds,
    the common choice for control; values below 1 pile mass onto the bounds.

    Args:
        reduction: how per-dimension log-probabilities are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, num_actions).
        role: role these settings belong to.

    The log-probability is ``log Beta(x; alpha, beta) - log(high - low)`` per dimension (the rescale's
    Jacobian) before the reduction; taken actions on a bound are read ``eps`` inside it so it stays finite.
    ``act`` returns ``(actions (batch, A), log_prob, outputs)`` with, all (batch, A):
    ``outputs["mean_actions"] = low + (high - low) * alpha / (alpha + beta)`` (the mean action, for
    evaluation), ``outputs["alpha"]``, ``outputs["beta"]`` and ``outputs["stddev"]``, the standard deviation
    of the actions (for logging: ``get_entropy`` needs the whole ``outputs``).

    Raises:
        ValueError: (at construction) the action space is not a gymnasium Box with finite ``low < high``.
    """

    def __init__(self, reduction: Literal["mean", "sum", "prod", "none"] = "sum", role: str = "") -> None:
        register(
            self,
            BetaSettings(
                role=role, head=BetaMixin, bounds=beta_bounds(self, "BetaMixin"), reduce=get_reduction(reduction)
            ),
        )
        post_init(self)

    def _get_entropy(self, settings: BetaSettings, concentrations: dict | tuple[jax.Array, jax.Array]) -> jax.Array:
        """Element-wise entropy (batch, num_actions) of the rescaled Beta: ``entropy(Beta) + log(high - low)``.

        Args:
            concentrations: the ``outputs`` dict of ``act`` (its ``"alpha"`` and ``"beta"``) or an
                ``(alpha, beta)`` pair, each (batch, num_actions).

        Raises:
            ValueError: anything else (e.g. ``outputs["stddev"]`` alone), a dict without ``"alpha"``/``"beta"``,
                or a last dimension other than ``num_actions``.
        """
        pair: tuple[Any, Any]
        if isinstance(concentrations, dict):
            pair = (concentrations, concentrations)
        elif isinstance(concentrations, (tuple, list)) and len(concentrations) == 2:
            pair = (concentrations[0], concentrations[1])
        else:
            shape = getattr(concentrations, "shape", None)
            raise ValueError(
                "BetaMixin.get_entropy expects the outputs dict of act() (with 'alpha' and 'beta') or an "
                f"(alpha, beta) pair, got {type(concentrations).__name__} (shape {shape})"
            )
        alpha = entropy_input(pair[0], "alpha", self.num_actions, "BetaMixin")
        beta = entropy_input(pair[1], "beta", self.num_actions, "BetaMixin")
        return beta_entropy(alpha, beta) + settings.bounds[3]

    @staticmethod
    def _finish(
        settings: BetaSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> ActOutput:
        """Beta math on ``__call__``'s output (runs inside the compiled act)."""
        alpha, beta, outputs = out
        low, high, scale, log_scale = settings.bounds
        x, logit = beta_sample(key, alpha, beta)
        actions = jnp.minimum(low + scale * x, high)  # x = 1 may round a hair above high

        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = beta_log_prob_of_logit(alpha, beta, logit)
        else:
            log_prob = beta_log_prob(alpha, beta, (taken_actions - low) / scale)

        shape = jnp.shape(actions)  # (batch, A), whatever alpha and beta broadcast from
        total = alpha + beta
        outputs = dict(outputs)
        outputs["mean_actions"] = jnp.broadcast_to(low + scale * (alpha / total), shape)
        outputs["alpha"] = jnp.broadcast_to(alpha, shape)
        outputs["beta"] = jnp.broadcast_to(beta, shape)
        outputs["stddev"] = jnp.broadcast_to(scale * jnp.sqrt(alpha * beta / (total * total * (total + 1.0))), shape)
        return actions, settings.reduce(log_prob - log_scale), outputs


def beta_bounds(model: Any, mixin: str) -> Bounds:
    """``(low, high, high - low, log(high - low))`` (A,) float32 NumPy arrays of the model's Box action space.

    The range and its log are computed in float64 before the cast.

    Raises:
        ValueError: the action space is not a gymnasium Box, or a dimension has an infinite bound or
            ``high <= low``.
    """
    space = model.action_space
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(
            f"{mixin} needs a gymnasium Box action space with finite bounds, got {type(space).__name__} ({space!r})"
        )
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high) & (high > low))).tolist()
    if bad:
        raise ValueError(
            f"{mixin} needs finite Box bounds with low < high in every dimension, got low={low.tolist()} "
            f"high={high.tolist()} (bad dimensions: {bad})"
        )
    scale = high - low
    low32, high32, scale32, log_scale32 = (np.asarray(v, dtype=np.float32) for v in (low, high, scale, np.log(scale)))
    return low32, high32, scale32, log_scale32
