"""``DeterministicMixin``: deterministic actions, state values and Q-values."""

from __future__ import annotations

from typing import Any

import torch

from mixrl.models import _roles
from mixrl.models.torch._clip import action_bounds, clip_to_bounds


class DeterministicMixin:
    """Deterministic behaviour: ``compute`` returns ``(actions, outputs)``, ``act`` ``(actions, None, outputs)``.

    Used for DDPG/TD3 policies, state-value functions (output (batch, 1)), Q-functions
    (input ``concat(states, taken_actions)``) and DQN Q-networks (output (batch, n)).

    Args:
        clip_actions: clamp the output to the Box bounds of the action space.
        role: role these settings belong to.
    """

    def __init__(self, clip_actions: bool = False, role: str = "") -> None:
        _roles.register(
            self,
            DeterministicMixin,
            role,
            clip_actions=bool(clip_actions),
            bounds=action_bounds(self, clip_actions, "DeterministicMixin"),
        )

    def act(self, inputs: dict[str, Any], role: str = "") -> tuple[torch.Tensor, None, dict]:
        """Run ``compute`` and optionally clamp its output to the action bounds."""
        entry = _roles.route(self, DeterministicMixin, role)
        if entry.owner is not DeterministicMixin:
            return entry.owner.act(self, inputs, role)
        actions, outputs = self.compute(inputs, role)
        if entry.clip_actions:
            actions = clip_to_bounds(entry, actions)
        return actions, None, outputs
