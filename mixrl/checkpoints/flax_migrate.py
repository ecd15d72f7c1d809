"""``migrate`` for JAX/Flax models: import a torch state dict or checkpoint file into a Flax parameter tree.

The Flax parameters are seen in torch layout (``Dense_0/kernel`` (in, out) as ``Dense_0.weight`` (out, in),
``net_container/layers_0/kernel`` as ``net_container.0.weight``; :mod:`.pairing`), and then:

* a plain state dict (given, a ``torch.save``/``.safetensors`` file or Flax msgpack) with as many entries
  as the model, without ``name_map``, is taken for the same architecture and converted layer by layer
  (names where equal, else definition order, shapes checked: :func:`torch_to_flax`);
* otherwise (a stable-baselines3 or rl_games file, another architecture, an explicit ``name_map``) the
  torch model's algorithm applies to the view: ``name_map``, auto-mapping by shape and kind, the same
  warnings, and nothing is changed unless every entry is matched exactly once (or skipped).

``name_map`` keys may be view names (``Dense_0.weight``) or Flax leaf paths (``Dense_0/kernel``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from mixrl._logging import logger
from mixrl.checkpoints.formats import torch_available
from mixrl.checkpoints.matching import check_sources, log_listing, log_plan, plan_migration
from mixrl.checkpoints.pairing import FlaxLeaf, flax_slash_path, natural_key, pair_entries
from mixrl.checkpoints.sources import read_migration_source
from mixrl.checkpoints.torch_flax import (
    as_numpy,
    flax_leaves,
    is_flax_tree,
    numpy_view,
    replace_leaves,
    split_params,
    to_flax_layout,
)


def migrate_params(
    params: Mapping[str, Any],
    state_dict: Mapping[str, Any] | None = None,
    path: str | os.PathLike | None = None,
    name_map: Mapping[str, str | None] = {},
    auto_mapping: bool = True,
    verbose: bool = False,
    *,
    dry_run: bool = False,
    allow_pickle: bool = False,
    key: str | None = None,
) -> tuple[bool, Any]:
    """Import a torch state dict (or a checkpoint file) into a copy of the Flax parameters ``params``.

    Args:
        params: the model's parameters, ``model.state_dict.params`` (``{"params": {...}}``) or a bare tree.
        state_dict: names to tensors/arrays in torch layout (or a Flax tree); exclusive with ``path``.
        path: a stable-baselines3 ``.zip``, an rl_games ``.pth``, a torch/safetensors state dict or Flax msgpack.
        name_map: view name (``Dense_0.weight``) or Flax path (``Dense_0/kernel``) -> source name;
            ``""``/``None`` keeps that leaf as it is, on purpose.
        auto_mapping: match the remaining leaves automatically (layer by layer, or by shape and kind).
        verbose: log the entries of both sides and every match.
        dry_run: only report (logged like a migration; the caller does not apply the result).
        allow_pickle: unpickle arbitrary objects from torch files (trusted files only).
        key: with ``path``, the state dict ``checkpoint[key]`` of a torch file holding several (skrl agents).

    Returns:
        ``(ok, new_params)``: ``new_params`` has the structure, dtypes and the untouched leaves of
        ``params``; when ``ok`` is False it is ``params`` itself (nothing to apply).

    Raises:
        ValueError: both or neither of ``state_dict``/``path``, an unreadable/unidentified file, or two
            Flax leaves with the same torch-style name.
    """
    import jax.numpy as jnp

    check_sources(state_dict, path)
    entries: Mapping[str, Any]
    if path is not None:
        read_as: Literal["torch", "numpy"] = "torch" if torch_available() else "numpy"  # torch reads bfloat16
        source = read_migration_source(path, allow_pickle=allow_pickle, arrays=read_as, key=key)
        kind, entries = source.kind, source.entries
    else:
        assert state_dict is not None  # check_sources: exactly one of state_dict / path
        kind, entries = ("flax", state_dict) if is_flax_tree(state_dict) else ("state_dict", state_dict)
    if kind == "flax":
        entries = numpy_view(entries)
    arrays = _checked_arrays(entries, "migration source" if path is None else os.fspath(path))
    inner, rebuild = split_params(params)
    leaves = sorted(flax_leaves(inner), key=lambda item: _listing_key(item[0]))
    view = {leaf.view_name: (leaf, value) for leaf, value in leaves}
    if len(view) != len(leaves):
        names = [leaf.view_name for leaf, _ in leaves]
        raise ValueError(f"Flax leaves share torch-style names: {sorted({n for n in names if names.count(n) > 1})}")
    current = {name: leaf.torch_shape for name, (leaf, _) in view.items()}
    available = {name: tuple(array.shape) for name, array in arrays.items()}
    if verbose:
        log_listing(current, available)
    matches = None
    if auto_mapping and not name_map and kind in ("state_dict", "flax") and len(arrays) == len(view):
        matches = _layer_by_layer(available, [leaf for leaf, _ in leaves], verbose)
    if matches is None:
        plan = plan_migration(current, available, _view_names(name_map, [leaf for leaf, _ in leaves]), auto_mapping)
        log_plan(plan, verbose, dry_run)
        if not plan.ok:
            return False, params
        matches = plan.matches
    new = {}
    for name, source_name in matches.items():
        leaf, template = view[name]
        new[leaf.path] = jnp.asarray(to_flax_layout(arrays[source_name], leaf), dtype=jnp.result_type(template))
    return True, rebuild(replace_leaves(inner, new))


def _checked_arrays(entries: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Every entry as a real NumPy array, before anything is matched or converted.

    Raises:
        ValueError: an entry has no data (a meta tensor), is sparse, or is not real floating/integer/bool
            (complex values would lose their imaginary part); every such entry is named with ``source``.
    """
    import jax.numpy as jnp

    arrays, problems = {}, []
    for name, value in entries.items():
        layout = getattr(value, "layout", None)
        if layout is not None and str(layout) != "torch.strided":
            problems.append(f"{name}: expected a dense (strided) tensor, got layout {layout}")
            continue
        if getattr(value, "is_meta", False):
            problems.append(f"{name}: a meta tensor (it has a shape but no data)")
            continue
        try:
            array = as_numpy(value)
        except (RuntimeError, TypeError, ValueError, NotImplementedError) as error:
            problems.append(f"{name}: not convertible to an array: {error}")
            continue
        if (
            array.dtype != np.bool_
            and not jnp.issubdtype(array.dtype, jnp.integer)
            and not (jnp.issubdtype(array.dtype, jnp.floating))
        ):
            problems.append(f"{name}: expected a real floating, integer or bool array, got {array.dtype}")
            continue
        arrays[name] = array
    if problems:
        raise ValueError(f"{source}: cannot migrate: " + "; ".join(problems))
    return arrays


