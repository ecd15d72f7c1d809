"""Space utilities for PyTorch: tensors with a leading batch dimension.

Shapes used below (``B`` is the batch size): Box ``(B, *shape)``, Discrete ``(B, 1)``,
MultiDiscrete ``(B, *nvec.shape)``, MultiBinary ``(B, *shape)``; Tuple -> tuple, Dict -> dict.
Discrete values keep their actual values (``start`` is not subtracted).
"""

from __future__ import annotations

from typing import Any, overload

import gymnasium
import numpy as np
import torch

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


def _device(device: str | torch.device | None) -> torch.device:
    return config.torch.device if device is None else config.torch.parse_device(device, validate=False)


def tensorize_space(space: gymnasium.Space | None, x: Any, *, device: str | torch.device | None = None) -> Any:
    """Convert a space sample (arrays, numbers, lists, nested tuple/dict) to batched tensors.

    NumPy/Python values become float32 (Box) or int32 (other spaces) tensors on ``device``
    (``config.torch.device`` when ``None``); an existing tensor is only reshaped (and moved when ``device`` is given).

    Returns:
        Box ``(-1, *shape)``, Discrete ``(-1, 1)``, MultiDiscrete ``(-1, *nvec.shape)``, MultiBinary ``(-1, *shape)``;
        a tuple for Tuple, a dict for Dict. ``None`` if ``space`` or ``x`` is ``None``.

    Raises:
        ValueError: ``x`` does not match ``space``, or ``space`` is unsupported.
    """
    if space is None or x is None:
        return None
    target = _device(device)

    def leaf(sub: gymnasium.Space, value: Any) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            value = value.reshape(-1, *_common.leaf_shape(sub))
            return value if device is None else value.to(target)
        return torch.as_tensor(_common.numpy_leaf(sub, value), device=target)

    return _common.map_structure(space, x, leaf)


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return (x.float() if x.dtype == torch.bfloat16 else x).detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise ValueError(f"cannot untensorize a {type(x).__name__}: expected a torch.Tensor or a NumPy array")


def untensorize_space(space: gymnasium.Space | None, x: Any, *, squeeze_batch_dimension: bool = True) -> Any:
    """Convert batched tensors back to a space sample of NumPy values with the space's dtype.

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


@overload
def flatten_tensorized_space(x: None) -> None: ...
@overload
def flatten_tensorized_space(x: Any) -> torch.Tensor: ...
def flatten_tensorized_space(x: Any) -> torch.Tensor | None:
    """Flatten a tensor to ``(B, -1)`` (1-D -> ``(1, -1)``), or concatenate a tuple/list/dict of them.

    Items are concatenated along the last axis in order (dicts in sorted key order) with torch type promotion.
    A 2-D tensor is returned as is.

    Raises:
        ValueError: ``x`` (or an item of it) is not a tensor, tuple, list or dict.
    """
    if isinstance(x, torch.Tensor) and x.ndim == 2:
        return x
    if x is None:
        return None
    return _common.flatten(x, lambda item: isinstance(item, torch.Tensor), lambda items: torch.cat(items, dim=-1))


def unflatten_tensorized_space(space: SpaceLike | None, x: torch.Tensor | None) -> Any:
    """Split a flat ``(B, width)`` tensor into the structure of ``space``; the tensor's dtype is kept.

    Returns:
        Box ``(-1, *shape)``, Discrete ``(-1, 1)``, MultiDiscrete ``(-1, *nvec.shape)``, MultiBinary ``(-1, *shape)``,
        int ``n`` ``(-1, n)``, sequence of ints ``(-1, *shape)``; for Tuple a tuple and for Dict a dict (sorted keys)
        of slices of each sub-space's occupied width. ``None`` if ``space`` or ``x`` is ``None``.

    Raises:
        ValueError: ``x`` is not a tensor, or its width is not the occupied size of ``space``.
    """
    if space is None or x is None:
        return None
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"cannot unflatten a {type(x).__name__}: expected a torch.Tensor")
    return _common.unflatten(space, x)


def sample_space(
    space: gymnasium.Space | None,
    *,
    batch_size: int = 1,
    backend: str = "numpy",
    device: str | torch.device | None = None,
    seed: int | None = None,
) -> Any:
    """Sample a random batch from ``space`` using gymnasium batching.

    Args:
        batch_size: number of samples ``B``.
        backend: ``"numpy"`` (NumPy arrays) or ``"native"`` (tensors on ``device``; ``config.torch.device`` if None).
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
    if backend == "numpy":
        return sample
    target = _device(device)
    return _common.map_structure(space, sample, lambda _, value: torch.as_tensor(value, device=target))
