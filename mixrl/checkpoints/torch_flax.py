"""Convert parameters between a torch state dict and a Flax parameter tree of the same architecture.

Layouts: a ``torch.nn.Linear`` weight ``(out, in)`` is a Flax ``Dense`` kernel ``(in, out)``; a ``ConvNd``
weight ``(out, in, *spatial)`` (e.g. ``(O, I, H, W)``) is a Flax ``Conv`` kernel ``(*spatial, in, out)``
(``HWIO``); a LayerNorm ``weight`` is a Flax ``scale``; biases and every other tensor (e.g.
``log_std_parameter``) are copied as they are. Layers are paired by name where both sides use the same
attribute names, else in definition order with shape checks (:mod:`mixrl.checkpoints.pairing`). The tree
helpers work on NumPy arrays and need no torch; torch is imported by the functions that make tensors.

Limits: grouped or transposed convolutions are not converted, and a ``Dense`` layer that follows a
flattened convolution sees its inputs in another order (torch flattens ``C, H, W``, Flax ``H, W, C``):
such a torch network must permute to channels-last before flattening (or pool) for outputs to agree.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mixrl._logging import logger
from mixrl.checkpoints.pairing import FlaxLeaf, Path, flax_slash_path, pair_entries

if TYPE_CHECKING:
    import torch


def is_flax_tree(obj: Any) -> bool:
    """A nested mapping (a Flax parameter tree) rather than a flat torch state dict."""
    return isinstance(obj, Mapping) and any(isinstance(value, Mapping) for value in obj.values())


def split_params(tree: Mapping[str, Any]) -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]:
    """The ``"params"`` collection of ``tree`` and a function putting a new one back in its place.

    ``tree`` may be a model's whole variables (``model.state_dict.params`` = ``{"params": {...}}``, other
    collections are kept) or the parameter tree itself.
    """
    if isinstance(tree.get("params"), Mapping):
        outer = dict(tree)
        return dict(tree["params"]), lambda inner: {**outer, "params": inner}
    return dict(tree), lambda inner: inner


def flax_leaves(inner: Mapping[str, Any], prefix: Path = ()) -> list[tuple[FlaxLeaf, Any]]:
    """Every leaf of a parameter tree with its :class:`FlaxLeaf` description, depth first in dict order."""
    leaves = []
    for key, value in inner.items():
        if isinstance(value, Mapping):
            leaves += flax_leaves(value, (*prefix, str(key)))
        else:
            leaves.append((FlaxLeaf((*prefix, str(key)), tuple(np.shape(value))), value))
    return leaves


def to_flax_layout(array: np.ndarray, leaf: FlaxLeaf) -> np.ndarray:
    """A torch-layout array as the Flax leaf: kernels ``(out, in, *spatial)`` -> ``(*spatial, in, out)``."""
    return np.transpose(array, (*range(2, array.ndim), 1, 0)) if leaf.is_kernel else array


def to_torch_layout(array: np.ndarray, leaf: FlaxLeaf) -> np.ndarray:
    """A Flax leaf in torch layout: kernels ``(*spatial, in, out)`` -> ``(out, in, *spatial)``."""
    n = array.ndim
    return np.transpose(array, (n - 1, n - 2, *range(n - 2))) if leaf.is_kernel else array


def replace_leaves(inner: Mapping[str, Any], new: Mapping[Path, Any], prefix: Path = ()) -> dict[str, Any]:
    """``inner`` with the leaves at the paths of ``new`` replaced (the structure and key order are kept)."""
    out = {}
    for key, value in inner.items():
        path = (*prefix, str(key))
        out[key] = replace_leaves(value, new, path) if isinstance(value, Mapping) else new.get(path, value)
    return out


def is_tensor(value: Any) -> bool:
    """``value`` is a ``torch.Tensor`` (never imports torch: without it imported, nothing is a tensor)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def as_numpy(value: Any) -> np.ndarray:
    """A torch tensor (:func:`tensor_to_numpy`) or any array-like as a NumPy array."""
    return tensor_to_numpy(value) if is_tensor(value) else np.asarray(value)


def tensor_to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU NumPy copy of ``tensor`` (bfloat16 and other types NumPy lacks go through float32)."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float16, torch.float32, torch.float64):
        tensor = tensor.float()
    return tensor.numpy()


def numpy_to_tensor(array: Any) -> torch.Tensor:
    """A torch tensor of a NumPy/JAX array (types torch lacks, e.g. ml_dtypes bfloat16, go through float32)."""
    import torch

    array = np.array(array, copy=True)  # writable and owned: JAX arrays are read-only views
    try:
        return torch.from_numpy(array)
    except TypeError:
        return torch.from_numpy(array.astype(np.float32))


