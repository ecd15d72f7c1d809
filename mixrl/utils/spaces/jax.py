"""Space utilities for JAX: ``jax.Array``s with a leading batch dimension.

Same names and semantics as :mod:`mixrl.utils.spaces.torch`. Functions producing arrays take the private
keyword ``_jax``: ``True`` (default) returns ``jax.Array``s, ``False`` returns NumPy arrays.
Shapes (``B`` is the batch size): Box ``(B, *shape)``, Discrete ``(B, 1)``, MultiDiscrete ``(B, *nvec.shape)``,
MultiBinary ``(B, *shape)``; Tuple -> tuple, Dict -> dict. Discrete values keep ``start``.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from mixrl._config import config
from mixrl.utils.spaces import _common
from mixrl.utils.spaces._common import SpaceLike, compute_space_size, convert_gym_space

__all__ = [
    "compute_space_size",
    "convert_gym_space",
    "flatten_tensorized_space",
    "sample_space",
    "tensorize_space",
    "unflatten_tensorized_space",
    "untensorize_space",
]

_ARRAYS = (jax.Array, np.ndarray)


def _device(device: str | jax.Device | None) -> jax.Device:
    return config.jax.device if device is None else config.jax.parse_device(device)


def _as_output(x: Any, _jax: bool) -> Any:
    return jnp.asarray(x) if _jax else np.asarray(x)


def tensorize_space(
    space: gymnasium.Space | None, x: Any, *, device: str | jax.Device | None = None, _jax: bool = True
) -> Any:
    """Convert a space sample (arrays, numbers, lists, nested tuple/dict) to batched arrays.

    NumPy/Python values become float32 (Box) or int32 (other spaces) arrays, placed on ``device``
    (``config.jax.device`` when ``None``); an existing ``jax.Array`` is only reshaped (dtype kept).

    Returns:
        Box ``(-1, *shape)``, Discrete ``(-1, 1)``, MultiDiscrete ``(-1, *nvec.shape)``, MultiBinary ``(-1, *shape)``;
        a tuple for Tuple, a dict for Dict. ``None`` if ``space`` or ``x`` is ``None``.

    Raises:
        ValueError: ``x`` does not match ``space``, or ``space`` is unsupported.
    """
    if space is None or x is None:
        return None
    target = _device(device) if _jax else None

    def leaf(sub: gymnasium.Space, value: Any) -> Any:
        if isinstance(value, jax.Array):
            value = value.reshape(-1, *_common.leaf_shape(sub))
            return (value if device is None else jax.device_put(value, target)) if _jax else np.asarray(value)
        value = _common.numpy_leaf(sub, value)
        return jax.device_put(value, target) if _jax else value

    return _common.map_structure(space, x, leaf)


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, _ARRAYS):
        return np.asarray(x)
    raise ValueError(f"cannot untensorize a {type(x).__name__}: expected a jax.Array or a NumPy array")


def untensorize_space(space: gymnasium.Space | None, x: Any, *, squeeze_batch_dimension: bool = True) -> Any:
    """Convert batched ``jax.Array``s (or NumPy arrays) back to a space sample of NumPy values with the space's dtype.

    Returns:
        Box ``(-1, *shape)``, Discrete ``(-1, 1)``, MultiDiscrete ``(-1, *nvec.shape)``, MultiBinary ``(-1, *shape)``.
        With ``squeeze_batch_dimension`` and a batch of 1: the un-batched value (a Python int for Discrete).
        A tuple for Tuple, a dict for Dict; ``None`` if ``space`` or ``x`` is ``None``.

    Raises:
        ValueError: ``x`` does not match ``space``, or ``space`` is unsupported.
    """
    if space is None or x is None:
        return None

    def leaf(sub: gymnasium.Space, value: Any) -> Any:
        return _common.untensorize_leaf(sub, _to_numpy(value), squeeze_batch_dimension=squeeze_batch_dimension)

    return _common.map_structure(space, x, leaf)


def flatten_tensorized_space(x: Any, *, _jax: bool = True) -> Any:
    """Flatten an array to ``(B, -1)`` (1-D -> ``(1, -1)``), or concatenate a tuple/list/dict of them.

    Items are concatenated along the last axis in order (dicts in sorted key order) with JAX
    (or, with ``_jax=False``, NumPy) type promotion. A 2-D array of the output kind is returned as is.

    Raises:
        ValueError: ``x`` (or an item of it) is not an array, tuple, list or dict.
    """
    if isinstance(x, jax.Array if _jax else np.ndarray) and x.ndim == 2:
        return x
    if x is None:
        return None
    concatenate = jnp.concatenate if _jax else np.concatenate
    flat = _common.flatten(x, lambda item: isinstance(item, _ARRAYS), lambda items: concatenate(items, axis=-1))
    return _as_output(flat, _jax)


def unflatten_tensorized_space(space: SpaceLike | None, x: Any, *, _jax: bool = True) -> Any:
    """Split a flat ``(B, width)`` array into the structure of ``space``; the array's dtype is kept.

    Returns:
        Box ``(-1, *shape)``, Discrete ``(-1, 1)``, MultiDiscrete ``(-1, *nvec.shape)``, MultiBinary ``(-1, *shape)``,
        int ``n`` ``(-1, n)``, sequence of ints ``(-1, *shape)``; for Tuple a tuple and for Dict a dict (sorted keys)
        of slices of each sub-space's occupied width. ``None`` if ``space`` or ``x`` is ``None``.

    Raises:
        ValueError: ``x`` is not an array, or its width is not the occupied size of ``space``.
    """
    if space is None or x is None:
        return None
    if not isinstance(x, _ARRAYS):
        raise ValueError(f"cannot unflatten a {type(x).__name__}: expected a jax.Array or a NumPy array")
    return _common.unflatten(space, _as_output(x, _jax))


def sample_space(
    space: gymnasium.Space | None,
    *,
    batch_size: int = 1,
    backend: str = "numpy",
    device: str | jax.Device | None = None,
    seed: int | None = None,
    _jax: bool = True,
) -> Any:
    """Sample a random batch from ``space`` using gymnasium batching.

    Args:
        batch_size: number of samples ``B``.
        backend: ``"numpy"`` (NumPy arrays) or ``"native"`` (``jax.Array``s on ``device``, NumPy if ``_jax=False``).
        seed: seed for reproducible samples; ``None`` draws fresh entropy. The caller's space is never reseeded.

    Returns:
        Box ``(B, *shape)`` with the space dtype, Discrete ``(B, 1)``, MultiDiscrete ``(B, *nvec.shape)``,
        MultiBinary ``(B, *shape)``; a tuple for Tuple, a dict for Dict. ``None`` if ``space`` is ``None``.

    Raises:
        ValueError: unknown ``backend``, an int/sequence space, or an unsupported space.
    """
    if space is None:
        return None
    sample = _common.sample_numpy(space, batch_size=batch_size, backend=backend, seed=seed)
    if backend == "numpy" or not _jax:
        return sample
    target = _device(device)
    return _common.map_structure(space, sample, lambda _, value: jax.device_put(value, target))
