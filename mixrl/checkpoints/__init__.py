"""Reading, writing and mapping weights, for both backends; imports nothing from ``mixrl.models``.

* files: :func:`sniff_format` (:mod:`.formats`), :func:`atomic_write` (:mod:`.atomic`), torch state dicts
  and ``.safetensors`` (:mod:`.torch_io`, :mod:`.safetensors_io`), Flax msgpack (:mod:`.flax_io`);
* external checkpoints that ``Model.migrate(path=...)`` reads: :func:`read_migration_source`
  (:mod:`.sources`), stable-baselines3 ``.zip`` (:func:`read_sb3`), rl_games ``.pth`` (:func:`read_rl_games`);
* mapping: ``migrate``'s all-or-nothing matching (:func:`plan_migration`, :mod:`.matching`) for torch state
  dicts (:mod:`.torch_migrate`) and Flax trees (:func:`migrate_params`, :mod:`.flax_migrate`), the torch <->
  Flax conversion of one architecture (:func:`torch_to_flax`, :func:`flax_to_torch`, :mod:`.torch_flax`,
  paired by :mod:`.pairing`), legacy-era ``net.N.*`` names of instantiated models (:mod:`.legacy_layout`).

Names are imported on first use and torch only by the modules that make or read tensors, so importing
this package, and the Flax paths, need no torch (reading a torch file then says it needs it).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "atomic_write": "atomic",
    "sniff_format": "formats",
    "describe_format": "formats",
    "read_state_dict": "torch_io",
    "write_state_dict": "torch_io",
    "read_safetensors": "safetensors_io",
    "read_flax": "flax_io",
    "write_flax": "flax_io",
    "MigrationSource": "sources",
    "read_migration_source": "sources",
    "read_sb3": "sb3",
    "read_rl_games": "rl_games",
    "MigrationPlan": "matching",
    "plan_migration": "matching",
    "migrate_state_dict": "torch_migrate",
    "migrate_params": "flax_migrate",
    "torch_to_flax": "torch_flax",
    "flax_to_torch": "torch_flax",
    "is_legacy_layout": "legacy_layout",
    "legacy_to_instantiated": "legacy_layout",
    "adapt_legacy_layout": "legacy_layout",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
