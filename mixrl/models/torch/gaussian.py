"""``GaussianMixin``: a diagonal Gaussian policy over a continuous (Box) action space."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.distributions.transforms import AffineTransform, TanhTransform

from mixrl.models import _roles
from mixrl.models.torch._clip import action_bounds, clip_to_bounds, squash_bounds, squash_bounds_on
from mixrl.models.torch.distributions import (
    gaussian_entropy,
    gaussian_log_prob,
    gaussian_log_prob_of_noise,
    gaussian_sample,
    get_reduction,
    squash,
    squashed_gaussian_correction,
    unsquash,
)


class GaussianMixin:
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

    ``act`` returns ``(actions (batch, A), log_prob, {"mean_actions": (batch, A), ...})``.
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
        settings = gaussian_settings(self, "GaussianMixin", clip_actions, clip_log_std, min_log_std, max_log_std)
        settings["squash"] = bool(squash)
        settings["squash_bounds"] = squash_bounds(self, "GaussianMixin") if squash else None
        _roles.register(self, GaussianMixin, role, reduce=get_reduction(reduction), **settings)

    def act(self, inputs: dict[str, Any], role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``."""
        entry = _roles.route(self, GaussianMixin, role)
        if entry.owner is not GaussianMixin:
            return entry.owner.act(self, inputs, role)

        return diagonal_gaussian_act(self, entry, inputs, role)

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Element-wise entropy (batch, num_actions) of the last distribution; ``0.0`` before any ``act``."""
        entry = _roles.route(self, GaussianMixin, role)
        if entry.owner is not GaussianMixin:
            return _roles.delegated(entry, "get_entropy", role)(self, role)
        if entry.last is None:
            return torch.tensor(0.0, device=self.device)
        mean_actions, log_std = entry.last
        return gaussian_entropy(log_std).expand_as(mean_actions)

    def get_log_std(self, role: str = "") -> torch.Tensor:
        """Log standard deviation (batch, num_actions) of the last distribution (after clamping)."""
        entry = _roles.route(self, GaussianMixin, role)
        if entry.owner is not GaussianMixin:
            return _roles.delegated(entry, "get_log_std", role)(self, role)
        return last_log_std(entry, role)

    def distribution(self, role: str = "") -> torch.distributions.Distribution | None:
        """The last distribution as a ``torch.distributions.Normal`` (``None`` before any ``act``).

        With ``squash=True``: a ``TransformedDistribution`` of that Normal by tanh and the Box rescale.
        """
        entry = _roles.route(self, GaussianMixin, role)
        if entry.owner is not GaussianMixin:
            return _roles.delegated(entry, "distribution", role)(self, role)
        if entry.last is None:
            return None
        mean_actions, log_std = entry.last
        normal = torch.distributions.Normal(mean_actions, log_std.exp(), validate_args=False)
        if not entry.squash:
            return normal
        center, half_range, _ = entry.squash_bounds
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


def diagonal_gaussian_act(model: Any, entry: Any, inputs: dict[str, Any], role: str) -> tuple:
    """The act of a diagonal Gaussian head (shared by the Gaussian and multivariate Gaussian mixins).

    Runs ``model.compute``, clamps the log-std, draws reparameterised actions, clips them and reduces the
    per-dimension log-probabilities with ``entry.reduce``; keeps ``(mean_actions, log_std)`` for the accessors.
    """
    mean_actions, log_std, outputs = model.compute(inputs, role)
    if entry.clip_log_std:
        log_std = log_std.clamp(entry.min_log_std, entry.max_log_std)
    if entry.squash:
        return _squashed_gaussian_act(entry, inputs, mean_actions, log_std, outputs)
    actions, noise = gaussian_sample(mean_actions, log_std.exp())
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


def _squashed_gaussian_act(entry: Any, inputs: dict[str, Any], mean_actions, log_std, outputs: dict) -> tuple:
    """The ``squash=True`` branch of :func:`diagonal_gaussian_act` (log-prob through the change of variables)."""
    center, half_range, log_half_range = squash_bounds_on(entry, mean_actions.device)
    u, noise = gaussian_sample(mean_actions, log_std.exp())
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


def last_log_std(entry: Any, role: str) -> torch.Tensor:
    """Clamped log-std (batch, num_actions) of the last act of ``entry``'s role.

    Raises:
        RuntimeError: no act yet.
    """
    if entry.last is None:
        raise RuntimeError(f"get_log_std(role={role!r}): call act() first")
    mean_actions, log_std = entry.last
    return log_std.expand_as(mean_actions)
