"""``GaussianMixin``: a diagonal Gaussian policy over a continuous (Box) action space."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch.distributions.transforms import AffineTransform, TanhTransform

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.torch._clip import action_bounds, clip_to_bounds, squash_bounds, squash_bounds_on
from mixrl.models.torch._head import ActOutput, Head
from mixrl.models.torch.distributions import (
    Reduction,
    gaussian_entropy,
    gaussian_log_prob,
    gaussian_log_prob_of_noise,
    gaussian_sample,
    get_reduction,
    squash,
    squashed_gaussian_correction,
    unsquash,
)


@dataclasses.dataclass(eq=False, kw_only=True)
class GaussianSettings(HeadSettings):
    """Settings of a diagonal Gaussian head for one role (shared by the Gaussian and multivariate Gaussian mixins).

    ``bounds`` is the flat ``(low, high)`` of the Box when clipping; ``squash_bounds`` the
    ``(center, half_range, log(half_range))`` when squashing; ``last`` the ``(mean_actions, log_std)`` of the
    last act.
    """

    clip_actions: bool
    bounds: tuple[torch.Tensor, torch.Tensor] | None
    clip_log_std: bool
    min_log_std: float
    max_log_std: float
    reduce: Reduction
    squash: bool = False
    squash_bounds: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


class GaussianMixin(Head):
    """Diagonal Gaussian behaviour: ``compute`` returns ``(mean_actions, log_std, outputs)``.

    ``log_std`` is (num_actions,) (state-independent) or (batch, num_actions) (state-dependent).

    Args:
        clip_actions: clamp sampled actions to the Box bounds. The log-probability of a clipped action is
            the density of the unclipped Gaussian there (no boundary mass correction).
        clip_log_std: clamp ``log_std`` to ``[min_log_std, max_log_std]``.
        min_log_std: lower clamp bound.
        max_log_std: upper clamp bound.
        reduction: how per-dimension log-probabilities are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, num_actions).
        role: role these settings belong to.
        squash: (keyword-only) bounded actions ``center + half_range * tanh(u)`` with ``u ~ Normal(mean, std)``
            and ``center``/``half_range`` from the Box bounds. The log-probability subtracts the log-Jacobian of
            the squashing (stable form on ``u``) and of the rescale, per dimension, before the reduction;
            ``outputs["mean_actions"]`` is the squashed mean; ``get_entropy`` is the entropy of ``u``'s
            Gaussian (the squashed one has no closed form: use ``-log_prob`` as a sample estimate).

    ``act`` returns ``(actions (batch, A), log_prob, outputs)`` with these ``outputs`` keys, all (batch, A) (a
    state-independent ``log_std`` is broadcast over the batch, as a view): ``"mean_actions"`` (squashed with
    ``squash=True``), ``"log_std"`` (after the clamp) and ``"stddev"`` ``= exp(log_std)``.
    """

    def __init__(
        self,
        clip_actions: bool = False,
        clip_log_std: bool = True,
        min_log_std: float = -20,
        max_log_std: float = 2,
        reduction: Literal["mean", "sum", "prod", "none"] = "sum",
        role: str = "",
        *,
        squash: bool = False,
    ) -> None:
        _roles.register(
            self,
            GaussianSettings(
                role=role,
                head=GaussianMixin,
                reduce=get_reduction(reduction),
                squash=bool(squash),
                squash_bounds=squash_bounds(self, "GaussianMixin") if squash else None,
                **gaussian_settings(self, "GaussianMixin", clip_actions, clip_log_std, min_log_std, max_log_std),
            ),
        )

    def _act(self, settings: GaussianSettings, inputs: Mapping[str, Any], role: str) -> ActOutput:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``."""
        return diagonal_gaussian_act(self, settings, inputs, role)

    def _get_entropy(self, settings: GaussianSettings) -> torch.Tensor:
        """Element-wise entropy (batch, num_actions) of the last distribution; ``0.0`` before any ``act``."""
        if settings.last is None:
            return torch.tensor(0.0, device=self.device)
        mean_actions, log_std = settings.last
        return gaussian_entropy(log_std).expand_as(mean_actions)

    def _get_log_std(self, settings: GaussianSettings) -> torch.Tensor:
        """Log standard deviation (batch, num_actions) of the last distribution (after clamping)."""
        return last_log_std(settings)

    def _distribution(self, settings: GaussianSettings) -> torch.distributions.Distribution | None:
        """The last distribution as a ``torch.distributions.Normal`` (``None`` before any ``act``).

        With ``squash=True``: a ``TransformedDistribution`` of that Normal by tanh and the Box rescale.
        """
        if settings.last is None:
            return None
        mean_actions, log_std = settings.last
        normal = torch.distributions.Normal(mean_actions, log_std.exp(), validate_args=False)
        if settings.squash_bounds is None:
            return normal
        center, half_range, _ = settings.squash_bounds
        transforms = [TanhTransform(cache_size=1), AffineTransform(center, half_range, cache_size=1)]
        return torch.distributions.TransformedDistribution(normal, transforms, validate_args=False)


