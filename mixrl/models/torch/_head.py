"""The routing base of every torch mixin: ``act`` and the accessors, routed to the head serving the role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from mixrl.models import _roles

ActOutput = tuple[torch.Tensor, "torch.Tensor | None", dict]


class Head:
    """Base of the torch mixins (put before ``Model`` in a model's bases).

    Each public method routes the call to the head registered for ``role`` (see :mod:`mixrl.models._roles`)
    and runs that head's implementation (``_act``, ``_get_entropy``, ``_get_log_std``, ``_distribution``),
    so a shared model with several heads needs no dispatch code of its own.
    """

    if TYPE_CHECKING:  # provided by Model (torch.nn.Module)
        observation_space: Any
        action_space: Any
        num_observations: int | None
        num_actions: int | None
        device: torch.device
        training: bool

        def compute(self, inputs: Mapping[str, Any], role: str = "") -> Any: ...

    def act(self, inputs: Mapping[str, Any], role: str = "") -> ActOutput:
        """Act with the head serving ``role``: ``(actions, log_prob or None, outputs)``.

        Args:
            inputs: ``"states"`` (batch, obs) and the head's optional keys (``"taken_actions"``, ...).
            role: the role of the call; ``""`` on a single-role model.
        """
        found = self.__dict__["_mixrl_routes"].get(("act", role))  # the memoised route: the hot path
        settings, act = _roles.route(self, role, "act") if found is None else found
        return act(self, settings, inputs, role)

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy of the last distribution of ``role`` (shape per head); ``0.0`` before any ``act``."""
        settings, get_entropy = _roles.route(self, role, "get_entropy")
        return get_entropy(self, settings)

    def get_log_std(self, role: str = "") -> torch.Tensor:
        """Log standard deviation (batch, num_actions) of the last distribution of ``role`` (Gaussian heads)."""
        settings, get_log_std = _roles.route(self, role, "get_log_std")
        return get_log_std(self, settings)

    def distribution(self, role: str = "") -> Any:
        """The last distribution of ``role`` as a ``torch.distributions`` object (``None`` before any ``act``)."""
        settings, distribution = _roles.route(self, role, "distribution")
        return distribution(self, settings)
