"""``MultiCategoricalMixin``: one independent categorical per component of a MultiDiscrete action space."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

import gymnasium
import numpy as np
import torch

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.torch._head import ActOutput, Head
from mixrl.models.torch.distributions import (
    MultiLogProbs,
    Reduction,
    categorical_log_probs_from_logits,
    categorical_log_probs_from_probs,
    check_action_mask,
    get_reduction,
    mask_output,
    multicategorical_entropy,
    multicategorical_log_prob,
    multicategorical_log_probs,
    multicategorical_mask,
    multicategorical_mode,
    multicategorical_sample,
)


class MultiCategoricalDistribution:
    """The K independent categoricals of the last ``act``, with indices ``0 .. n_k - 1`` (no space ``start``).

    ``dist[k]`` is component k (a ``torch.distributions.Categorical``); ``len(dist)`` is K.
    """

    def __init__(self, log_probs: MultiLogProbs) -> None:
        self.log_probs = log_probs
        components = log_probs.unbind(-2) if isinstance(log_probs, torch.Tensor) else log_probs
        self.distributions = [torch.distributions.Categorical(logits=c, validate_args=False) for c in components]

    def sample(self) -> torch.Tensor:
        """One draw per component: int64 (batch, K)."""
        return multicategorical_sample(self.log_probs)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Per-component log-probabilities (batch, K) of integer ``actions`` (batch, K)."""
        return multicategorical_log_prob(self.log_probs, actions.long())

    def entropy(self) -> torch.Tensor:
        """Per-component entropies (batch, K)."""
        return multicategorical_entropy(self.log_probs)

    @property
    def mode(self) -> torch.Tensor:
        """Most likely index of each component: int64 (batch, K)."""
        return multicategorical_mode(self.log_probs)

    def __getitem__(self, k: int) -> torch.distributions.Categorical:
        return self.distributions[k]

    def __len__(self) -> int:
        return len(self.distributions)

    def __repr__(self) -> str:
        sizes = [d.logits.shape[-1] for d in self.distributions]
        return f"MultiCategoricalDistribution(nvec={sizes}, batch={list(self.distributions[0].batch_shape)})"


@dataclasses.dataclass(eq=False, kw_only=True)
class MultiCategoricalSettings(HeadSettings):
    """Settings of a multi-categorical head for one role.

    ``nvec`` holds the K component sizes; ``start`` the per-component first actions (K,) int64, ``None`` when
    all are 0; ``to_log_probs`` maps a chunk of ``net_output`` to normalised log-probabilities; ``reduce`` is
    the reduction over the K components; ``last`` the log-probabilities of the last act.
    """

    nvec: tuple[int, ...]
    start: torch.Tensor | None
    to_log_probs: Callable[[torch.Tensor], torch.Tensor]
    reduce: Reduction


class MultiCategoricalMixin(Head):
    """Multi-categorical behaviour: ``compute`` returns ``(net_output (batch, sum(nvec)), outputs)``.

    ``net_output`` holds ``len(nvec)`` consecutive chunks, one categorical per component of the
    ``MultiDiscrete(nvec)`` action space (a ``Discrete`` space is a single component).

    Args:
        unnormalized_log_prob: read ``net_output`` as logits (any real); otherwise as probabilities
            (non-negative, finite, non-zero sum per chunk).
        reduction: how per-component log-probabilities (batch, K) are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, K).
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, K) int64, log_prob, outputs)``. Actions of a space with ``start`` are
    shifted by it (``taken_actions`` are read the same way). ``outputs`` keys: ``"net_output"``
    (batch, sum(nvec)) as returned by ``compute``; in eval mode only (``set_mode("eval")``), ``"mode_actions"``
    (batch, K) int64, each component's most likely allowed action in the space's values.

    Action masking: ``inputs["action_mask"]`` (batch, sum(nvec)) bool, ``True`` = allowed, laid out like
    ``net_output``. Masked actions are never sampled, their log-probability is ``-inf`` and the entropy
    ignores them; a component with every action masked is a ``ValueError``.

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
        _roles.register(
            self,
            MultiCategoricalSettings(
                role=role,
                head=MultiCategoricalMixin,
                nvec=nvec,
                start=torch.as_tensor(start, dtype=torch.int64, device=self.device) if any(start) else None,
                to_log_probs=(
                    categorical_log_probs_from_logits if unnormalized_log_prob else categorical_log_probs_from_probs
                ),
                reduce=get_reduction(reduction),
            ),
        )

    def _act(self, settings: MultiCategoricalSettings, inputs: Mapping[str, Any], role: str) -> ActOutput:
        """Sample one action per component and return the reduced log-probability of them, or of ``taken_actions``."""
        net_output, outputs = self.compute(inputs, role)
        log_probs = multicategorical_log_probs(net_output, settings.nvec, settings.to_log_probs)
        mask = inputs.get("action_mask")
        if mask is not None:
            mask = check_action_mask(mask, net_output.shape[-1], settings.nvec)
            log_probs = multicategorical_mask(log_probs, mask, settings.nvec)
            net_output = mask_output(net_output, mask, settings.to_log_probs is categorical_log_probs_from_logits)
        actions = multicategorical_sample(log_probs)
        start = _start_on(settings, actions.device)

        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = multicategorical_log_prob(log_probs, actions)
        else:
            index = taken_actions.reshape(-1, len(settings.nvec)).long()
            log_prob = multicategorical_log_prob(log_probs, index if start is None else index - start)
        if start is not None:
            actions = actions + start
        if not self.training:
            mode = multicategorical_mode(log_probs)
            outputs["mode_actions"] = mode if start is None else mode + start

        settings.last = log_probs
        outputs["net_output"] = net_output
        return actions, settings.reduce(log_prob), outputs

    def _get_entropy(self, settings: MultiCategoricalSettings) -> torch.Tensor:
        """Per-component entropies of the last distribution, reduced: (batch, 1), or (batch, K) for ``"none"``.

        ``0.0`` before any ``act``.
        """
        if settings.last is None:
            return torch.tensor(0.0, device=self.device)
        return settings.reduce(multicategorical_entropy(settings.last))

    def _distribution(self, settings: MultiCategoricalSettings) -> MultiCategoricalDistribution | None:
        """The last distribution as a :class:`MultiCategoricalDistribution` (``None`` before any ``act``)."""
        if settings.last is None:
            return None
        return MultiCategoricalDistribution(settings.last)


def _components(space: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(nvec, start)`` as flat tuples of Python ints for a MultiDiscrete or Discrete action space."""
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).reshape(-1)
        start = np.asarray(getattr(space, "start", np.zeros_like(nvec))).reshape(-1)
        return tuple(int(n) for n in nvec), tuple(int(s) for s in start)
    if isinstance(space, gymnasium.spaces.Discrete):
        return (int(space.n),), (int(getattr(space, "start", 0)),)
    raise ValueError(
        "MultiCategoricalMixin needs a gymnasium MultiDiscrete (or Discrete) action space, "
        f"got {type(space).__name__} ({space!r})"
    )


def _start_on(settings: MultiCategoricalSettings, device: torch.device) -> torch.Tensor | None:
    """The per-component ``start`` (K,) of ``settings`` on ``device`` (moved once if the model changed device)."""
    start = settings.start
    if start is not None and start.device != device:
        start = settings.start = start.to(device)
    return start
