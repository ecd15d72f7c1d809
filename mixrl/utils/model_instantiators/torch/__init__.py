"""PyTorch model instantiators: the functions of :class:`.._api.Instantiators` on this backend.

It adds its ops table (``_ops``), its ``torch.nn`` model classes (``_models``, ``_tabular``) and its source
template (``_source``); ``Model.save`` writes the resolved description beside the weights (:func:`load_model`).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "mixrl.utils.model_instantiators.torch needs PyTorch: install torch, then pip install 'mixrl[torch]'"
    ) from error

from mixrl.utils.model_instantiators._api import Backend, Instantiators
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._kinds import FUNCTIONS
from mixrl.utils.model_instantiators.torch import _source
from mixrl.utils.model_instantiators.torch._models import MIXIN_CLASSES, Generated
from mixrl.utils.model_instantiators.torch._ops import one_hot_encoding
from mixrl.utils.model_instantiators.torch._tabular import TabularModel

__all__ = ["Shape", *FUNCTIONS, "one_hot_encoding"]


BACKEND = Backend(Generated, MIXIN_CLASSES, _source, TabularModel)
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
