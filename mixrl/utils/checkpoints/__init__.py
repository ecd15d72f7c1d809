"""Bring external weights into mixrl models: external checkpoint readers, torch <-> Flax conversion, legacy-era names.

* :func:`read_migration_source`, :func:`read_sb3`, :func:`read_rl_games`, :func:`read_flax`: what
  ``Model.migrate(path=...)`` reads (stable-baselines3 ``.zip``, rl_games ``.pth``, state dicts, Flax msgpack);
* :func:`torch_to_flax`, :func:`flax_to_torch`: the same architecture's parameters across frameworks;
* :func:`migrate_params`: ``migrate`` for Flax parameter trees (used by ``mixrl.models.jax.Model.migrate``);
* :func:`is_legacy_layout`, :func:`legacy_to_instantiated`: legacy-era ``net.N.*`` checkpoints of instantiated models.

Names are imported on first use, so importing this package needs neither torch nor jax.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MigrationSource": "sources",
    "read_migration_source": "sources",
    "read_sb3": "sources",
    "read_rl_games": "sources",
    "read_flax": "sources",
    "torch_to_flax": "torch_flax",
    "flax_to_torch": "torch_flax",
    "migrate_params": "flax_migrate",
    "is_legacy_layout": "legacy_layout",
    "legacy_to_instantiated": "legacy_layout",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
