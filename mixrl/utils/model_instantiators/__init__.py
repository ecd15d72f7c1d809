"""Model instantiators, skrl import path: ``Shape`` and the torch instantiators (loaded on first access).

The framework modules are ``.torch`` and ``.jax``; the framework-free ones, shared by both: ``_api`` (the
public functions), ``_expressions`` / ``_compile`` (the checked expression language, compiled), ``_layers``,
``_description`` / ``_shared`` (one network in either style, shared models), ``_kinds``, ``_config``,
``_generated`` (plan and evaluation of a generated model), ``_source`` (``return_source``) and ``_sidecar``
(the resolved description and its file beside a checkpoint; spaces: :mod:`mixrl.utils.spaces.description`).
"""

from __future__ import annotations

import importlib
from typing import Any

from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._kinds import FUNCTIONS

_TORCH_NAMES = (*FUNCTIONS, "one_hot_encoding")

__all__ = ["Shape", *_TORCH_NAMES]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(f"{__name__}.torch"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))