def torch_to_flax(
    state_dict: Mapping[str, torch.Tensor],
    params_template: Mapping[str, Any],
    name_map: Mapping[str, str] | None = None,
) -> Any:
    """Convert a torch state dict into a Flax parameter tree shaped like ``params_template``.

    Args:
        state_dict: names to tensors of the torch model, in definition order (``module.state_dict()``).
        params_template: the Flax model's parameters: ``model.state_dict.params`` (``{"params": {...}}``)
            or the bare tree; only structure, shapes and dtypes are used (``jax.eval_shape(module.init,
            ...)`` gives such a template without computing anything).
        name_map: Flax leaf path (``"Dense_0/kernel"``) -> torch name, for pairs the order cannot find.

    Returns:
        a tree with the structure of ``params_template`` (other collections kept) holding the torch
        values as JAX arrays of the template's dtypes; Dense kernels are ``weight.T``, Conv kernels
        ``weight`` permuted to ``(*spatial, in, out)``.

    Raises:
        ValueError: an entry is not a tensor, or the two models do not pair (numbers of layers, shapes;
            the message lists every mismatch).
    """
    import jax.numpy as jnp

    others = [name for name, value in state_dict.items() if not is_tensor(value)]
    if others:
        raise ValueError(f"state_dict entries must be tensors, got non-tensors for {others}")
    inner, rebuild = split_params(params_template)
    leaves = flax_leaves(inner)
    pairs = pair_entries(
        [(name, tuple(value.shape)) for name, value in state_dict.items()], [leaf for leaf, _ in leaves], name_map
    )
    described = {leaf.path: (leaf, template) for leaf, template in leaves}
    new = {}
    for torch_name, path in pairs.items():
        leaf, template = described[path]
        array = to_flax_layout(tensor_to_numpy(state_dict[torch_name]), leaf)
        new[path] = jnp.asarray(array, dtype=jnp.result_type(template))
    return rebuild(replace_leaves(inner, new))


def flax_to_torch(
    params: Mapping[str, Any],
    state_dict_template: Mapping[str, torch.Tensor],
    name_map: Mapping[str, str] | None = None,
) -> dict[str, torch.Tensor]:
    """Convert a Flax parameter tree into a torch state dict shaped like ``state_dict_template``.

    Args:
        params: the Flax model's parameters (``{"params": {...}}`` or the bare tree).
        state_dict_template: the torch model's ``state_dict()``: names (in definition order), shapes,
            dtypes and devices of the result.
        name_map: Flax leaf path (``"Dense_0/kernel"``) -> torch name, for pairs the order cannot find.

    Returns:
        names to tensors in the template's order, dtypes and devices, ready for ``load_state_dict``.

    Raises:
        ValueError: the two models do not pair (the message lists every mismatch).
    """
    inner, _ = split_params(params)
    leaves = flax_leaves(inner)
    template = dict(state_dict_template)
    pairs = pair_entries(
        [(name, tuple(value.shape)) for name, value in template.items()], [leaf for leaf, _ in leaves], name_map
    )
    values = {leaf.path: (leaf, value) for leaf, value in leaves}
    result = {}
    for name, reference in template.items():
        leaf, value = values[pairs[name]]
        tensor = numpy_to_tensor(to_torch_layout(np.asarray(value), leaf))
        result[name] = tensor.to(dtype=reference.dtype, device=reference.device)
    return result


def numpy_view(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every leaf of a Flax tree as a torch-layout NumPy array under its torch-style name (``Dense_0.weight``).

    Raises:
        ValueError: two leaves get the same torch-style name.
    """
    inner, _ = split_params(tree)
    view: dict[str, np.ndarray] = {}
    for leaf, value in flax_leaves(inner):
        if leaf.view_name in view:
            raise ValueError(f"Flax leaf {flax_slash_path(leaf.path)!r}: torch-style name {leaf.view_name!r} is taken")
        view[leaf.view_name] = to_torch_layout(np.asarray(value), leaf)
    return view


def torch_view(tree: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """:func:`numpy_view` as torch tensors.

    Raises:
        ValueError: two leaves get the same torch-style name.
    """
    return {name: numpy_to_tensor(array) for name, array in numpy_view(tree).items()}


def flax_as_torch_source(tree: Mapping[str, Any], state_dict_template: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """A Flax tree as a ``migrate`` source for a torch model.

    When the tree pairs with the model layer by layer (:func:`flax_to_torch`), the result uses the model's
    own names (so every entry maps to itself); otherwise the torch-style view names of :func:`torch_view`,
    to be matched by shape or ``name_map``.
    """
    try:
        return flax_to_torch(tree, state_dict_template)
    except ValueError as error:
        logger.info(f"Flax source: no layer-by-layer pairing with the model ({error}); using torch-style names")
        return torch_view(tree)
