"""JAX/Flax model instantiators: ready-to-use, initialised models from a declarative description.

Same functions, arguments, description styles and defaults as :mod:`mixrl.utils.model_instantiators.torch`:
the definition style (``network=[...]``, ``output="..."``) and the legacy ``hiddens`` style (``input_shape``,
``hiddens``, ``hidden_activation``, ``output_shape``, ``output_activation``, ``output_scale``; also
positionally in skrl 1.x's order), with the legacy defaults (a 256-256 ReLU MLP on the states and a ``tanh``
output; no output activation for the categorical models). Strings are parsed and checked, never executed.

Models are setup-style Flax modules built directly from the description: one ``nn.Sequential`` per
container (``<name>_container``, entries ``layers_<i>`` in the order layer, activation, ...), ``nn.Dense`` for
``linear``, ``nn.Conv`` for ``conv2d`` (NHWC inputs: an image space's flat states are reshaped to
(batch, height, width, channels), so no ``permute`` is needed), ``<role>_layer`` heads of shared models and
``log_std_parameter`` (a constant outside ``params`` with ``fixed_log_std=True``). Every model is returned
**initialised** with its own key (``model.state_dict.params`` exists at once); calling ``init_state_dict``
again keeps those parameters unless a ``key`` is given.

A container may start with one recurrent layer (``gru``, ``lstm``, ``rnn``; Flax cells run with ``nn.scan``,
see :class:`Recurrent`): the model then follows skrl 1.x's recurrent-model contract (``num_envs`` /
``sequence_length``, ``get_specification()``, ``inputs["rnn"]`` in, final states in ``outputs["rnn"]``).
Every model keeps its resolved description (``model.description``); :func:`save_model` writes it beside the
msgpack weights and :func:`load_model` rebuilds the model from both; :func:`model_from_config` builds models
from a dict or YAML document.

Common arguments: ``observation_space`` / ``action_space`` (int, sequence of ints, gymnasium space or
None) and ``device`` (as for :class:`mixrl.models.jax.Model`).
"""

from __future__ import annotations

try:
    import flax  # noqa: F401
    import jax
except ImportError as error:  # pragma: no cover - exercised only without jax/flax
    raise ImportError(
        "mixrl.utils.model_instantiators.jax needs JAX and Flax: install them with the extra: pip install 'mixrl[jax]'"
    ) from error

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from mixrl.models.jax import Model
from mixrl.models.jax.rnn import Recurrent
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._kinds import RECURRENT_PARAMETERS
from mixrl.utils.model_instantiators.jax._config import load_model, model_from_config, save_model
from mixrl.utils.model_instantiators.jax._expressions import one_hot_encoding
from mixrl.utils.model_instantiators.jax._instantiate import (
    ACTIVATIONS,
    HIDDENS,
    INPUT,
    NONE,
    OUTPUT,
    SCALE,
    TANH,
    instantiate,
    instantiate_shared,
    legacy_keywords,
)
from mixrl.utils.model_instantiators.jax._recurrent import RecurrentSequential

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
    "save_model",
    "shared_model",
    "Recurrent",
    "RecurrentSequential",
]

Space = Any
Device: TypeAlias = str | jax.Device | None
Network = Sequence[Mapping[str, Any]]
Reduction = Literal["mean", "sum", "prod", "none"]
NUM_ENVS, SEQUENCE_LENGTH = RECURRENT_PARAMETERS["num_envs"], RECURRENT_PARAMETERS["sequence_length"]


def categorical_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    unnormalized_log_prob: bool = True,
    input_shape: Shape = INPUT,
    hiddens: list = HIDDENS,
    hidden_activation: list = ACTIVATIONS,
    output_shape: Shape = OUTPUT,
    output_activation: str | None = NONE,
    output_scale: float = SCALE,
    *,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
    num_envs: int = NUM_ENVS,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Model | str:
    """A :class:`~mixrl.models.jax.CategoricalMixin` model; its output is (batch, n) logits or probabilities.

    Args:
        unnormalized_log_prob: the output holds logits (otherwise probabilities).
        input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale: legacy style.
        network: containers ``[{name, input, layers, activations}, ...]``; ``output``: output expression.
        return_source: return the source of an equivalent Flax ``CategoricalModel`` class instead of a model.
        num_envs: recurrent networks only (a ``gru``/``lstm``/``rnn`` layer): the rollout batch size in
            ``get_specification()["rnn"]["sizes"]``; ignored otherwise.
        sequence_length: recurrent networks only: the training sequence length ``L``; ignored otherwise.

    Raises:
        TypeError: both description styles are given, or an unknown keyword.
        ValueError: an invalid description (the message names the bad part and the allowed values).
    """
    legacy = legacy_keywords(input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale)
    recurrent = {"num_envs": num_envs, "sequence_length": sequence_length}
    kwargs = {"unnormalized_log_prob": unnormalized_log_prob}
    spaces, description = (observation_space, action_space, device), (network, output, legacy)
    return instantiate("categoricalmixin", spaces, kwargs, description, recurrent, return_source)


def multicategorical_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    unnormalized_log_prob: bool = True,
    input_shape: Shape = INPUT,
    hiddens: list = HIDDENS,
    hidden_activation: list = ACTIVATIONS,
    output_shape: Shape = OUTPUT,
    output_activation: str | None = NONE,
    output_scale: float = SCALE,
    *,
    reduction: Reduction = "sum",
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
    num_envs: int = NUM_ENVS,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Model | str:
    """A :class:`~mixrl.models.jax.MultiCategoricalMixin` model; its output is (batch, sum(nvec)).

    Args: as :func:`categorical_model`, plus ``reduction`` of the per-component log-probabilities.
    """
    legacy = legacy_keywords(input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale)
    recurrent = {"num_envs": num_envs, "sequence_length": sequence_length}
    kwargs = {"unnormalized_log_prob": unnormalized_log_prob, "reduction": reduction}
    spaces, description = (observation_space, action_space, device), (network, output, legacy)
    return instantiate("multicategoricalmixin", spaces, kwargs, description, recurrent, return_source)


