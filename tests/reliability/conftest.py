"""Helpers of the reliability suite: tiny models and a bit-exact snapshot of their weights."""

import gymnasium
import pytest
import torch

from ..models.torch.models import GaussianPolicy  # noqa: F401


@pytest.fixture
def box_obs():
    return gymnasium.spaces.Box(-1.0, 1.0, (5,))


@pytest.fixture
def box_act():
    return gymnasium.spaces.Box(-1.0, 1.0, (3,))


def torch_bytes(model: torch.nn.Module) -> dict[str, bytes]:
    """Every parameter and buffer of ``model`` as raw bytes (bit-exact comparison, NaNs included)."""
    return {
        name: value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        for name, value in model.state_dict().items()
    }


def jax_bytes(model) -> dict[str, bytes]:
    """Every leaf of a JAX model's ``state_dict.params`` as raw bytes, by path."""
    import jax
    import numpy as np

    leaves = jax.tree_util.tree_leaves_with_path(model.state_dict.params)
    return {jax.tree_util.keystr(path): np.asarray(leaf).tobytes() for path, leaf in leaves}
