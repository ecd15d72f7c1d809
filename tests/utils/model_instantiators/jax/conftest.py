"""Spaces, a per-run compilation cache and NumPy references for the JAX instantiator tests.

Networks stay tiny (hidden widths 8 and 16, 5 observations, 3 actions) so that models share their
compiled primitives; the legacy-default tests are the only wide ones.
"""

import gymnasium
import jax
import numpy as np
import pytest

from tests._jax_cache import jax_compilation_cache  # noqa: F401  (autouse fixture)

OBS, ACT = gymnasium.spaces.Box(-1.0, 1.0, (5,)), gymnasium.spaces.Box(-1.0, 1.0, (3,))


@pytest.fixture
def obs():
    return OBS


@pytest.fixture
def act():
    return ACT


def params(model) -> dict:
    """``model.state_dict.params["params"]`` with NumPy leaves."""
    return jax.tree_util.tree_map(np.asarray, model.state_dict.params["params"])


def shapes(tree) -> dict[str, tuple]:
    """``{"net_container/layers_0/kernel": (5, 8), ...}`` of a parameter tree (``state_dict.params`` or inner)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): tuple(np.shape(leaf)) for path, leaf in leaves}


def dense(x, layer) -> np.ndarray:
    """NumPy ``x @ kernel + bias`` of a Flax Dense parameter dict."""
    return np.asarray(x) @ layer["kernel"] + layer["bias"]


def relu(x) -> np.ndarray:
    return np.maximum(x, 0.0)


def close(actual, expected) -> None:
    """Float32 agreement with a NumPy reference."""
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-5, atol=1e-5)


def random_inputs(n: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 ``states`` (n, 5) and ``taken_actions`` (n, 3)."""
    rng = np.random.default_rng(seed)
    return {
        "states": rng.normal(size=(n, 5)).astype(np.float32),
        "taken_actions": rng.normal(size=(n, 3)).astype(np.float32),
    }
