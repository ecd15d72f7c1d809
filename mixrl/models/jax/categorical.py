"""``CategoricalMixin``: a categorical policy over a Discrete action space, with optional action masking."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp

from mixrl.models._roles import HeadSettings
from mixrl.models.jax._act import run
from mixrl.models.jax._head import ActOutput, Head, entropy_input, post_init, register
from mixrl.models.jax.distributions import (
    categorical_entropy,
    categorical_entropy_of_probs,
    categorical_log_prob,
    categorical_log_probs_from_logits,
    categorical_log_probs_from_probs,
    categorical_mode,
    categorical_sample,
    check_action_mask,
    mask_log_probs,
    mask_output,
)


@dataclasses.dataclass(eq=False, kw_only=True)
class CategoricalSettings(HeadSettings):
    """Settings of a categorical head for one role: how ``net_output`` is read and the Discrete ``start``."""

    unnormalized_log_prob: bool
    start: int


class CategoricalMixin(Head):
    """Categorical behaviour: ``__call__`` returns ``(net_output (batch, n), outputs)``.

    Args:
        unnormalized_log_prob: read ``net_output`` as logits (any real); otherwise as probabilities
            (non-negative, finite, non-zero row sum; normalised by the row sum).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, 1) int32, log_prob (batch, 1), outputs)`` with ``outputs["net_output"]``,
    ``outputs["stddev"]``, a NaN (batch, 1) placeholder kept only for shape compatibility (skrl's JAX agents
    read it; use ``get_entropy(outputs)`` or ``get_entropy(outputs["net_output"])``), and in eval mode
    (``set_mode("eval")``) ``outputs["mode_actions"]`` (batch, 1), the most likely (allowed) action, for
    deterministic evaluation. Actions of a ``Discrete(n, start=s)`` space are ``s .. s + n - 1``.

    Action masking: ``inputs["action_mask"]`` (batch, n), bool (or integer, non-zero = allowed), ``True`` =
    allowed. Masked actions are never sampled nor picked as ``mode_actions``, their log-probability is
    ``-inf``, and the returned ``outputs["net_output"]`` is the masked one (``-inf`` logits, or ``0``
    probabilities, at masked actions), so ``get_entropy`` of it ignores them. A mask of another shape or
    dtype is a ``ValueError``. A row with every action masked is a ``ValueError`` when the mask is concrete
    (checked on the host before the compiled act runs: free for a NumPy mask, one device-to-host copy for a
    JAX array); inside the caller's ``jax.jit`` (a traced mask) it is not checked: that row's log-probability
    and entropy are NaN (its sampled and mode actions are meaningless).
    """

    def __init__(self, unnormalized_log_prob: bool = True, role: str = "") -> None:
        space = self.action_space
        register(
            self,
            CategoricalSettings(
                role=role,
                head=CategoricalMixin,
                unnormalized_log_prob=bool(unnormalized_log_prob),
                start=int(space.start) if isinstance(space, gymnasium.spaces.Discrete) else 0,
            ),
        )
        post_init(self)

    def _act(self, settings: CategoricalSettings, inputs: Mapping[str, Any], role: str, params: Any) -> ActOutput:
        """Check a given ``inputs["action_mask"]`` on the host, then run the compiled act."""
        mask = inputs.get("action_mask")
        if mask is not None:
            check_action_mask(mask, int(self.num_actions or 0))
        return run(self, settings, inputs, role, params)

    def _get_entropy(self, settings: CategoricalSettings, logits: jax.Array | dict) -> jax.Array:
        """Entropy ``-sum p log p`` (batch,) of the distribution given by ``net_output``.

        Args:
            logits: ``outputs["net_output"]`` (batch, n) (probabilities if ``unnormalized_log_prob=False``;
                masked by ``act`` when a mask was given) or the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``n`` (e.g. the ``outputs["stddev"]`` placeholder).
        """
        net_output = entropy_input(logits, "net_output", self.num_actions, "CategoricalMixin")
        if settings.unnormalized_log_prob:
            return categorical_entropy(categorical_log_probs_from_logits(net_output))
        return categorical_entropy_of_probs(net_output)

    @staticmethod
    def _finish(
        settings: CategoricalSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> ActOutput:
        """Categorical math on ``__call__``'s output (runs inside the compiled act)."""
        net_output, outputs = out
        mask = traced_action_mask(inputs, net_output)
        if mask is not None:  # masked entries never reach the normalisation: no gradient flows to them
            net_output = mask_output(net_output, mask, settings.unnormalized_log_prob)
        log_probs = to_log_probs(settings.unnormalized_log_prob, net_output)
        if mask is not None:
            log_probs = mask_log_probs(log_probs, mask)  # exactly -inf when masked, NaN for a fully masked row
        actions = categorical_sample(key, log_probs)

        start = settings.start
        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = categorical_log_prob(log_probs, actions)
        else:
            index = jnp.reshape(taken_actions, (-1, 1)).astype(jnp.int32)
            log_prob = categorical_log_prob(log_probs, index - start if start else index)
        if start:
            actions = actions + start

        outputs = dict(outputs)
        outputs["net_output"] = net_output
        if not training:
            outputs["mode_actions"] = categorical_mode(log_probs) + start
        outputs["stddev"] = stddev_placeholder(net_output)
        return actions, log_prob, outputs


def to_log_probs(unnormalized_log_prob: bool, net_output: jax.Array) -> jax.Array:
    """Normalised log-probabilities of ``net_output`` read as logits or as probabilities."""
    if unnormalized_log_prob:
        return categorical_log_probs_from_logits(net_output)
    return categorical_log_probs_from_probs(net_output)


def traced_action_mask(inputs: Mapping[str, Any], net_output: jax.Array) -> jax.Array | None:
    """``inputs["action_mask"]`` as bool inside the compiled act (``None`` without a mask).

    Raises:
        ValueError: (when tracing) the mask's shape is not ``net_output``'s (batch, n).
    """
    mask = inputs.get("action_mask")
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(net_output.shape):
        raise ValueError(
            f"inputs['action_mask'] must have the shape of net_output {tuple(net_output.shape)}, "
            f"got shape {tuple(mask.shape)}"
        )
    return jnp.asarray(mask, dtype=bool)


def stddev_placeholder(net_output: jax.Array) -> jax.Array:
    """The NaN (batch, 1) ``outputs["stddev"]`` of the categorical heads (skrl's JAX agents read the key)."""
    return jnp.full((net_output.shape[0], 1), jnp.nan, dtype=net_output.dtype)
