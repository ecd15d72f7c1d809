"""PyTorch model instantiators: ready-to-use models from a declarative description (SPEC 12).

Two description styles are accepted: the definition style (``network=[...]``, ``output="..."``) and the
legacy seed style (``input_shape``, ``hiddens``, ``hidden_activation``, ``output_shape``,
``output_activation``, ``output_scale``; also positionally in the seed order). The seed defaults apply
whenever the legacy style is used or no description is given: a 256-256 ReLU MLP on the states with a
``tanh`` output (no output activation for the categorical models). Strings are parsed and checked,
never executed; ``return_source=True`` renders the source of an equivalent class instead of building.

Common arguments: ``observation_space`` / ``action_space`` (int, sequence of ints, gymnasium space or
None) and ``device`` (as for :class:`mixrl.models.torch.Model`).
"""

from __future__ import annotations

try:
    import torch
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "mixrl.utils.model_instantiators.torch needs PyTorch: install torch, then pip install 'mixrl[torch]'"
    ) from error

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from mixrl.models.torch.base import Model
from mixrl.utils.model_instantiators._common import MIXINS, SeedDefault, Shape, describe, describe_shared
from mixrl.utils.model_instantiators.torch._expressions import one_hot_encoding
from mixrl.utils.model_instantiators.torch._models import MIXIN_CLASSES, SINGLE_CLASSES, shared_class
from mixrl.utils.model_instantiators.torch._source import shared_source, single_source

__all__ = [
    "Shape",
    "categorical_model",
    "deterministic_model",
    "gaussian_model",
    "multicategorical_model",
    "multivariate_gaussian_model",
    "one_hot_encoding",
    "shared_model",
]

Space = Any
Device = str | torch.device | None
Network = Sequence[Mapping[str, Any]]
Reduction = Literal["mean", "sum", "prod", "none"]

_INPUT = SeedDefault(Shape.STATES)
_HIDDENS = SeedDefault([256, 256])
_ACTIVATIONS = SeedDefault(["relu", "relu"])
_OUTPUT = SeedDefault(Shape.ACTIONS)
_TANH = SeedDefault("tanh")
_NONE = SeedDefault(None)
_SCALE = SeedDefault(1.0)


def _instantiate(
    kind: str,
    spaces: tuple[Space, Space, Device],
    mixin_kwargs: dict[str, Any],
    legacy: dict[str, Any],
    network: Network,
    output: str | Shape,
    return_source: bool,
    log_std: dict[str, Any] | None = None,
) -> Model | str:
    """Describe (either style), then build the single-role model, or build it on CPU and render its source."""
    mixin, log_std = MIXINS[kind], log_std or {}
    description = describe(network, output, legacy, mixin.output_activation)
    cls = SINGLE_CLASSES[mixin.model]
    observation_space, action_space, device = spaces
    if return_source:
        model = cls(observation_space, action_space, "cpu", description, mixin_kwargs, log_std)
        return single_source(model, description, mixin, mixin_kwargs, log_std)
    return cls(observation_space, action_space, device, description, mixin_kwargs, log_std)


def categorical_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    unnormalized_log_prob: bool = True,
    input_shape: Shape = _INPUT,
    hiddens: list = _HIDDENS,
    hidden_activation: list = _ACTIVATIONS,
    output_shape: Shape = _OUTPUT,
    output_activation: str | None = _NONE,
    output_scale: float = _SCALE,
    *,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
) -> Model | str:
    """A :class:`~mixrl.models.torch.CategoricalMixin` model; its output is (batch, n) logits or probabilities.

    Args:
        unnormalized_log_prob: the output holds logits (otherwise probabilities).
        input_shape, hiddens, hidden_activation, output_shape, output_activation, output_scale: legacy style.
        network: containers ``[{name, input, layers, activations}, ...]``; ``output``: output expression.
        return_source: return the source of an equivalent ``CategoricalModel`` class instead of a model.

    Raises:
        TypeError: both description styles are given, or an unknown keyword.
        ValueError: an invalid description (the message names the bad part and the allowed values).
    """
    legacy = dict(input_shape=input_shape, hiddens=hiddens, hidden_activation=hidden_activation)
    legacy.update(output_shape=output_shape, output_activation=output_activation, output_scale=output_scale)
    kwargs = {"unnormalized_log_prob": unnormalized_log_prob}
    spaces = (observation_space, action_space, device)
    return _instantiate("categoricalmixin", spaces, kwargs, legacy, network, output, return_source)


def multicategorical_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    unnormalized_log_prob: bool = True,
    input_shape: Shape = _INPUT,
    hiddens: list = _HIDDENS,
    hidden_activation: list = _ACTIVATIONS,
    output_shape: Shape = _OUTPUT,
    output_activation: str | None = _NONE,
    output_scale: float = _SCALE,
    *,
    reduction: Reduction = "sum",
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
) -> Model | str:
    """A :class:`~mixrl.models.torch.MultiCategoricalMixin` model; its output is (batch, sum(nvec)).

    Args: as :func:`categorical_model`, plus ``reduction`` of the per-component log-probabilities.
    """
    legacy = dict(input_shape=input_shape, hiddens=hiddens, hidden_activation=hidden_activation)
    legacy.update(output_shape=output_shape, output_activation=output_activation, output_scale=output_scale)
    kwargs = {"unnormalized_log_prob": unnormalized_log_prob, "reduction": reduction}
    spaces = (observation_space, action_space, device)
    return _instantiate("multicategoricalmixin", spaces, kwargs, legacy, network, output, return_source)


