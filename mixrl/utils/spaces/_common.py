"""Framework-free space logic (NumPy + gymnasium) shared by the torch and jax backends.

The generic helpers (:func:`flatten`, :func:`unflatten`, :func:`map_structure`) only use
``.ndim``, ``.shape``, slicing and ``.reshape``, so they work on NumPy, torch and JAX arrays alike.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

SpaceLike = gymnasium.Space | int | Sequence[int]

LEAF_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
SAMPLE_BACKENDS = ("numpy", "native")
_SUPPORTED = "gymnasium Box, Discrete, MultiDiscrete, MultiBinary, Tuple or Dict, an int, or a sequence of ints"
_GYM_CLASSES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Tuple", "Dict")


def _unsupported(space: Any) -> ValueError:
    return ValueError(f"unsupported space {type(space).__name__}: expected a {_SUPPORTED}")


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} ({value!r})")
    if value < 0:
        raise ValueError(f"{what} must be non-negative, got {value}")
    return int(value)


def sorted_keys(space: spaces.Dict | Mapping) -> list:
    """The key order used everywhere for Dict spaces and dict values: sorted keys."""
    return sorted(space.keys())


def children(space: spaces.Tuple | spaces.Dict) -> list[tuple[Any, gymnasium.Space]]:
    """``(index or key, sub-space)`` pairs of a Tuple (in order) or a Dict (in sorted key order)."""
    if isinstance(space, spaces.Tuple):
        return list(enumerate(space.spaces))
    return [(key, space[key]) for key in sorted_keys(space)]


def compute_space_size(space: SpaceLike | None, *, occupied_size: bool = False) -> int:
    """Number of elements of ``space`` (or, with ``occupied_size``, its width in a flat tensor).

    Returns:
        A Python int: None 0; int ``n`` n; sequence of ints their product; Box and MultiBinary ``prod(shape)``;
        Discrete ``n`` (occupied 1); MultiDiscrete ``sum(nvec)`` (occupied ``nvec.size``); Tuple/Dict the sum.

    Raises:
        TypeError: ``space`` is a float or a bool (or a sequence holding one).
        ValueError: ``space`` is of an unsupported type.
    """
    if space is None:
        return 0
    if isinstance(space, (bool, int, float, np.bool_, np.number)):
        return _as_int(space, "an int space")
    if isinstance(space, (list, tuple)):
        return math.prod(_as_int(dim, "a sequence space's dimension") for dim in space)
    if isinstance(space, spaces.Discrete):
        return 1 if occupied_size else int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return math.prod(space.nvec.shape) if occupied_size else int(space.nvec.sum())
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return math.prod(space.shape)
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        return sum(compute_space_size(sub, occupied_size=occupied_size) for _, sub in children(space))
    raise _unsupported(space)


def leaf_shape(space: SpaceLike) -> tuple[int, ...]:
    """Per-sample shape of a non-composite space in a batch: Discrete -> ``(1,)``, int ``n`` -> ``(n,)``."""
    if isinstance(space, spaces.Discrete):
        return (1,)
    if isinstance(space, spaces.MultiDiscrete):
        return space.nvec.shape
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return space.shape
    if isinstance(space, (list, tuple)):
        return tuple(_as_int(dim, "a sequence space's dimension") for dim in space)
    return (compute_space_size(space),)


@overload
def convert_gym_space(space: None, *, squeeze_batch_dimension: bool = False) -> None: ...
@overload
def convert_gym_space(space: Any, *, squeeze_batch_dimension: bool = False) -> gymnasium.Space: ...
def convert_gym_space(space: Any, *, squeeze_batch_dimension: bool = False) -> gymnasium.Space | None:
    """Convert an OpenAI ``gym`` space to its gymnasium equivalent (gymnasium spaces pass through).

    Args:
        space: ``gym.spaces`` Box, Discrete, MultiDiscrete, MultiBinary, Tuple or Dict, or a gymnasium space.
        squeeze_batch_dimension: drop the first (batch) dimension of Box spaces, also inside Tuple/Dict.

    Raises:
        ValueError: ``space`` is neither a supported ``gym`` space nor a gymnasium space.
    """
    if space is None or isinstance(space, gymnasium.Space):
        return space
    name = type(space).__name__
    if not type(space).__module__.startswith("gym.") or name not in _GYM_CLASSES:
        raise ValueError(f"unsupported space {name}: expected a gym/gymnasium space among {_GYM_CLASSES}")
    if name == "Box":
        if squeeze_batch_dimension:
            return spaces.Box(low=space.low[0], high=space.high[0], shape=space.shape[1:], dtype=space.dtype)
        return spaces.Box(low=space.low, high=space.high, shape=space.shape, dtype=space.dtype)
    if name == "Discrete":
        return spaces.Discrete(n=int(space.n), start=int(getattr(space, "start", 0)))
    if name == "MultiDiscrete":
        return spaces.MultiDiscrete(nvec=space.nvec)
    if name == "MultiBinary":
        return spaces.MultiBinary(n=space.n)
    options = {"squeeze_batch_dimension": squeeze_batch_dimension}
    if name == "Tuple":
        return spaces.Tuple(tuple(convert_gym_space(sub, **options) for sub in space.spaces))
    return spaces.Dict({key: convert_gym_space(sub, **options) for key, sub in space.spaces.items()})


def map_structure(space: gymnasium.Space, x: Any, leaf: Callable[[gymnasium.Space, Any], Any]) -> Any:
    """Apply ``leaf(leaf_space, value)`` through the Tuple/Dict structure of ``space`` and ``x``.

    Returns:
        ``leaf``'s result for a leaf space, a tuple for a Tuple space, a dict (sorted keys) for a Dict space.

    Raises:
        ValueError: ``x`` does not match the structure of ``space``, or ``space`` is unsupported.
    """
    if isinstance(space, spaces.Tuple):
        if not isinstance(x, (tuple, list)) or len(x) != len(space.spaces):
            received = f"{len(x)}-item {type(x).__name__}" if isinstance(x, (tuple, list)) else type(x).__name__
            raise ValueError(f"expected a tuple of {len(space.spaces)} values for a Tuple space, got {received}")
        return tuple(map_structure(sub, value, leaf) for sub, value in zip(space.spaces, x, strict=True))
    if isinstance(space, spaces.Dict):
        if not isinstance(x, Mapping):
            raise ValueError(f"expected a dict for a Dict space, got {type(x).__name__}")
        missing = [key for key in space if key not in x]
        if missing:
            raise ValueError(f"expected a dict with the keys {sorted_keys(space)}, got keys {list(x.keys())}")
        return {key: map_structure(sub, x[key], leaf) for key, sub in children(space)}
    if isinstance(space, LEAF_SPACES):
        return leaf(space, x)
    raise _unsupported(space)


def numpy_leaf(space: gymnasium.Space, x: Any) -> np.ndarray:
    """A leaf sample as a batched NumPy array: Box -> float32 ``(-1, *shape)``, others -> int32 ``(-1, *shape)``.

    Raises:
        ValueError: ``x`` is not a NumPy array, a number or a list/tuple.
    """
    if not isinstance(x, (np.ndarray, np.generic, int, float, list, tuple)):
        raise ValueError(
            f"cannot tensorize a {type(x).__name__} for a {type(space).__name__} space: "
            "expected an array, a number or a list"
        )
    dtype = np.float32 if isinstance(space, spaces.Box) else np.int32
    return np.asarray(x, dtype=dtype).reshape(-1, *leaf_shape(space))


def untensorize_leaf(space: gymnasium.Space, array: np.ndarray, *, squeeze_batch_dimension: bool) -> Any:
    """A batched NumPy leaf as a space sample with the space's dtype (a Python int for a single Discrete)."""
    if array.dtype.name == "bfloat16":
        array = array.astype(np.float32)
    array = array.reshape(-1, *leaf_shape(space)).astype(space.dtype, copy=False)
    if squeeze_batch_dimension and array.shape[0] == 1:
        return int(array[0, 0]) if isinstance(space, spaces.Discrete) else array[0]
    return array


