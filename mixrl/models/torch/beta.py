"""``BetaMixin``: a Beta policy over a bounded continuous (Box) action space."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, cast

import gymnasium
import numpy as np
import torch
from torch.distributions.transforms import AffineTransform

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.torch._head import ActOutput, Head
from mixrl.models.torch.distributions import (
    Reduction,
    beta_entropy,
    beta_log_prob,
    beta_log_prob_of_logit,
    beta_sample,
    get_reduction,
)

# (low, high, high - low, log(high - low)), each (A,) float32
Bounds = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclasses.dataclass(eq=False, kw_only=True)
class BetaSettings(HeadSettings):
    """Settings of a Beta head for one role: the Box ``bounds`` ``(low, high, high - low, log(high - low))`` and
    the reduction of the per-dimension log-probabilities; ``last`` holds the ``(alpha, beta)`` of the last act."""

    bounds: Bounds
    reduce: Reduction


class BetaMixin(Head):
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
    ``act`` returns ``(actions (batch, A), log_prob, outputs)`` with these ``outputs`` keys, all (batch, A):
    ``"mean_actions"`` ``= low + (high - low) * alpha / (alpha + beta)`` (the mean action, for evaluation),
    ``"alpha"`` and ``"beta"`` (as returned by ``compute``) and ``"stddev"``, the standard deviation of the
    actions ``(high - low) * sqrt(alpha beta / ((alpha + beta)^2 (alpha + beta + 1)))``.

    Raises:
        ValueError: (at construction) the action space is not a gymnasium Box with finite ``low < high``.
    """

    def __init__(self, reduction: Literal["mean", "sum", "prod", "none"] = "sum", role: str = "") -> None:
        _roles.register(
            self,
            BetaSettings(
                role=role, head=BetaMixin, bounds=beta_bounds(self, "BetaMixin"), reduce=get_reduction(reduction)
            ),
        )

    def _act(self, settings: BetaSettings, inputs: Mapping[str, Any], role: str) -> ActOutput:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``."""
        alpha, beta, outputs = self.compute(inputs, role)
        low, high, scale, log_scale = _bounds_on(settings, alpha.device)
        x, logit = beta_sample(alpha, beta)
        actions = torch.addcmul(low, scale, x).clamp(max=high)  # x = 1 may round a hair above high

        taken_actions = inputs.get("taken_actions")
        if taken_actions is None:
            log_prob = beta_log_prob_of_logit(alpha, beta, logit)
        else:
            log_prob = beta_log_prob(alpha, beta, (taken_actions - low) / scale)

        settings.last = (alpha, beta)
        total = alpha + beta
        outputs["mean_actions"] = torch.addcmul(low, scale, alpha / total)
        outputs["alpha"] = alpha
        outputs["beta"] = beta
        outputs["stddev"] = scale * torch.sqrt(alpha * beta / (total * total * (total + 1.0)))
        return actions, settings.reduce(log_prob - log_scale), outputs

    def _get_entropy(self, settings: BetaSettings) -> torch.Tensor:
        """Element-wise entropy (batch, num_actions) of the last (rescaled) distribution; ``0.0`` before any ``act``.

        ``entropy(Beta(alpha, beta)) + log(high - low)`` per dimension.
        """
        if settings.last is None:
            return torch.tensor(0.0, device=self.device)
        alpha, beta = settings.last
        return beta_entropy(alpha, beta) + _bounds_on(settings, alpha.device)[3]

    def _distribution(self, settings: BetaSettings) -> ScaledBeta | None:
        """The last distribution, ``Beta(alpha, beta)`` moved by ``AffineTransform(low, high - low)``.

        A :class:`ScaledBeta` (a ``torch.distributions.TransformedDistribution``), ``None`` before any ``act``.
        """
        if settings.last is None:
            return None
        alpha, beta = settings.last
        low, _, scale, _ = _bounds_on(settings, alpha.device)
        base = torch.distributions.Beta(alpha, beta, validate_args=False)
        return ScaledBeta(base, AffineTransform(low, scale), validate_args=False)


class ScaledBeta(torch.distributions.TransformedDistribution):
    """``low + scale * Beta(alpha, beta)`` with the closed-form ``mean``, ``variance`` (hence ``stddev``) and
    ``entropy()`` that the generic ``TransformedDistribution`` does not provide.

    Build it as ``ScaledBeta(Beta(alpha, beta), AffineTransform(low, scale))``.
    """

    @property
    def mean(self) -> torch.Tensor:
        affine = self._affine
        return affine.loc + affine.scale * self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        return self._affine.scale**2 * self.base_dist.variance

    def entropy(self) -> torch.Tensor:
        return self.base_dist.entropy() + torch.as_tensor(self._affine.scale).log()

    @property
    def _affine(self) -> AffineTransform:
        return cast(AffineTransform, self.transforms[0])  # the only transform, as built above


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

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.float32, device=model.device)

    return tensor(low), tensor(high), tensor(scale), tensor(np.log(scale))


def _bounds_on(settings: BetaSettings, device: torch.device) -> Bounds:
    """``settings.bounds`` on ``device`` (moved once if the model changed device)."""
    bounds = settings.bounds
    if bounds[0].device != device:
        low, high, scale, log_scale = (t.to(device) for t in bounds)
        bounds = settings.bounds = (low, high, scale, log_scale)
    return bounds
