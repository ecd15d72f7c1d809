"""JAX/Flax model instantiators: the functions of :class:`.._api.Instantiators` on this backend.

It adds its ops table and Flax entries (``_ops``), its model classes (``_models``, ``_tabular``: setup-style Flax
modules, returned initialised with their own key) and its source template (``_source``). :func:`save_model`
writes the resolved description beside the msgpack weights and :func:`load_model` rebuilds the model from both.
"""

from __future__ import annotations

try:
    import flax  # noqa: F401
    import jax  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without jax/flax
    raise ImportError(
        "mixrl.utils.model_instantiators.jax needs JAX and Flax: install them with the extra: pip install 'mixrl[jax]'"
    ) from error

import operator
import os
from typing import Any

from mixrl.models.jax import Model, StateDict
from mixrl.utils.model_instantiators._api import Backend, Instantiators
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._kinds import FUNCTIONS
from mixrl.utils.model_instantiators.jax import _source
from mixrl.utils.model_instantiators.jax._models import MIXIN_CLASSES, Generated
from mixrl.utils.model_instantiators.jax._ops import Recurrent, RecurrentSequential, one_hot_encoding
from mixrl.utils.model_instantiators.jax._tabular import TabularModel

__all__ = ["Shape", *FUNCTIONS, "one_hot_encoding", "save_model", "Recurrent", "RecurrentSequential"]


BACKEND = Backend(Generated, MIXIN_CLASSES, _source, TabularModel, operator.methodcaller("init_state_dict"))
_functions = Instantiators(BACKEND)
categorical_model = _functions.categorical_model
multicategorical_model = _functions.multicategorical_model
deterministic_model = _functions.deterministic_model
gaussian_model = _functions.gaussian_model
multivariate_gaussian_model = _functions.multivariate_gaussian_model
shared_model = _functions.shared_model
tabular_model = _functions.tabular_model
model_from_config = _functions.model_from_config
load_model = _functions.load_model


def save_model(model: Model, path: str | os.PathLike, state_dict: StateDict | Any = None) -> None:
    """``model.save(path, state_dict)``: the weights, then their description ``<path>.model.yaml`` (:func:`load_model`).

    Raises:
        ValueError: ``model`` has no resolved description (it was not built by an instantiator, or a parameter
            has no plain form); nothing is written.
    """
    if model.__dict__.get("_mixrl_description") is None:
        raise ValueError(
            f"{type(model).__name__} has no resolved description (built by hand, or a parameter with no plain "
            "form): save it with model.save(path); load_model cannot rebuild it"
        )
    model.save(path, state_dict)
