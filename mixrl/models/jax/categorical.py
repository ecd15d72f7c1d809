"""``CategoricalMixin``: a categorical policy over a Discrete action space."""

from __future__ import annotations

from typing import Any

import flax
import gymnasium
import jax
import jax.numpy as jnp

from mixrl.models.jax import _act
from mixrl.models.jax.distributions import (
    categorical_entropy,
    categorical_log_prob,
    categorical_log_probs_from_logits,
    categorical_log_probs_from_probs,
    categorical_mode,
    categorical_sample,
)


class CategoricalMixin:
    """Categorical behaviour: ``__call__`` returns ``(net_output (batch, n), outputs)``.

    Args:
        unnormalized_log_prob: read ``net_output`` as logits (any real); otherwise as probabilities
            (non-negative, finite, non-zero row sum; normalised by the row sum).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, 1) int32, log_prob (batch, 1), outputs)`` with
    ``outputs["net_output"]`` and ``outputs["stddev"]``, a NaN (batch, 1) placeholder kept only for shape
    compatibility (use ``get_entropy(outputs["net_output"])``), and ``outputs["mode_actions"]`` (batch, 1),
    the most likely action, for deterministic evaluation. Actions of a ``Discrete(n, start=s)`` space
    are ``s .. s + n - 1``.
    """

    def __init__(self, unnormalized_log_prob: bool = True, role: str = "") -> None:
        space = self.action_space
        _act.register(
            self,
            CategoricalMixin,
            role,
            to_log_probs=(
                categorical_log_probs_from_logits if unnormalized_log_prob else categorical_log_probs_from_probs
            ),
            start=int(space.start) if isinstance(space, gymnasium.spaces.Discrete) else 0,
            stochastic=True,
            finish=_finish,
        )
        flax.linen.Module.__post_init__(self)

    def act(self, inputs: dict[str, Any], role: str = "", params: Any = None) -> tuple[jax.Array, jax.Array, dict]:
        """Sample actions and return their log-probability, or that of ``inputs["taken_actions"]`` (batch, 1).

        Args:
            inputs: ``"states"``, optional ``"taken_actions"`` (batch, 1) and ``"key"``.
            role: role of the call.
            params: variables to use (default ``state_dict.params``); may be traced.
        """
        entry = self.__dict__["_mixrl_routes"].get((CategoricalMixin, role)) or _act.route(self, CategoricalMixin, role)
        if entry.owner is not CategoricalMixin:
            return entry.owner.act(self, inputs, role, params)
        return _act.run(self, entry, inputs, role, params)

    def get_entropy(self, logits: jax.Array | dict, role: str = "") -> jax.Array:
        """Entropy ``-sum p log p`` (batch,) of the distribution given by ``net_output``.

        Args:
            logits: ``outputs["net_output"]`` (batch, n) (probabilities if ``unnormalized_log_prob=False``)
                or the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``n`` (e.g. the ``outputs["stddev"]`` placeholder).
        """
        entry = _act.entropy_owner(self, CategoricalMixin, role)
        if entry.owner is not CategoricalMixin:
            return entry.owner.get_entropy(self, logits, role)
        logits = _act.entropy_argument(logits, "net_output", self.num_actions, "CategoricalMixin")
        return categorical_entropy(entry.to_log_probs(logits))


def _finish(entry: Any, out: tuple, inputs: dict[str, Any], key: jax.Array) -> tuple[jax.Array, jax.Array, dict]:
    """Categorical math on ``__call__``'s output (runs inside the compiled act)."""
    net_output, outputs = out
    log_probs = entry.to_log_probs(net_output)
    actions = categorical_sample(key, log_probs)

    taken_actions = inputs.get("taken_actions")
    if taken_actions is None:
        log_prob = categorical_log_prob(log_probs, actions)
    else:
        index = jnp.reshape(taken_actions, (-1, 1)).astype(jnp.int32)
        log_prob = categorical_log_prob(log_probs, index - entry.start if entry.start else index)
    if entry.start:
        actions = actions + entry.start

    outputs = dict(outputs)
    outputs["net_output"] = net_output
    outputs["mode_actions"] = categorical_mode(log_probs) + entry.start
    outputs["stddev"] = jnp.full((net_output.shape[0], 1), jnp.nan, dtype=net_output.dtype)
    return actions, log_prob, outputs
