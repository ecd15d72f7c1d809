"""``BetaMixin``: a Beta policy over a bounded continuous (Box) action space."""

from __future__ import annotations

from typing import Any, Literal

import gymnasium
import numpy as np
import torch
from torch.distributions.transforms import AffineTransform

from mixrl.models import _roles
from mixrl.models.torch.distributions import (
    beta_entropy,
    beta_log_prob,
    beta_log_prob_of_logit,
    beta_sample,
    get_reduction,
)

# (low, high, high - low, log(high - low)), each (A,) float32
Bounds = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class BetaMixin:
    """Beta behaviour: ``compute`` returns ``(alpha, beta, outputs)``, both (batch, num_actions) and positive.

    Actions are ``low + (high - low) * x`` with ``x ~ Beta(alpha, beta)`` per dimension, drawn with a
    reparameterised sampler (gradients flow to ``alpha`` and ``beta``), so they always lie inside the Box
    and need no clipping. Map the network output to positive concentrations yourself, e.g.
    ``softplus(x) + 1``: with ``alpha, beta > 1`` every density is unimodal and vanishes on the bounds,
    the common choice for control; values below 1 pile mass onto the bounds.

    Args:
        reduction: how per-dimension log-probabilities are reduced over the last axis:
            ``"sum"`` (batch, 1), ``"mean"``, ``"prod"`` or ``"none"`` (batch, num_actions).
        role: role these settings belong to.

    The log-probability is ``log Beta(x; alpha, beta) - log(high - low)`` per dimension (the rescale's
    Jacobian) before the reduction; taken actions on a bound are read ``eps`` inside it so it stays finite.
    ``act`` returns ``(actions (batch, A), log_prob, {"mean_actions": (batch, A), ...})`` where
    ``mean_actions = low + (high - low) * alpha / (alpha + beta)`` is the mean action (for evaluation).

    Raises:
        ValueError: (at construction) the action space is not a gymnasium Box with finite ``low < high``.
    """

    def __init__(self, reduction: Literal["mean", "sum", "prod", "none"] = "sum", role: str = "") -> None:
        _roles.register(self, BetaMixin, role, bounds=beta_bounds(self, "BetaMixin"), reduce=get_reduction(reduction))

    def act(self, inputs: dict[str, Any], role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``."""
        entry = _roles.route(self, BetaMixin, role)
        if entry.owner is not BetaMixin:
            return entry.owner.act(self, inputs, role)

        alpha, beta, outputs = self.compute(inputs, role)
        low, high, scale, log_scale = _bounds_on(entry, alpha.device)
        x, logit = beta_sample(alpha, beta)
        actions = torch.addcmul(low, scale, x).clamp(max=high)  # x = 1 may round a hair above high

        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = beta_log_prob_of_logit(alpha, beta, logit)
        else:
            log_prob = beta_log_prob(alpha, beta, (taken_actions - low) / scale)

        entry.last = (alpha, beta)
        outputs["mean_actions"] = torch.addcmul(low, scale, alpha / (alpha + beta))
        return actions, entry.reduce(log_prob - log_scale), outputs

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Element-wise entropy (batch, num_actions) of the last (rescaled) distribution; ``0.0`` before any ``act``.

        ``entropy(Beta(alpha, beta)) + log(high - low)`` per dimension.
        """
        entry = _roles.route(self, BetaMixin, role)
        if entry.owner is not BetaMixin:
            return _roles.delegated(entry, "get_entropy", role)(self, role)
        if entry.last is None:
            return torch.tensor(0.0, device=self.device)
        alpha, beta = entry.last
        return beta_entropy(alpha, beta) + _bounds_on(entry, alpha.device)[3]

    def distribution(self, role: str = "") -> ScaledBeta | None:
        """The last distribution, ``Beta(alpha, beta)`` moved by ``AffineTransform(low, high - low)``.

        A :class:`ScaledBeta` (a ``torch.distributions.TransformedDistribution``), ``None`` before any ``act``.
        """
        entry = _roles.route(self, BetaMixin, role)
        if entry.owner is not BetaMixin:
            return _roles.delegated(entry, "distribution", role)(self, role)
        if entry.last is None:
            return None
        alpha, beta = entry.last
        low, _, scale, _ = _bounds_on(entry, alpha.device)
        base = torch.distributions.Beta(alpha, beta, validate_args=False)
        return ScaledBeta(base, AffineTransform(low, scale), validate_args=False)


class ScaledBeta(torch.distributions.TransformedDistribution):
    """``low + scale * Beta(alpha, beta)`` with the closed-form ``mean``, ``variance`` (hence ``stddev``) and
    ``entropy()`` that the generic ``TransformedDistribution`` does not provide.

    Build it as ``ScaledBeta(Beta(alpha, beta), AffineTransform(low, scale))``.
    """

    @property
    def mean(self) -> torch.Tensor:
        transform = self.transforms[0]
        return transform.loc + transform.scale * self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        return self.transforms[0].scale ** 2 * self.base_dist.variance

    def entropy(self) -> torch.Tensor:
        return self.base_dist.entropy() + torch.as_tensor(self.transforms[0].scale).log()


def beta_bounds(model: Any, mixin: str) -> Bounds:
    """``(low, high, high - low, log(high - low))`` (A,) float32 tensors of the model's Box action space.

    The range and its log are computed in float64 before the cast.

    Raises:
        ValueError: the action space is not a gymnasium Box, or a dimension has an infinite bound or
            ``high <= low``.
    """
    space = model.action_space
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(
            f"{mixin} needs a gymnasium Box action space with finite bounds, got {type(space).__name__} ({space!r})"
        )
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high) & (high > low))).tolist()
    if bad:
        raise ValueError(
            f"{mixin} needs finite Box bounds with low < high in every dimension, got low={low.tolist()} "
            f"high={high.tolist()} (bad dimensions: {bad})"
        )
    scale = high - low
    return tuple(
        torch.as_tensor(v, dtype=torch.float32, device=model.device) for v in (low, high, scale, np.log(scale))
    )


def _bounds_on(entry: Any, device: torch.device) -> Bounds:
    """``entry.bounds`` on ``device`` (moved once if the model changed device)."""
    bounds = entry.bounds
    if bounds[0].device != device:
        bounds = entry.bounds = tuple(t.to(device) for t in bounds)
    return bounds
