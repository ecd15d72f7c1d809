"""The tiny torch models (``models.py``), importable as ``from .conftest import GaussianPolicy``."""

from .models import (  # noqa: F401
    CategoricalPolicy,
    DeterministicPolicy,
    GaussianPolicy,
    MultiCategoricalPolicy,
    MultivariateGaussianPolicy,
)
