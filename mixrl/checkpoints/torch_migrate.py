"""``migrate`` for torch models: read the source, convert a Flax one, match (:mod:`.matching`), pick the tensors.

Nothing here touches a model: :func:`migrate_state_dict` gets the model's state dict and returns what to
load, so the caller applies it only when the migration succeeded (all or nothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import torch

from mixrl._logging import logger
from mixrl.checkpoints.matching import check_sources, log_listing, log_plan, plan_migration
from mixrl.checkpoints.sources import read_migration_source
from mixrl.checkpoints.torch_flax import flax_as_torch_source, is_flax_tree

Adapt = Callable[[Mapping[str, Any], str], Mapping[str, Any]]


def migrate_state_dict(
    own: Mapping[str, torch.Tensor],
    state_dict: Mapping[str, Any] | None,
    path: str | os.PathLike | None,
    name_map: Mapping[str, str | None] = {},
    auto_mapping: bool = True,
    verbose: bool = False,
    *,
    dry_run: bool = False,
    allow_pickle: bool = False,
    key: str | None = None,
    adapt: Adapt | None = None,
) -> tuple[bool, dict[str, torch.Tensor]]:
    """Match the model's entries ``own`` to an external state dict or checkpoint file (``Model.migrate``).

    Args:
        own: the model's ``state_dict()`` (names in definition order, shapes).
        state_dict: external names to tensors, or a Flax parameter tree; exclusive with ``path``.
        path: a stable-baselines3 ``.zip``, rl_games ``.pth``, ``torch.save``/``.safetensors`` state dict or
            Flax msgpack file (recognised from the content).
        name_map: current name -> external name; ``""``/``None`` skips the entry.
        auto_mapping: match entries not in ``name_map`` by name, shape and kind.
        verbose: log both listings and every match.
        dry_run: only report (logged as such).
        allow_pickle: unpickle arbitrary objects from torch files (trusted files only).
        key: with ``path``, the state dict ``checkpoint[key]`` of a torch file holding several.
        adapt: ``adapt(entries, source name)``: the source renamed to the model's names, applied when
            matching is automatic (no ``name_map``); a ``ValueError`` keeps the source as it is.

    Returns:
        ``(ok, tensors)``: current name -> external tensor for every match; empty when ``ok`` is False.

    Raises:
        TypeError: ``state_dict`` is not a mapping.
        ValueError: both or neither of ``state_dict``/``path``; an unidentified or unreadable file.
    """
    check_sources(state_dict, path)
    entries: Mapping[str, Any]
    if path is not None:
        source = read_migration_source(path, allow_pickle=allow_pickle, key=key)
        entries = flax_as_torch_source(source.entries, own) if source.kind == "flax" else source.entries
    elif state_dict is not None and is_flax_tree(state_dict):
        entries = flax_as_torch_source(state_dict, own)
    else:
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
        entries = state_dict
    if adapt is not None and auto_mapping and not name_map:
        try:
            entries = adapt(entries, "migration source" if path is None else os.fspath(path))
        except ValueError as error:
            logger.info(f"Source kept with its own names: {error}")
    tensors = {name: value for name, value in entries.items() if isinstance(value, torch.Tensor)}
    ignored = [name for name in entries if name not in tensors]
    if ignored:
        logger.warning(f"Ignoring non-tensor entries of the source: {ignored}")
    current = {name: tuple(value.shape) for name, value in own.items()}
    available = {name: tuple(value.shape) for name, value in tensors.items()}
    if verbose:
        log_listing(current, available)
    plan = plan_migration(current, available, name_map, auto_mapping)
    log_plan(plan, verbose, dry_run)
    if not plan.ok:
        return False, {}
    return True, {name: tensors[external] for name, external in plan.matches.items()}
