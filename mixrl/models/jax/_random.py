"""Random samples for the base model: ``random_act`` actions and ``init_state_dict``'s default inputs."""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from mixrl.utils.spaces.jax import compute_space_size, flatten_tensorized_space, sample_space


def generator(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from the words of a PRNG key."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key).ravel().tolist())


def uniform_actions(rng: np.random.Generator, space: gymnasium.Space, batch: int) -> np.ndarray:
    """``batch`` uniformly random flat actions of ``space``.

    Returns:
        Box: (batch, size) with the space's dtype, each dimension in its own ``[low, high]``. Discrete:
        (batch, 1) in ``start .. start + n - 1``. MultiDiscrete, MultiBinary, Tuple, Dict: flattened samples.

    Raises:
        ValueError: a Box dimension is unbounded.
        NotImplementedError: ``space`` is not a gymnasium space.
    """
    if isinstance(space, gymnasium.spaces.Discrete):
        start = int(space.start)
        return rng.integers(start, start + int(space.n), size=(batch, 1), dtype=space.dtype)
    if isinstance(space, gymnasium.spaces.Box):
        low = np.asarray(space.low, dtype=np.float64).reshape(-1)
        high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        unbounded = np.flatnonzero(~np.isfinite(low) | ~np.isfinite(high)).tolist()
        if unbounded:
            raise ValueError(
                f"random_act needs a bounded Box action space: dimensions {unbounded} have infinite bounds "
                "(give the Box finite low/high or sample actions yourself)"
            )
        return rng.uniform(low, high, size=(batch, low.size)).astype(space.dtype)
    if isinstance(space, gymnasium.spaces.Space):
        sample = sample_space(space, batch_size=batch, seed=int(rng.integers(2**31)), _jax=False)
        return flatten_tensorized_space(sample, _jax=False)
    raise NotImplementedError(f"random_act needs a gymnasium action space, got {type(space).__name__}")


def sample_inputs(model: Any) -> dict[str, jax.Array]:
    """One flattened sample of each space as ``"states"`` and ``"taken_actions"`` (zeros for size-only spaces)."""
    inputs = {}
    for name, space in (("states", model.observation_space), ("taken_actions", model.action_space)):
        if isinstance(space, gymnasium.spaces.Space):
            inputs[name] = flatten_tensorized_space(sample_space(space, backend="native", device=model.device))
        elif space is not None:
            inputs[name] = jnp.zeros((1, compute_space_size(space)))
    return inputs
