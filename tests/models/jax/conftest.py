"""Helpers of the JAX-specific model tests; the tiny Flax models live in ``models.py``."""

import jax
import numpy as np
import pytest

from .models import (  # noqa: F401
    CategoricalPolicy,
    DeterministicPolicy,
    GaussianPolicy,
    MultiCategoricalPolicy,
    MultivariateGaussianPolicy,
)

N = 16


def build(cls, *args, **kwargs):
    """Construct and initialise a model."""
    model = cls(*args, **kwargs)
    model.init_state_dict("policy")
    return model


def params_of(model, *path):
    """A leaf of ``model.state_dict.params["params"]`` as a NumPy array."""
    tree = model.state_dict.params["params"]
    for name in path:
        tree = tree[name]
    return np.asarray(tree)


@pytest.fixture
def states():
    return jax.random.normal(jax.random.PRNGKey(0), (N, 5))