def deterministic_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    clip_actions: bool = False,
    input_shape: Shape = INPUT,
    hiddens: list = HIDDENS,
    hidden_activation: list = ACTIVATIONS,
    output_shape: Shape = OUTPUT,
    output_activation: str | None = TANH,
    output_scale: float = SCALE,
    *,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
    num_envs: int = NUM_ENVS,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Model | str:
    """A :class:`~mixrl.models.jax.DeterministicMixin` model (actions, state values or Q-values).

    Args: as :func:`categorical_model`; ``clip_actions`` clamps the output to the Box action bounds.
    """
    legacy = legacy_keywords(input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale)
    recurrent = {"num_envs": num_envs, "sequence_length": sequence_length}
    spaces, description = (observation_space, action_space, device), (network, output, legacy)
    return instantiate(
        "deterministicmixin", spaces, {"clip_actions": clip_actions}, description, recurrent, return_source
    )


def gaussian_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    clip_actions: bool = False,
    clip_log_std: bool = True,
    min_log_std: float = -20,
    max_log_std: float = 2,
    input_shape: Shape = INPUT,
    hiddens: list = HIDDENS,
    hidden_activation: list = ACTIVATIONS,
    output_shape: Shape = OUTPUT,
    output_activation: str | None = TANH,
    output_scale: float = SCALE,
    *,
    reduction: Reduction = "sum",
    initial_log_std: float = 0,
    fixed_log_std: bool = False,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
    num_envs: int = NUM_ENVS,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Model | str:
    """A :class:`~mixrl.models.jax.GaussianMixin` model: mean actions plus a state-independent ``log_std_parameter``.

    Args: as :func:`categorical_model`, plus the Gaussian mixin settings, ``initial_log_std`` (fill value of
    ``log_std_parameter``, shape (output size,)) and ``fixed_log_std`` (a constant, not in ``params``).
    """
    legacy = legacy_keywords(input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale)
    recurrent = {"num_envs": num_envs, "sequence_length": sequence_length}
    kwargs: dict[str, Any] = dict(clip_actions=clip_actions, clip_log_std=clip_log_std, min_log_std=min_log_std)
    kwargs.update(max_log_std=max_log_std, reduction=reduction)
    log_std = {"initial_log_std": initial_log_std, "fixed_log_std": fixed_log_std}
    spaces, description = (observation_space, action_space, device), (network, output, legacy)
    return instantiate("gaussianmixin", spaces, kwargs, description, recurrent, return_source, log_std)


def multivariate_gaussian_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    clip_actions: bool = False,
    clip_log_std: bool = True,
    min_log_std: float = -20,
    max_log_std: float = 2,
    input_shape: Shape = INPUT,
    hiddens: list = HIDDENS,
    hidden_activation: list = ACTIVATIONS,
    output_shape: Shape = OUTPUT,
    output_activation: str | None = TANH,
    output_scale: float = SCALE,
    *,
    initial_log_std: float = 0,
    fixed_log_std: bool = False,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
    num_envs: int = NUM_ENVS,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Model | str:
    """A :class:`~mixrl.models.jax.MultivariateGaussianMixin` model (arguments as :func:`gaussian_model`)."""
    legacy = legacy_keywords(input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale)
    recurrent = {"num_envs": num_envs, "sequence_length": sequence_length}
    kwargs = dict(
        clip_actions=clip_actions, clip_log_std=clip_log_std, min_log_std=min_log_std, max_log_std=max_log_std
    )
    log_std = {"initial_log_std": initial_log_std, "fixed_log_std": fixed_log_std}
    spaces, description = (observation_space, action_space, device), (network, output, legacy)
    return instantiate("multivariategaussianmixin", spaces, kwargs, description, recurrent, return_source, log_std)


def shared_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    structure: Sequence[str] | str = ["GaussianMixin", "DeterministicMixin"],
    roles: Sequence[str] = [],
    parameters: Sequence[Mapping[str, Any]] = [],
    single_forward_pass: bool = True,
    return_source: bool = False,
    *,
    num_envs: int = NUM_ENVS,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Model | str:
    """One model serving several roles: a shared trunk and one head per role.

    Args:
        structure: mixin class names (case-insensitive), one per role; a string is split on commas and
            ``""`` means ``["GaussianMixin", "DeterministicMixin"]``.
        roles: role names (Python identifiers), e.g. ``["policy", "value"]``.
        parameters: per role, the mixin's keywords plus ``output`` (or legacy ``output_shape``,
            ``output_activation``, ``output_scale``); the trunk is ``parameters[0]["network"]`` (or its legacy
            ``input_shape``/``hiddens``/``hidden_activation``). A token in a role's output creates ``<role>_layer``.
        single_forward_pass: accepted and saved in the description; JAX has no cache across calls (it could
            not outlive one ``apply`` under jit): each call computes the trunk once, then only the head of its role.
        return_source: return the source of an equivalent ``SharedModel`` class instead of a model.
        num_envs, sequence_length: as for :func:`categorical_model`; every role returns the same final states.

    Raises:
        ValueError: lengths differ, fewer than 2 roles, two Gaussian-type roles, or an invalid description.
        TypeError: unknown parameter keys.
    """
    spaces = (observation_space, action_space, device)
    recurrent = {"num_envs": num_envs, "sequence_length": sequence_length}
    return instantiate_shared(spaces, structure, roles, parameters, single_forward_pass, recurrent, return_source)
