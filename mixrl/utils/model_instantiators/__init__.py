"""Model instantiators, skrl import path: ``Shape`` and the torch instantiators.

``from mixrl.utils.model_instantiators import gaussian_model`` works as in skrl; the torch functions
are loaded on first access, so importing this package does not import torch. The framework modules
are ``mixrl.utils.model_instantiators.torch`` (and ``.jax``); ``model_from_config`` and ``load_model``
are re-exported here too.

The framework-free modules, shared by every backend: ``_api`` (the public functions), ``_expressions`` (the
checked expression language), ``_compile`` (expressions as callable nodes), ``_layers`` (layer and activation
forms), ``_description`` (one network in either style), ``_kinds`` (model kinds and their parameters),
``_shared`` (shared-model descriptions), ``_config`` (configuration documents), ``_generated`` (the plan and
evaluation of a generated model), ``_source`` (``return_source`` rendering), ``_space_codec`` (spaces as plain
data) and ``_sidecar`` (the resolved description of a built model and its file beside a checkpoint).
"""

from __future__ import annotations

import importlib
from typing import Any

from mixrl.utils.model_instantiators._expressions import Shape

_TORCH_NAMES = (
    "categorical_model",
    "deterministic_model",
    "gaussian_model",
    "load_model",
    "model_from_config",
    "multicategorical_model",
    "multivariate_gaussian_model",
    "one_hot_encoding",
    "shared_model",
    "tabular_model",
)

__all__ = ["Shape", *_TORCH_NAMES]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(f"{__name__}.torch"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))
