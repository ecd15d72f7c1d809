"""``DeterministicMixin``: deterministic actions, state values and Q-values."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from mixrl.models._roles import HeadSettings
from mixrl.models.jax._clip import action_bounds, clip_to_bounds
from mixrl.models.jax._head import Head, post_init, register


@dataclasses.dataclass(eq=False, kw_only=True)
class DeterministicSettings(HeadSettings):
    """Settings of a deterministic head for one role: ``bounds`` is the flat ``(low, high)`` of the Box when
    clipping (``None`` otherwise)."""

    clip_actions: bool
    bounds: tuple[np.ndarray, np.ndarray] | None


class DeterministicMixin(Head):
    """Deterministic behaviour: ``__call__`` returns ``(actions, outputs)``, ``act`` ``(actions, None, outputs)``.

    Used for DDPG/TD3 policies, state-value functions (output (batch, 1)), Q-functions
    (input ``concat(states, taken_actions)``) and DQN Q-networks (output (batch, n)). ``outputs`` is the dict
    ``__call__`` returned, with no key added. It has no entropy: ``get_entropy`` on its role is an error.

    Args:
        clip_actions: clamp the output to the Box bounds of the action space.
        role: role these settings belong to.

    Raises:
        ValueError: ``clip_actions`` without a gymnasium Box action space.
    """

    stochastic = False

    def __init__(self, clip_actions: bool = False, role: str = "") -> None:
        register(
            self,
            DeterministicSettings(
                role=role,
                head=DeterministicMixin,
                clip_actions=bool(clip_actions),
                bounds=action_bounds(self, clip_actions, "DeterministicMixin"),
            ),
        )
        post_init(self)

    @staticmethod
    def _finish(
        settings: DeterministicSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> tuple[Any, None, dict]:
        """Optional clipping of ``__call__``'s output (runs inside the compiled act)."""
        actions, outputs = out
        if settings.bounds is not None:
            actions = clip_to_bounds(settings.bounds, actions)
        return actions, None, outputs
