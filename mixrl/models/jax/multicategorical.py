"""``MultiCategoricalMixin``: one categorical per component of a MultiDiscrete action space."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from mixrl.models._roles import HeadSettings
from mixrl.models.jax._act import run
from mixrl.models.jax._head import ActOutput, Head, entropy_input, post_init, register
from mixrl.models.jax.categorical import stddev_placeholder, traced_action_mask
from mixrl.models.jax.distributions import (
    Reduction,
    categorical_log_probs_from_logits,
    categorical_log_probs_from_probs,
    check_action_mask,
    get_reduction,
    mask_output,
    multicategorical_entropy,
    multicategorical_entropy_of_probs,
    multicategorical_log_prob,
    multicategorical_log_probs,
    multicategorical_mask,
    multicategorical_mode,
    multicategorical_sample,
)


@dataclasses.dataclass(eq=False, kw_only=True)
class MultiCategoricalSettings(HeadSettings):
    """Settings of a multi-categorical head for one role.

    ``nvec`` are the categories per component; ``start`` the per-component (K,) int32 NumPy offsets of the
    space (``None`` when all are 0); ``reduce`` the reduction of the per-component log-probabilities.
    """

    nvec: tuple[int, ...]
    start: np.ndarray | None
    unnormalized_log_prob: bool
    reduce: Reduction


class MultiCategoricalMixin(Head):
    """Multi-categorical behaviour: ``__call__`` returns ``(net_output (batch, sum(nvec)), outputs)``.

    ``net_output`` is split into ``K = len(nvec)`` consecutive chunks, one categorical per chunk, each
    sampled with its own subkey.

    Args:
        unnormalized_log_prob: read ``net_output`` as logits; otherwise as probabilities (per chunk).
        reduction: how the per-component log-probabilities (batch, K) are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, K).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, K) int32, log_prob, outputs)`` with ``outputs["net_output"]``, a NaN
    ``outputs["stddev"]`` (batch, 1) placeholder and, in eval mode (``set_mode("eval")``),
    ``outputs["mode_actions"]`` (batch, K), each component's most likely (allowed) action. A MultiDiscrete
    ``start`` is honoured (``taken_actions`` are read the same way).

    Action masking: ``inputs["action_mask"]`` (batch, sum(nvec)), bool (or integer, non-zero = allowed),
    ``True`` = allowed, laid out like ``net_output``. Masked actions are never sampled nor picked as
    ``mode_actions``, their log-probability is ``-inf``, and ``outputs["net_output"]`` is the masked one
    (``-inf`` logits or ``0`` probabilities at masked actions), so ``get_entropy`` of it ignores them. A mask
    of another shape or dtype is a ``ValueError``; so is a component with every action masked when the mask
    is concrete (checked on the host before the compiled act). Inside the caller's ``jax.jit`` (a traced
    mask) that is not checked: such a component's log-probability and entropy are NaN (and so is their
    reduction).

    Raises:
        ValueError: the action space is not a gymnasium MultiDiscrete or Discrete, or ``reduction`` is unknown.
    """

    def __init__(
        self,
        unnormalized_log_prob: bool = True,
        reduction: Literal["mean", "sum", "prod", "none"] = "sum",
        role: str = "",
    ) -> None:
        nvec, start = _components(self.action_space)
        register(
            self,
            MultiCategoricalSettings(
                role=role,
                head=MultiCategoricalMixin,
                nvec=nvec,
                start=start if start.any() else None,
                unnormalized_log_prob=bool(unnormalized_log_prob),
                reduce=get_reduction(reduction),
            ),
        )
        post_init(self)

    def _act(self, settings: MultiCategoricalSettings, inputs: Mapping[str, Any], role: str, params: Any) -> ActOutput:
        """Check a given ``inputs["action_mask"]`` on the host, then run the compiled act."""
        mask = inputs.get("action_mask")
        if mask is not None:
            check_action_mask(mask, sum(settings.nvec), settings.nvec)
        return run(self, settings, inputs, role, params)

    def _get_entropy(self, settings: MultiCategoricalSettings, logits: jax.Array | dict) -> jax.Array:
        """Per-component entropies (batch, K), reduced like the log-probability ((batch, 1) for ``"sum"``).

        Args:
            logits: ``outputs["net_output"]`` (batch, sum(nvec)) (masked by ``act`` when a mask was given) or
                the whole ``outputs`` dict.

        Raises:
            ValueError: the last dimension is not ``sum(nvec)`` (e.g. the ``stddev`` placeholder).
        """
        net_output = entropy_input(logits, "net_output", sum(settings.nvec), "MultiCategoricalMixin")
        if settings.unnormalized_log_prob:
            entropy = multicategorical_entropy(
                multicategorical_log_probs(net_output, settings.nvec, categorical_log_probs_from_logits)
            )
        else:
            entropy = multicategorical_entropy_of_probs(net_output, settings.nvec)
        return settings.reduce(entropy)

    @staticmethod
    def _finish(
        settings: MultiCategoricalSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> ActOutput:
        """Multi-categorical math on ``__call__``'s output (runs inside the compiled act)."""
        net_output, outputs = out
        to_log_probs = (
            categorical_log_probs_from_logits if settings.unnormalized_log_prob else categorical_log_probs_from_probs
        )
        mask = traced_action_mask(inputs, net_output)
        if mask is not None:  # masked entries never reach the normalisation: no gradient flows to them
            net_output = mask_output(net_output, mask, settings.unnormalized_log_prob)
        log_probs = multicategorical_log_probs(net_output, settings.nvec, to_log_probs)
        if mask is not None:
            log_probs = multicategorical_mask(log_probs, mask)  # exactly -inf when masked, NaN for a full chunk
        actions = multicategorical_sample(key, log_probs)

        start = settings.start
        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = multicategorical_log_prob(log_probs, actions)
        else:
            index = jnp.reshape(taken_actions, (-1, len(settings.nvec))).astype(jnp.int32)
            log_prob = multicategorical_log_prob(log_probs, index if start is None else index - start)
        if start is not None:
            actions = actions + start

        outputs = dict(outputs)
        outputs["net_output"] = net_output
        if not training:
            mode = multicategorical_mode(log_probs)
            outputs["mode_actions"] = mode if start is None else mode + start
        outputs["stddev"] = stddev_placeholder(net_output)
        return actions, settings.reduce(log_prob), outputs


def _components(space: Any) -> tuple[tuple[int, ...], np.ndarray]:
    """``(nvec, start)`` of a MultiDiscrete (or Discrete: one component) action space: ints and a (K,) int32 array.

    Raises:
        ValueError: any other action space.
    """
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).reshape(-1)
        start = np.asarray(getattr(space, "start", np.zeros_like(nvec)), dtype=np.int32).reshape(-1)
        return tuple(int(n) for n in nvec), start
    if isinstance(space, gymnasium.spaces.Discrete):
        return (int(space.n),), np.asarray([int(space.start)], dtype=np.int32)
    raise ValueError(
        "MultiCategoricalMixin needs a gymnasium MultiDiscrete (or Discrete) action space, "
        f"got {type(space).__name__} ({space!r})"
    )
