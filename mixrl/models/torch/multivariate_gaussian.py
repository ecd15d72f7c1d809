"""``MultivariateGaussianMixin``: a multivariate normal policy with diagonal covariance over a Box action space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mixrl.models import _roles
from mixrl.models.torch._head import ActOutput, Head
from mixrl.models.torch.distributions import REDUCTIONS, multivariate_gaussian_entropy
from mixrl.models.torch.gaussian import GaussianSettings, diagonal_gaussian_act, gaussian_settings, last_log_std


class MultivariateGaussianMixin(Head):
    """Multivariate Gaussian behaviour: ``compute`` returns ``(mean_actions, log_std, outputs)``.

    The distribution is ``MultivariateNormal(mean_actions, scale_tril=diag(exp(log_std)))``: ``exp(log_std)``
    is the standard deviation of each dimension (skrl used it as the variance). ``log_std`` is
    (num_actions,) (state-independent) or (batch, num_actions) (state-dependent).

    Args:
        clip_actions: clamp sampled actions to the Box bounds. The log-probability of a clipped action is
            the density of the unclipped Gaussian there (no boundary mass correction).
        clip_log_std: clamp ``log_std`` to ``[min_log_std, max_log_std]``.
        min_log_std: lower clamp bound.
        max_log_std: upper clamp bound.
        role: role these settings belong to.

    ``act`` returns ``(actions (batch, A), log_prob (batch, 1), outputs)`` with these ``outputs`` keys, all
    (batch, A) (a state-independent ``log_std`` is broadcast over the batch, as a view): ``"mean_actions"``,
    ``"log_std"`` (after the clamp) and ``"stddev"`` ``= exp(log_std)``, the standard deviation of each
    dimension.

    Raises:
        ValueError: ``clip_actions`` without a gymnasium Box action space.
    """

    def __init__(
        self,
        clip_actions: bool = False,
        clip_log_std: bool = True,
        min_log_std: float = -20,
        max_log_std: float = 2,
        role: str = "",
    ) -> None:
        _roles.register(
            self,
            GaussianSettings(
                role=role,
                head=MultivariateGaussianMixin,
                reduce=REDUCTIONS["sum"],
                **gaussian_settings(
                    self, "MultivariateGaussianMixin", clip_actions, clip_log_std, min_log_std, max_log_std
                ),
            ),
        )

    def _act(self, settings: GaussianSettings, inputs: Mapping[str, Any], role: str) -> ActOutput:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``."""
        return diagonal_gaussian_act(self, settings, inputs, role)

    def _get_entropy(self, settings: GaussianSettings) -> torch.Tensor:
        """Entropy (batch,) of the last distribution; ``0.0`` before any ``act``."""
        if settings.last is None:
            return torch.tensor(0.0, device=self.device)
        mean_actions, log_std = settings.last
        return multivariate_gaussian_entropy(log_std).expand(mean_actions.shape[:-1])

    def _get_log_std(self, settings: GaussianSettings) -> torch.Tensor:
        """Log standard deviation (batch, num_actions) of the last distribution (after clamping).

        Raises:
            RuntimeError: no ``act`` yet for this role.
        """
        return last_log_std(settings)

    def _distribution(self, settings: GaussianSettings) -> torch.distributions.MultivariateNormal | None:
        """The last distribution as a ``torch.distributions.MultivariateNormal`` (``None`` before any ``act``).

        Its ``scale_tril`` is ``diag(exp(log_std))`` broadcast to (batch, A, A).
        """
        if settings.last is None:
            return None
        mean_actions, log_std = settings.last
        scale_tril = torch.diag_embed(log_std.exp().expand_as(mean_actions))
        return torch.distributions.MultivariateNormal(mean_actions, scale_tril=scale_tril, validate_args=False)
