"""PyTorch agent models: the base ``Model`` and one mixin per behaviour."""

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "mixrl.models.torch needs PyTorch: install torch first, then the extra: pip install 'mixrl[torch]'"
    ) from error

from mixrl.models.torch.base import Model
from mixrl.models.torch.beta import BetaMixin
from mixrl.models.torch.categorical import CategoricalMixin
from mixrl.models.torch.deterministic import DeterministicMixin
from mixrl.models.torch.gaussian import GaussianMixin
from mixrl.models.torch.multicategorical import MultiCategoricalMixin
from mixrl.models.torch.multivariate_gaussian import MultivariateGaussianMixin
from mixrl.models.torch.tabular import TabularMixin

__all__ = [
    "BetaMixin",
    "Model",
    "CategoricalMixin",
    "DeterministicMixin",
    "GaussianMixin",
    "MultiCategoricalMixin",
    "MultivariateGaussianMixin",
    "TabularMixin",
]
