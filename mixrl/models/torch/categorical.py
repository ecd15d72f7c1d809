"""``CategoricalMixin``: a categorical policy over a Discrete action space."""

from __future__ import annotations

from typing import Any

import gymnasium
import torch

from mixrl.models import _roles
from mixrl.models.torch.distributions import (
    categorical_entropy,
    categorical_log_prob,
    categorical_log_probs_from_logits,
    categorical_log_probs_from_probs,
    categorical_mode,
    categorical_sample,
    check_action_mask,
    mask_log_probs,
)


class CategoricalMixin:
    """Categorical behaviour: ``compute`` returns ``(net_output (batch, n), outputs)``.

    Args:
        unnormalized_log_prob: read ``net_output`` as logits (any real); otherwise as probabilities
            (non-negative, finite, non-zero row sum).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, 1) int64, log_prob (batch, 1), {"net_output": ..., ...})``. Actions of
    a ``Discrete(n, start=s)`` space are ``s .. s + n - 1``.

    Action masking: ``inputs["action_mask"]`` (batch, n) bool, ``True`` = allowed. Masked actions are never
    sampled, their log-probability is ``-inf`` and the entropy ignores them; a row with every action
    masked is a ``ValueError``. In eval mode (``set_mode("eval")``) ``outputs["mode_actions"]`` (batch, 1)
    holds the most likely allowed action, for deterministic evaluation.
    """

    def __init__(self, unnormalized_log_prob: bool = True, role: str = "") -> None:
        space = self.action_space
        start = int(space.start) if isinstance(space, gymnasium.spaces.Discrete) else 0
        _roles.register(
            self,
            CategoricalMixin,
            role,
            to_log_probs=(
                categorical_log_probs_from_logits if unnormalized_log_prob else categorical_log_probs_from_probs
            ),
            start=start,
        )

    def act(self, inputs: dict[str, Any], role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Sample actions and return their log-probability, or that of ``inputs["taken_actions"]``."""
        entry = _roles.route(self, CategoricalMixin, role)
        if entry.owner is not CategoricalMixin:
            return entry.owner.act(self, inputs, role)

        net_output, outputs = self.compute(inputs, role)
        log_probs = entry.to_log_probs(net_output)
        mask = inputs.get("action_mask")
        if mask is not None:
            log_probs = mask_log_probs(log_probs, check_action_mask(mask, log_probs.shape[-1]))
        actions = categorical_sample(log_probs)

        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = categorical_log_prob(log_probs, actions)
        else:
            index = taken_actions.reshape(-1, 1).long()
            log_prob = categorical_log_prob(log_probs, index - entry.start if entry.start else index)
        if entry.start:
            actions = actions + entry.start
        if not self.training:
            outputs["mode_actions"] = categorical_mode(log_probs) + entry.start

        entry.last = log_probs
        outputs["net_output"] = net_output
        return actions, log_prob, outputs

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy (batch,) of the last distribution; ``0.0`` before any ``act``."""
        entry = _roles.route(self, CategoricalMixin, role)
        if entry.owner is not CategoricalMixin:
            return _roles.delegated(entry, "get_entropy", role)(self, role)
        if entry.last is None:
            return torch.tensor(0.0, device=self.device)
        return categorical_entropy(entry.last)

    def distribution(self, role: str = "") -> torch.distributions.Categorical | None:
        """The last distribution as a ``torch.distributions.Categorical`` (``None`` before any ``act``).

        Its support is ``0 .. n - 1`` (without the space's ``start``).
        """
        entry = _roles.route(self, CategoricalMixin, role)
        if entry.owner is not CategoricalMixin:
            return _roles.delegated(entry, "distribution", role)(self, role)
        if entry.last is None:
            return None
        return torch.distributions.Categorical(logits=entry.last, validate_args=False)
