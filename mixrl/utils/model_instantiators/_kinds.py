"""The model kinds the instantiators build, their parameters and the names descriptions use for them.

A kind is one mixin (``GaussianMixin`` ...) or a shared model. Descriptions name a kind by its mixin
class, its generated class or its instantiator function, case-insensitively (``GaussianMixin``,
``GaussianModel``, ``gaussian_model``, ``gaussian``); ``Shared`` (``SharedModel``, ``shared_model``)
is the shared model.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mixrl.utils.model_instantiators._description import LEGACY_KEYS


@dataclass(frozen=True)
class Mixin:
    """What the instantiators need to know about a mixin (framework-free)."""

    name: str  # class name, e.g. "GaussianMixin"
    function: str  # instantiator, e.g. "gaussian_model"
    parameters: Mapping[str, Any]  # constructor keywords (without role) and their defaults
    log_std: bool  # the model owns a log_std_parameter
    output_activation: str | None  # default of the legacy output_activation

    @property
    def model(self) -> str:
        """Generated class name, e.g. ``"GaussianModel"``."""
        return self.name.removesuffix("Mixin") + "Model"

    @property
    def module(self) -> str:
        """Module under ``mixrl.models.<framework>``, e.g. ``"gaussian"``."""
        return self.function.removesuffix("_model")


_CATEGORICAL = {"unnormalized_log_prob": True}
_GAUSSIAN = {"clip_actions": False, "clip_log_std": True, "min_log_std": -20, "max_log_std": 2}
MIXINS = {
    mixin.name.lower(): mixin
    for mixin in (
        Mixin("CategoricalMixin", "categorical_model", _CATEGORICAL, False, None),
        Mixin("MultiCategoricalMixin", "multicategorical_model", {**_CATEGORICAL, "reduction": "sum"}, False, None),
        Mixin("DeterministicMixin", "deterministic_model", {"clip_actions": False}, False, "tanh"),
        Mixin("GaussianMixin", "gaussian_model", {**_GAUSSIAN, "reduction": "sum"}, True, "tanh"),
        Mixin("MultivariateGaussianMixin", "multivariate_gaussian_model", _GAUSSIAN, True, "tanh"),
    )
}
# the functions every backend package exposes (bound methods of ``_api.Instantiators``)
FUNCTIONS = (*(m.function for m in MIXINS.values()), "shared_model", "tabular_model", "model_from_config", "load_model")
LOG_STD_PARAMETERS = {"initial_log_std": 0, "fixed_log_std": False}
# sequence_length: short enough for truncated backpropagation through time to stay cheap, and a divisor of
# the rollout lengths agents usually use (16, 32, ..., 2048); skrl's hand-written RNN examples use 128
RECURRENT_PARAMETERS = {"num_envs": 1, "sequence_length": 16}
SHARED = "Shared"
KIND_NAMES = [*(mixin.name for mixin in MIXINS.values()), SHARED]


def _key(name: str) -> str:
    key = name.lower().replace("_", "")
    for suffix in ("mixin", "model"):
        if key.endswith(suffix) and key != suffix:
            return key.removesuffix(suffix)
    return key


_BY_KEY: dict[str, Mixin | None] = {_key(mixin.name): mixin for mixin in MIXINS.values()}
_BY_KEY[_key(SHARED)] = None


def parse_kind(name: Any, where: str = "class") -> Mixin | None:
    """The mixin named ``name`` (any spelling of the module docstring), or None for the shared model.

    Raises:
        ValueError: an unknown name (the message lists the kinds).
    """
    if not isinstance(name, str) or _key(name) not in _BY_KEY:
        raise ValueError(
            f"{where}: unknown model class {name!r}: expected one of {KIND_NAMES} "
            "(or the generated class / instantiator name, e.g. GaussianModel, gaussian_model)"
        )
    return _BY_KEY[_key(name)]


def mixin_classes(package: str) -> dict[str, type]:
    """``{class name: mixin class}`` of every kind, imported from ``package`` (e.g. ``"mixrl.models.torch"``)."""
    return {
        mixin.name: getattr(importlib.import_module(f"{package}.{mixin.module}"), mixin.name)
        for mixin in MIXINS.values()
    }


def description_keys(mixin: Mixin) -> set[str]:
    """Keys a model of ``mixin`` (or one role of a shared model) accepts besides the model-level ones."""
    return {*mixin.parameters, *(LOG_STD_PARAMETERS if mixin.log_std else ()), "network", "output", *LEGACY_KEYS}


def check_recurrent(num_envs: Any, sequence_length: Any) -> None:
    """Validate the recurrent-model keywords.

    Raises:
        ValueError: ``num_envs`` or ``sequence_length`` is not a positive int.
    """
    for name, value in (("num_envs", num_envs), ("sequence_length", sequence_length)):
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
