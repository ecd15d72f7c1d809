"""``MultiCategoricalMixin``: one categorical per component of a MultiDiscrete action space."""

from __future__ import annotations

from typing import Any, Literal

import flax
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from mixrl.models.jax import _act
from mixrl.models.jax.distributions import (
    categorical_log_probs_from_logits,
    categorical_log_probs_from_probs,
    get_reduction,
    multicategorical_entropy,
    multicategorical_log_prob,
    multicategorical_log_probs,
    multicategorical_mode,
    multicategorical_sample,
)


class MultiCategoricalMixin:
    """Multi-categorical behaviour: ``__call__`` returns ``(net_output (batch, sum(nvec)), outputs)``.

    ``net_output`` is split into ``K = len(nvec)`` consecutive chunks, one categorical per chunk, each
    sampled with its own subkey.

    Args:
        unnormalized_log_prob: read ``net_output`` as logits; otherwise as probabilities (per chunk).
        reduction: how the per-component log-probabilities (batch, K) are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, K).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, K) int32, log_prob, outputs)`` with ``outputs["net_output"]`` and a
    NaN ``outputs["stddev"]`` (batch, 1) placeholder. A MultiDiscrete ``start`` is honoured.

    Raises:
        ValueError: the action space is not a gymnasium MultiDiscrete, or ``reduction`` is unknown.
    """

    def __init__(
        self,
        unnormalized_log_prob: bool = True,
        reduction: Literal["mean", "sum", "prod", "none"] = "sum",
        role: str = "",
    ) -> None:
        space = self.action_space
        if not isinstance(space, gymnasium.spaces.MultiDiscrete):
            raise ValueError(f"MultiCategoricalMixin needs a gymnasium MultiDiscrete action space, got {space!r}")
        start = np.asarray(getattr(space, "start", 0), dtype=np.int32).reshape(-1)
        _act.register(
            self,
            MultiCategoricalMixin,
            role,
            nvec=tuple(int(n) for n in np.asarray(space.nvec).reshape(-1)),
            start=start if start.any() else None,
            to_log_probs=(
                categorical_log_probs_from_logits if unnormalized_log_prob else categorical_log_probs_from_probs
            ),
            reduce=get_reduction(reduction),
            stochastic=True,
            finish=_finish,
        )
        flax.linen.Module.__post_init__(self)

    def act(self, inputs: dict[str, Any], role: str = "", params: Any = None) -> tuple[jax.Array, jax.Array, dict]:
        """Sample one action per component and return the (reduced) log-probability.

        Args:
            inputs: ``"states"``, optional ``"taken_actions"`` (batch, K) and ``"key"``.
            role: role of the call.
            params: variables to use (default ``state_dict.params``); may be traced.
        """
        mixin = MultiCategoricalMixin
        entry = self.__dict__["_mixrl_routes"].get((mixin, role)) or _act.route(self, mixin, role)
        if entry.owner is not mixin:
            return entry.owner.act(self, inputs, role, params)
        return _act.run(self, entry, inputs, role, params)

    def get_entropy(self, logits: jax.Array | dict, role: str = "") -> jax.Array:
        """Per-component entropies (batch, K), reduced like the log-probability ((batch, 1) for ``"sum"``).

        Args:
            logits: ``outputs["net_output"]`` (batch, sum(nvec)) or the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``sum(nvec)`` (e.g. the ``stddev`` placeholder).
        """
        entry = _act.entropy_owner(self, MultiCategoricalMixin, role)
        if entry.owner is not MultiCategoricalMixin:
            return entry.owner.get_entropy(self, logits, role)
        logits = _act.entropy_argument(logits, "net_output", sum(entry.nvec), "MultiCategoricalMixin")
        log_probs = multicategorical_log_probs(logits, entry.nvec, entry.to_log_probs)
        return entry.reduce(multicategorical_entropy(log_probs))


def _finish(entry: Any, out: tuple, inputs: dict[str, Any], key: jax.Array) -> tuple[jax.Array, jax.Array, dict]:
    """Multi-categorical math on ``__call__``'s output (runs inside the compiled act)."""
    net_output, outputs = out
    log_probs = multicategorical_log_probs(net_output, entry.nvec, entry.to_log_probs)
    actions = multicategorical_sample(key, log_probs)

    taken_actions = inputs.get("taken_actions")
    if taken_actions is None:
        log_prob = multicategorical_log_prob(log_probs, actions)
    else:
        index = jnp.reshape(taken_actions, (-1, len(entry.nvec))).astype(jnp.int32)
        log_prob = multicategorical_log_prob(log_probs, index if entry.start is None else index - entry.start)
    if entry.start is not None:
        actions = actions + entry.start

    outputs = dict(outputs)
    outputs["net_output"] = net_output
    mode = multicategorical_mode(log_probs)
    outputs["mode_actions"] = mode if entry.start is None else mode + entry.start
    outputs["stddev"] = jnp.full((net_output.shape[0], 1), jnp.nan, dtype=net_output.dtype)
    return actions, entry.reduce(log_prob), outputs
