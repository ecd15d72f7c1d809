"""PyTorch model instantiators: ready-to-use models from a declarative description.

The functions, their arguments, description styles and defaults are those of the framework-free front end
(:class:`mixrl.utils.model_instantiators._api.Instantiators`); this backend adds its ops table (``_ops``),
its ``torch.nn`` model classes (``_models``, ``_tabular``) and its source
templates (``_source``). Models have materialised layers (input widths from a one-sample dry run), state-dict
names ``<name>_container.<i>.*``, ``<role>_layer.*`` and ``log_std_parameter``; ``Model.save`` writes the
resolved description (``model.description``) beside the weights, which :func:`load_model` reads back.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "mixrl.utils.model_instantiators.torch needs PyTorch: install torch, then pip install 'mixrl[torch]'"
    ) from error

from typing import Any

from mixrl.utils.model_instantiators._api import Backend, Instantiators
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators.torch import _source
from mixrl.utils.model_instantiators.torch._models import MIXIN_CLASSES, generated_class
from mixrl.utils.model_instantiators.torch._ops import one_hot_encoding
from mixrl.utils.model_instantiators.torch._tabular import TabularModel

__all__ = [
    "Shape",
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
]


def _finish(model: Any) -> None:
    """Torch models are complete once built (materialised layers, on their device)."""


BACKEND = Backend(generated_class, MIXIN_CLASSES, _source, _finish, TabularModel)
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
