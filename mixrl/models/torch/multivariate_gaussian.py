"""``MultivariateGaussianMixin``: a multivariate normal policy with diagonal covariance over a Box action space."""

from __future__ import annotations

from typing import Any

import torch

from mixrl.models import _roles
from mixrl.models.torch.distributions import REDUCTIONS, multivariate_gaussian_entropy
from mixrl.models.torch.gaussian import diagonal_gaussian_act, gaussian_settings, last_log_std


class MultivariateGaussianMixin:
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

    ``act`` returns ``(actions (batch, A), log_prob (batch, 1), {"mean_actions": (batch, A), ...})``.

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
        settings = gaussian_settings(
            self, "MultivariateGaussianMixin", clip_actions, clip_log_std, min_log_std, max_log_std
        )
        _roles.register(self, MultivariateGaussianMixin, role, reduce=REDUCTIONS["sum"], squash=False, **settings)

    def act(self, inputs: dict[str, Any], role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Sample actions (reparameterised) and return their log-probability, or that of ``inputs["taken_actions"]``."""
        entry = _roles.route(self, MultivariateGaussianMixin, role)
        if entry.owner is not MultivariateGaussianMixin:
            return entry.owner.act(self, inputs, role)

        return diagonal_gaussian_act(self, entry, inputs, role)

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy (batch,) of the last distribution; ``0.0`` before any ``act``."""
        entry = _roles.route(self, MultivariateGaussianMixin, role)
        if entry.owner is not MultivariateGaussianMixin:
            return _roles.delegated(entry, "get_entropy", role)(self, role)
        if entry.last is None:
            return torch.tensor(0.0, device=self.device)
        mean_actions, log_std = entry.last
        return multivariate_gaussian_entropy(log_std).expand(mean_actions.shape[:-1])

    def get_log_std(self, role: str = "") -> torch.Tensor:
        """Log standard deviation (batch, num_actions) of the last distribution (after clamping).

        Raises:
            RuntimeError: no ``act`` yet for this role.
        """
        entry = _roles.route(self, MultivariateGaussianMixin, role)
        if entry.owner is not MultivariateGaussianMixin:
            return _roles.delegated(entry, "get_log_std", role)(self, role)
        return last_log_std(entry, role)

    def distribution(self, role: str = "") -> torch.distributions.MultivariateNormal | None:
        """The last distribution as a ``torch.distributions.MultivariateNormal`` (``None`` before any ``act``).

        Its ``scale_tril`` is ``diag(exp(log_std))`` broadcast to (batch, A, A).
        """
        entry = _roles.route(self, MultivariateGaussianMixin, role)
        if entry.owner is not MultivariateGaussianMixin:
            return _roles.delegated(entry, "distribution", role)(self, role)
        if entry.last is None:
            return None
        mean_actions, log_std = entry.last
        scale_tril = torch.diag_embed(log_std.exp().expand_as(mean_actions))
        return torch.distributions.MultivariateNormal(mean_actions, scale_tril=scale_tril, validate_args=False)
