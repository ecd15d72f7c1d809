"""Describe, build, initialise and attach the resolved description: the body of every JAX instantiator.

With ``return_source=True`` the model is built (and checked) but not initialised, only to render the
source of an equivalent class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mixrl._logging import logger
from mixrl.models.jax import Model
from mixrl.utils.model_instantiators._description import describe, legacy_default
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._kinds import MIXINS, check_recurrent
from mixrl.utils.model_instantiators._resolved import shared_document, single_document
from mixrl.utils.model_instantiators._shared import describe_shared
from mixrl.utils.model_instantiators.jax._models import MIXIN_CLASSES, SINGLE_CLASSES
from mixrl.utils.model_instantiators.jax._shared import shared_class
from mixrl.utils.model_instantiators.jax._source import shared_source, single_source

# defaults of the legacy keywords: shown in the signatures, told apart from values given by the caller
INPUT = legacy_default(Shape.STATES)
HIDDENS = legacy_default([256, 256])
ACTIVATIONS = legacy_default(["relu", "relu"])
OUTPUT = legacy_default(Shape.ACTIONS)
TANH = legacy_default("tanh")
NONE = legacy_default(None)
SCALE = legacy_default(1.0)


def legacy_keywords(
    input_shape: Any, hiddens: Any, hidden_activation: Any, output_shape: Any, output_activation: Any, output_scale: Any
) -> dict[str, Any]:
    """The legacy keywords by name (``LegacyDefault`` values mean "not given")."""
    return dict(
        input_shape=input_shape,
        hiddens=hiddens,
        hidden_activation=hidden_activation,
        output_shape=output_shape,
        output_activation=output_activation,
        output_scale=output_scale,
    )


def _describe(model: Model, document: Callable[..., dict[str, Any]], *args: Any) -> None:
    """Attach the resolved description; a parameter or space with no plain form leaves the model without one.

    The model still works: only ``save_model`` writes no sidecar (and says why here, once).
    """
    try:
        model.__dict__["_mixrl_description"] = document(*args)
    except ValueError as error:
        logger.warning(
            f"{type(model).__name__}: no resolved description ({error}); save_model writes no sidecar and "
            "load_model cannot rebuild this model"
        )


def instantiate(
    kind: str,
    spaces: tuple[Any, Any, Any],
    mixin_kwargs: Mapping[str, Any],
    description: tuple[Any, Any, Mapping[str, Any]],
    recurrent: Mapping[str, int],
    return_source: bool,
    log_std: Mapping[str, Any] | None = None,
) -> Model | str:
    """A single-role model of the mixin ``kind`` (lower-case class name), initialised, or the source of its class.

    Args:
        spaces: observation space, action space, device.
        description: ``(network, output, legacy keywords)`` as given to the instantiator.
        recurrent: ``num_envs`` and ``sequence_length`` (used when the network has a recurrent layer).
    """
    mixin, log_std = MIXINS[kind], log_std or {}
    check_recurrent(recurrent["num_envs"], recurrent["sequence_length"])
    parsed = describe(*description, mixin.output_activation)
    cls = SINGLE_CLASSES[mixin.model]
    observation_space, action_space, device = spaces
    model = cls(
        observation_space,
        action_space,
        device,
        description=parsed,
        mixin_kwargs=mixin_kwargs,
        log_std=log_std,
        recurrent=recurrent,
    )
    if return_source:
        return single_source(model, parsed, mixin, mixin_kwargs, log_std)
    model.init_state_dict()
    model_spaces = (model.observation_space, model.action_space)
    _describe(model, single_document, mixin, mixin_kwargs, log_std, parsed, model.recurrent_parameters, model_spaces)
    return model


def instantiate_shared(
    spaces: tuple[Any, Any, Any],
    structure: Sequence[str] | str,
    roles: Sequence[str],
    parameters: Sequence[Mapping[str, Any]],
    single_forward_pass: bool,
    recurrent: Mapping[str, int],
    return_source: bool,
) -> Model | str:
    """A shared model, initialised for every role, or the source of its class."""
    check_recurrent(recurrent["num_envs"], recurrent["sequence_length"])
    network, parsed = describe_shared(structure, roles, parameters)
    bases = tuple(dict.fromkeys(MIXIN_CLASSES[role.mixin.name] for role in parsed))
    cls = shared_class(bases)
    observation_space, action_space, device = spaces
    model = cls(
        observation_space,
        action_space,
        device,
        network=network,
        roles=parsed,
        single_forward_pass=single_forward_pass,
        recurrent=recurrent,
    )
    if return_source:
        return shared_source(model, parsed)
    model.init_state_dict()
    model_spaces = (model.observation_space, model.action_space)
    _describe(model, shared_document, parsed, single_forward_pass, model.recurrent_parameters, model_spaces)
    return model