def deterministic_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    clip_actions: bool = False,
    input_shape: Shape = _INPUT,
    hiddens: list = _HIDDENS,
    hidden_activation: list = _ACTIVATIONS,
    output_shape: Shape = _OUTPUT,
    output_activation: str | None = _TANH,
    output_scale: float = _SCALE,
    *,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
) -> Model | str:
    """A :class:`~mixrl.models.torch.DeterministicMixin` model (actions, state values or Q-values).

    Args: as :func:`categorical_model`; ``clip_actions`` clamps the output to the Box action bounds.
    """
    legacy = dict(input_shape=input_shape, hiddens=hiddens, hidden_activation=hidden_activation)
    legacy.update(output_shape=output_shape, output_activation=output_activation, output_scale=output_scale)
    spaces = (observation_space, action_space, device)
    return _instantiate(
        "deterministicmixin", spaces, {"clip_actions": clip_actions}, legacy, network, output, return_source
    )


def gaussian_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    clip_actions: bool = False,
    clip_log_std: bool = True,
    min_log_std: float = -20,
    max_log_std: float = 2,
    input_shape: Shape = _INPUT,
    hiddens: list = _HIDDENS,
    hidden_activation: list = _ACTIVATIONS,
    output_shape: Shape = _OUTPUT,
    output_activation: str | None = _TANH,
    output_scale: float = _SCALE,
    *,
    reduction: Reduction = "sum",
    initial_log_std: float = 0,
    fixed_log_std: bool = False,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
) -> Model | str:
    """A :class:`~mixrl.models.torch.GaussianMixin` model: mean actions plus a state-independent ``log_std_parameter``.

    Args: as :func:`categorical_model`, plus the Gaussian mixin settings, ``initial_log_std`` (fill value of
    ``log_std_parameter``, shape (output size,)) and ``fixed_log_std`` (``requires_grad=False``, still saved).
    """
    legacy = dict(input_shape=input_shape, hiddens=hiddens, hidden_activation=hidden_activation)
    legacy.update(output_shape=output_shape, output_activation=output_activation, output_scale=output_scale)
    kwargs = dict(clip_actions=clip_actions, clip_log_std=clip_log_std, min_log_std=min_log_std)
    kwargs.update(max_log_std=max_log_std, reduction=reduction)
    log_std = {"initial_log_std": initial_log_std, "fixed_log_std": fixed_log_std}
    spaces = (observation_space, action_space, device)
    return _instantiate("gaussianmixin", spaces, kwargs, legacy, network, output, return_source, log_std)


def multivariate_gaussian_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    clip_actions: bool = False,
    clip_log_std: bool = True,
    min_log_std: float = -20,
    max_log_std: float = 2,
    input_shape: Shape = _INPUT,
    hiddens: list = _HIDDENS,
    hidden_activation: list = _ACTIVATIONS,
    output_shape: Shape = _OUTPUT,
    output_activation: str | None = _TANH,
    output_scale: float = _SCALE,
    *,
    initial_log_std: float = 0,
    fixed_log_std: bool = False,
    network: Network = [],
    output: str | Shape = "",
    return_source: bool = False,
) -> Model | str:
    """A :class:`~mixrl.models.torch.MultivariateGaussianMixin` model (arguments as :func:`gaussian_model`)."""
    legacy = dict(input_shape=input_shape, hiddens=hiddens, hidden_activation=hidden_activation)
    legacy.update(output_shape=output_shape, output_activation=output_activation, output_scale=output_scale)
    kwargs = dict(
        clip_actions=clip_actions, clip_log_std=clip_log_std, min_log_std=min_log_std, max_log_std=max_log_std
    )
    log_std = {"initial_log_std": initial_log_std, "fixed_log_std": fixed_log_std}
    spaces = (observation_space, action_space, device)
    return _instantiate("multivariategaussianmixin", spaces, kwargs, legacy, network, output, return_source, log_std)


def shared_model(
    observation_space: Space = None,
    action_space: Space = None,
    device: Device = None,
    structure: Sequence[str] | str = ["GaussianMixin", "DeterministicMixin"],
    roles: Sequence[str] = [],
    parameters: Sequence[Mapping[str, Any]] = [],
    single_forward_pass: bool = True,
    return_source: bool = False,
) -> Model | str:
    """One model serving several roles: a shared trunk and one head per role (SPEC 12.9).

    Args:
        structure: mixin class names (case-insensitive), one per role; a string is split on commas and
            ``""`` means ``["GaussianMixin", "DeterministicMixin"]``.
        roles: role names (Python identifiers), e.g. ``["policy", "value"]``.
        parameters: per role, the mixin's keywords plus ``output`` (or legacy ``output_shape``,
            ``output_activation``, ``output_scale``); the trunk is ``parameters[0]["network"]`` (or its legacy
            ``input_shape``/``hiddens``/``hidden_activation``). A token in a role's output creates ``<role>_layer``.
        single_forward_pass: reuse the trunk computed by ``roles[0]`` for the next role on the same states.
        return_source: return the source of an equivalent ``SharedModel`` class instead of a model.

    Raises:
        ValueError: lengths differ, fewer than 2 roles, two Gaussian-type roles, or an invalid description.
        TypeError: unknown parameter keys.
    """
    network, parsed = describe_shared(structure, roles, parameters)
    bases = tuple(dict.fromkeys(MIXIN_CLASSES[role.mixin.name] for role in parsed))
    cls = shared_class(bases)
    if return_source:
        model = cls(observation_space, action_space, "cpu", network, parsed, single_forward_pass)
        return shared_source(model, network, parsed)
    return cls(observation_space, action_space, device, network, parsed, single_forward_pass)