def _layer_by_layer(available: dict[str, tuple], leaves: list[FlaxLeaf], verbose: bool) -> dict[str, str] | None:
    """View name -> source name when the source pairs with the leaves layer by layer, else ``None``."""
    try:
        pairs = pair_entries(list(available.items()), leaves)
    except ValueError as error:
        if verbose:
            logger.info(f"Not the same architecture layer by layer ({error}); matching by shape and kind")
        return None
    by_path = {leaf.path: leaf for leaf in leaves}
    matches = {by_path[path].view_name: name for name, path in pairs.items()}
    if verbose:
        logger.info("Migration")
        for name, source_name in matches.items():
            logger.info(f"  |-- auto: {name} <- {source_name}")
    return matches


def _listing_key(leaf: FlaxLeaf) -> tuple:
    """Natural path order, a layer's kernel before its bias (JAX returns trees with sorted keys)."""
    return (natural_key(leaf.path[:-1]), {"kernel": 0, "scale": 0, "embedding": 0, "bias": 1}.get(leaf.path[-1], 2))


def _view_names(name_map: Mapping[str, str | None], leaves: list[FlaxLeaf]) -> dict[str, str | None]:
    """``name_map`` with Flax-path keys (``Dense_0/kernel``) replaced by their view names (``Dense_0.weight``)."""
    by_path = {flax_slash_path(leaf.path): leaf.view_name for leaf in leaves}
    return {by_path.get(key, key): value for key, value in name_map.items()}
