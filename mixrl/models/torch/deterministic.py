"""``DeterministicMixin``: deterministic actions, state values and Q-values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.torch._clip import action_bounds, clip_to_bounds
from mixrl.models.torch._head import Head


@dataclasses.dataclass(eq=False, kw_only=True)
class DeterministicSettings(HeadSettings):
    """Settings of a deterministic head for one role: ``bounds`` is the flat ``(low, high)`` of the Box when
    clipping (``None`` otherwise)."""

    clip_actions: bool
    bounds: tuple[torch.Tensor, torch.Tensor] | None


class DeterministicMixin(Head):
    """Deterministic behaviour: ``compute`` returns ``(actions, outputs)``, ``act`` ``(actions, None, outputs)``.

    Used for DDPG/TD3 policies, state-value functions (output (batch, 1)), Q-functions
    (input ``concat(states, taken_actions)``) and DQN Q-networks (output (batch, n)). ``outputs`` is the dict
    ``compute`` returned, with no key added.

    Args:
        clip_actions: clamp the output to the Box bounds of the action space.
        role: role these settings belong to.
    """

    def __init__(self, clip_actions: bool = False, role: str = "") -> None:
        _roles.register(
            self,
            DeterministicSettings(
                role=role,
                head=DeterministicMixin,
                clip_actions=bool(clip_actions),
                bounds=action_bounds(self, clip_actions, "DeterministicMixin"),
            ),
        )

    def _act(
        self, settings: DeterministicSettings, inputs: Mapping[str, Any], role: str
    ) -> tuple[torch.Tensor, None, dict]:
        """Run ``compute`` and optionally clamp its output to the action bounds."""
        actions, outputs = self.compute(inputs, role)
        if settings.clip_actions:
            actions = clip_to_bounds(settings, actions)
        return actions, None, outputs