def gaussian_settings(
    model: Any, mixin: str, clip_actions: bool, clip_log_std: bool, min_log_std: float, max_log_std: float
) -> dict[str, Any]:
    """Validated per-role settings of a diagonal Gaussian head (clip bounds read from the Box action space)."""
    return {
        "clip_actions": bool(clip_actions),
        "bounds": action_bounds(model, clip_actions, mixin),
        "clip_log_std": bool(clip_log_std),
        "min_log_std": float(min_log_std),
        "max_log_std": float(max_log_std),
    }


def diagonal_gaussian_act(model: Any, entry: GaussianSettings, inputs: Mapping[str, Any], role: str) -> ActOutput:
    """The act of a diagonal Gaussian head (shared by the Gaussian and multivariate Gaussian mixins).

    Runs ``model.compute``, clamps the log-std, draws reparameterised actions, clips them and reduces the
    per-dimension log-probabilities with ``entry.reduce``; keeps ``(mean_actions, log_std)`` for the accessors
    and puts ``"mean_actions"``, ``"log_std"`` and ``"stddev"`` (batch, A) in ``outputs``.
    """
    mean_actions, log_std, outputs = model.compute(inputs, role)
    if entry.clip_log_std:
        log_std = log_std.clamp(entry.min_log_std, entry.max_log_std)
    stddev = log_std.exp()
    outputs["log_std"] = log_std.expand_as(mean_actions)
    outputs["stddev"] = stddev.expand_as(mean_actions)
    if entry.squash:
        return _squashed_gaussian_act(entry, inputs, mean_actions, log_std, stddev, outputs)
    actions, noise = gaussian_sample(mean_actions, stddev)
    if entry.clip_actions:
        actions = clip_to_bounds(entry, actions)

    taken_actions = inputs.get("taken_actions")
    if taken_actions is not None:
        log_prob = gaussian_log_prob(mean_actions, log_std, taken_actions)
    elif entry.clip_actions:
        log_prob = gaussian_log_prob(mean_actions, log_std, actions)
    else:
        log_prob = gaussian_log_prob_of_noise(noise, log_std)

    entry.last = (mean_actions, log_std)
    outputs["mean_actions"] = mean_actions
    return actions, entry.reduce(log_prob), outputs


def _squashed_gaussian_act(
    entry: GaussianSettings,
    inputs: Mapping[str, Any],
    mean_actions: torch.Tensor,
    log_std: torch.Tensor,
    stddev: torch.Tensor,
    outputs: dict,
) -> ActOutput:
    """The ``squash=True`` branch of :func:`diagonal_gaussian_act` (log-prob through the change of variables)."""
    center, half_range, log_half_range = squash_bounds_on(entry, mean_actions.device)
    u, noise = gaussian_sample(mean_actions, stddev)
    actions = squash(u, center, half_range)
    taken_actions = inputs.get("taken_actions")
    if taken_actions is None:
        log_prob = gaussian_log_prob_of_noise(noise, log_std) - squashed_gaussian_correction(u, log_half_range)
    else:
        u = unsquash(taken_actions, center, half_range)
        log_prob = gaussian_log_prob(mean_actions, log_std, u) - squashed_gaussian_correction(u, log_half_range)
    entry.last = (mean_actions, log_std)
    outputs["mean_actions"] = squash(mean_actions, center, half_range)
    return actions, entry.reduce(log_prob), outputs


def last_log_std(entry: GaussianSettings) -> torch.Tensor:
    """Clamped log-std (batch, num_actions) of the last act of ``entry``'s role.

    Raises:
        RuntimeError: no act yet.
    """
    if entry.last is None:
        raise RuntimeError(f"get_log_std(role={entry.role!r}): call act() first")
    mean_actions, log_std = entry.last
    return log_std.expand_as(mean_actions)