def flatten(x: Any, is_array: Callable[[Any], bool], concatenate: Callable[[list], Any]) -> Any:
    """Flatten an array to ``(batch, -1)`` (1-D -> ``(1, -1)``), or a tuple/list/dict (sorted keys) of them.

    Raises:
        ValueError: ``x`` (or an item of it) is not an array, tuple, list or dict, or is empty.
    """
    if is_array(x):
        return x if x.ndim == 2 else x.reshape(x.shape[0] if x.ndim > 1 else 1, -1)
    if isinstance(x, (tuple, list)):
        items = list(x)
    elif isinstance(x, Mapping):
        items = [x[key] for key in sorted_keys(x)]
    else:
        raise ValueError(f"cannot flatten a {type(x).__name__}: expected an array, or a tuple/list/dict of arrays")
    if not items:
        raise ValueError(f"cannot flatten an empty {type(x).__name__}")
    return concatenate([flatten(item, is_array, concatenate) for item in items])


def unflatten(space: SpaceLike, x: Any) -> Any:
    """Split a flat ``(batch, width)`` array back into the structure of ``space`` (see the backend docs).

    Raises:
        ValueError: the width of ``x`` is not the occupied size of ``space``.
    """
    width = compute_space_size(space, occupied_size=True)
    if x.ndim < 1 or x.shape[-1] != width:
        received = x.shape[-1] if x.ndim else "a scalar"
        raise ValueError(f"cannot unflatten width {received} into {type(space).__name__}: expected width {width}")
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        parts, start = {}, 0
        for key, sub in children(space):
            stop = start + compute_space_size(sub, occupied_size=True)
            parts[key] = unflatten(sub, x[..., start:stop])
            start = stop
        return tuple(parts.values()) if isinstance(space, spaces.Tuple) else parts
    return x.reshape(-1, *leaf_shape(space))


def sample_numpy(space: gymnasium.Space, *, batch_size: int, backend: str, seed: int | None) -> Any:
    """Sample a batch with gymnasium batching, as NumPy arrays shaped ``(batch_size, *leaf_shape)``.

    The caller's space is deep-copied, so its random state is neither used nor changed.

    Raises:
        ValueError: unknown ``backend``, ``batch_size < 1``, an int/sequence space, or an unsupported space.
    """
    if backend not in SAMPLE_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {SAMPLE_BACKENDS}")
    if _as_int(batch_size, "batch_size") < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(space, (int, np.integer, list, tuple)):
        raise ValueError(
            f"cannot sample from {space!r}: int and sequence-of-int spaces only give a size; "
            "pass a gymnasium space instead, e.g. Box(-np.inf, np.inf, shape)"
        )
    compute_space_size(space)  # raises for unsupported (sub-)spaces
    batched = batch_space(copy.deepcopy(space), n=batch_size)
    batched.seed(seed)  # None: fresh OS entropy

    def reshape(sub: gymnasium.Space, value: Any) -> np.ndarray:
        return np.asarray(value).reshape(batch_size, *leaf_shape(sub))

    return map_structure(space, batched.sample(), reshape)
