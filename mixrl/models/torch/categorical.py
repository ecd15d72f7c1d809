"""``CategoricalMixin``: a categorical policy over a Discrete action space."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
import torch

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.torch._head import ActOutput, Head
from mixrl.models.torch.distributions import (
    categorical_entropy,
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
    """Settings of a categorical head for one role.

    ``start`` is the ``Discrete`` space's first action (0 for other spaces); ``to_log_probs`` maps
    ``net_output`` (batch, n) to normalised log-probabilities; ``last`` the log-probabilities of the last act.
    """

    start: int
    to_log_probs: Callable[[torch.Tensor], torch.Tensor]


class CategoricalMixin(Head):
    """Categorical behaviour: ``compute`` returns ``(net_output (batch, n), outputs)``.

    Args:
        unnormalized_log_prob: read ``net_output`` as logits (any real); otherwise as probabilities
            (non-negative, finite, non-zero row sum).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, 1) int64, log_prob (batch, 1), outputs)``. Actions of a
    ``Discrete(n, start=s)`` space are ``s .. s + n - 1``. ``outputs`` keys: ``"net_output"`` (batch, n) as
    returned by ``compute``; in eval mode only (``set_mode("eval")``), ``"mode_actions"`` (batch, 1) int64, the
    most likely allowed action in the space's values, for deterministic evaluation.

    Action masking: ``inputs["action_mask"]`` (batch, n) bool, ``True`` = allowed. Masked actions are never
    sampled, their log-probability is ``-inf`` and the entropy ignores them; a row with every action
    masked is a ``ValueError``.
    """

    def __init__(self, unnormalized_log_prob: bool = True, role: str = "") -> None:
        space = self.action_space
        _roles.register(
            self,
            CategoricalSettings(
                role=role,
                head=CategoricalMixin,
                start=int(space.start) if isinstance(space, gymnasium.spaces.Discrete) else 0,
                to_log_probs=(
                    categorical_log_probs_from_logits if unnormalized_log_prob else categorical_log_probs_from_probs
                ),
            ),
        )

    def _act(self, settings: CategoricalSettings, inputs: Mapping[str, Any], role: str) -> ActOutput:
        """Sample actions and return their log-probability, or that of ``inputs["taken_actions"]``."""
        net_output, outputs = self.compute(inputs, role)
        log_probs = settings.to_log_probs(net_output)
        mask = inputs.get("action_mask")
        if mask is not None:
            mask = check_action_mask(mask, log_probs.shape[-1])
            log_probs = mask_log_probs(log_probs, mask)
            net_output = mask_output(net_output, mask, settings.to_log_probs is categorical_log_probs_from_logits)
        actions = categorical_sample(log_probs)

        start = settings.start
        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = categorical_log_prob(log_probs, actions)
        else:
            index = taken_actions.reshape(-1, 1).long()
            log_prob = categorical_log_prob(log_probs, index - start if start else index)
        if start:
            actions = actions + start
        if not self.training:
            mode = categorical_mode(log_probs)
            outputs["mode_actions"] = mode + start if start else mode

        settings.last = log_probs
        outputs["net_output"] = net_output
        return actions, log_prob, outputs

    def _get_entropy(self, settings: CategoricalSettings) -> torch.Tensor:
        """Entropy (batch,) of the last distribution; ``0.0`` before any ``act``."""
        if settings.last is None:
            return torch.tensor(0.0, device=self.device)
        return categorical_entropy(settings.last)

    def _distribution(self, settings: CategoricalSettings) -> torch.distributions.Categorical | None:
        """The last distribution as a ``torch.distributions.Categorical`` (``None`` before any ``act``).

        Its support is ``0 .. n - 1`` (without the space's ``start``).
        """
        if settings.last is None:
            return None
        return torch.distributions.Categorical(logits=settings.last, validate_args=False)
