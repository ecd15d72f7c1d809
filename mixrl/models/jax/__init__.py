"""JAX/Flax agent models: the base ``Model``, its ``StateDict`` and one mixin per behaviour."""

try:
    import flax  # noqa: F401
    import jax  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without jax/flax
    raise ImportError(
        "mixrl.models.jax needs JAX and Flax: install them with the extra: pip install 'mixrl[jax]'"
    ) from error

from mixrl.models.jax.base import Model, StateDict
from mixrl.models.jax.beta import BetaMixin
from mixrl.models.jax.categorical import CategoricalMixin
from mixrl.models.jax.deterministic import DeterministicMixin
from mixrl.models.jax.gaussian import GaussianMixin
from mixrl.models.jax.multicategorical import MultiCategoricalMixin
from mixrl.models.jax.multivariate_gaussian import MultivariateGaussianMixin
from mixrl.models.jax.tabular import TabularMixin

__all__ = [
    "BetaMixin",
    "Model",
    "StateDict",
    "CategoricalMixin",
    "DeterministicMixin",
    "GaussianMixin",
    "MultiCategoricalMixin",
    "MultivariateGaussianMixin",
    "TabularMixin",
]
