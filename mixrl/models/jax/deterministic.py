"""``DeterministicMixin``: deterministic actions, state values and Q-values."""

from __future__ import annotations

from typing import Any

import flax
import jax

from mixrl.models.jax import _act
from mixrl.models.jax._clip import action_bounds, clip_to_bounds


class DeterministicMixin:
    """Deterministic behaviour: ``__call__`` returns ``(actions, outputs)``, ``act`` ``(actions, None, outputs)``.

    Used for DDPG/TD3 policies, state-value functions (output (batch, 1)), Q-functions
    (input ``concat(states, taken_actions)``) and DQN Q-networks (output (batch, n)).

    Args:
        clip_actions: clamp the output to the Box bounds of the action space.
        role: role these settings belong to.
    """

    def __init__(self, clip_actions: bool = False, role: str = "") -> None:
        _act.register(
            self,
            DeterministicMixin,
            role,
            clip_actions=bool(clip_actions),
            bounds=action_bounds(self, clip_actions, "DeterministicMixin"),
            stochastic=False,
            finish=_finish,
        )
        flax.linen.Module.__post_init__(self)

    def act(self, inputs: dict[str, Any], role: str = "", params: Any = None) -> tuple[jax.Array, None, dict]:
        """Run ``__call__`` and optionally clamp its output to the action bounds.

        Args:
            inputs: ``"states"``, optional ``"taken_actions"`` and ``"key"``.
            role: role of the call.
            params: variables to use (default ``state_dict.params``); may be traced.
        """
        entry = self.__dict__["_mixrl_routes"].get((DeterministicMixin, role)) or _act.route(
            self, DeterministicMixin, role
        )
        if entry.owner is not DeterministicMixin:
            return entry.owner.act(self, inputs, role, params)
        return _act.run(self, entry, inputs, role, params)


def _finish(entry: Any, out: tuple, inputs: dict[str, Any], key: jax.Array) -> tuple[jax.Array, None, dict]:
    """Optional clipping of ``__call__``'s output (runs inside the compiled act)."""
    actions, outputs = out
    if entry.clip_actions:
        actions = clip_to_bounds(entry, actions)
    return actions, None, outputs
