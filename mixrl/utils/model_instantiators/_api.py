"""The public instantiator functions, written once for every backend (framework-free front end).

Each backend package exposes the bound methods of one ``Instantiators(BACKEND)`` as its module functions.
Two description styles are accepted: the definition style (``network=[...]``, ``output="..."``) and the
legacy ``hiddens`` API (``input_shape``, ``hiddens``, ``hidden_activation``, ``output_shape``,
``output_activation``, ``output_scale``; also positionally in that order). Its defaults apply whenever the
legacy style is used or no description is given: a 256-256 ReLU MLP on the states with a ``tanh`` output
(no output activation for the categorical models). Strings are parsed and checked, never executed;
``return_source=True`` renders the source of an equivalent class instead of building.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import gymnasium

from mixrl._logging import logger
from mixrl.utils.model_instantiators._config import Config, plan
from mixrl.utils.model_instantiators._description import LEGACY_KEYS, Container, LegacyDefault, describe
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._generated import model_class
from mixrl.utils.model_instantiators._kinds import (
    LOG_STD_PARAMETERS,
    MIXINS,
    RECURRENT_PARAMETERS,
    Mixin,
    check_recurrent,
)
from mixrl.utils.model_instantiators._shared import Role, check_role, describe_shared, single_role
from mixrl.utils.model_instantiators._sidecar import read_sidecar, resolved_description, sidecar_path
from mixrl.utils.model_instantiators._source import class_source, model_source
from mixrl.utils.spaces.description import MAX_SPACE_SIZE, declared_size

Space = Any
SPACES = ("observation_space", "action_space", "device")
NUM_ENVS, SEQUENCE_LENGTH = RECURRENT_PARAMETERS["num_envs"], RECURRENT_PARAMETERS["sequence_length"]
TABULAR_VARIANTS = ("epsilon-greedy",)
# the single-role functions' parameters after the spaces and device: positional (the mixin's settings but
# reduction, then the legacy keywords, whose defaults are shown and told apart from given values), keyword-only
LEGACY_PARAMETERS = {"input_shape": Shape.STATES, "hiddens": [256, 256], "hidden_activation": ["relu", "relu"]}
LEGACY_PARAMETERS.update({"output_shape": Shape.ACTIONS, "output_activation": None, "output_scale": 1.0})
KEYWORD_PARAMETERS = {"network": [], "output": "", "return_source": False, **RECURRENT_PARAMETERS}
SUMMARIES = {
    "categoricalmixin": "its output is (batch, n) logits (``unnormalized_log_prob``) or probabilities.",
    "multicategoricalmixin": "its output is (batch, sum(nvec)).",
    "deterministicmixin": "actions, state values or Q-values.",
    "gaussianmixin": "mean actions plus a state-independent ``log_std_parameter`` (shape (output size,)) filled with "
    "``initial_log_std``; ``fixed_log_std``: torch: ``requires_grad=False``, still saved; JAX: a constant.",
    "multivariategaussianmixin": "arguments as ``gaussian_model``.",
}


def signature(mixin: Mixin) -> inspect.Signature:
    """The signature of ``mixin``'s instantiator (see :data:`LEGACY_PARAMETERS`)."""
    legacy = {**LEGACY_PARAMETERS, "output_activation": mixin.output_activation}
    positional = {**dict.fromkeys(SPACES), **mixin.parameters, **{k: LegacyDefault(v) for k, v in legacy.items()}}
    keyword = {"reduction": positional.pop("reduction")} if "reduction" in positional else {}
    keyword.update({**(LOG_STD_PARAMETERS if mixin.log_std else {}), **KEYWORD_PARAMETERS})
    kinds = [(positional, inspect.Parameter.POSITIONAL_OR_KEYWORD), (keyword, inspect.Parameter.KEYWORD_ONLY)]
    return inspect.Signature(
        [inspect.Parameter(k, kind, default=v) for values, kind in kinds for k, v in values.items()]
    )


@dataclass(frozen=True)
class Backend:
    """What a backend adds: its generated and tabular model classes, its ``_source`` module and ``finish``.

    ``generated``, the base of the generated classes (:func:`._generated.model_class` puts the mixins ahead), is
    built as ``cls(observation_space, action_space, device, network=, roles=, single_forward_pass=, recurrent=)``;
    ``finish`` runs on every model returned (JAX: initialise its parameters; torch models are complete once built).
    """

    generated: type
    mixin_classes: Mapping[str, type]
    template: ModuleType
    tabular_class: type
    finish: Callable[[Any], Any] = lambda model: None


class Instantiators:
    """The instantiator functions of one backend (see the module docstring).

    The arguments they share:

    * ``observation_space`` / ``action_space``: int, sequence of ints, gymnasium space or None; ``device``: as
      for the backend's ``Model``; then the mixin's settings (as its ``__init__``);
    * ``input_shape``, ``hiddens``, ``hidden_activation``, ``output_shape``, ``output_activation``,
      ``output_scale``: the legacy style; ``network``: containers ``[{name, input, layers, activations}, ...]``
      and ``output``: the output expression (the definition style);
    * ``return_source``: return the source of an equivalent class instead of a model;
    * ``num_envs`` / ``sequence_length`` (recurrent networks only: one ``gru``/``lstm``/``rnn`` layer first in its
      container, ignored otherwise): the rollout batch size in ``get_specification()["rnn"]["sizes"]`` and the
      training sequence length.

    Each returns the model (JAX: initialised with its own key), or its source with ``return_source``, and raises
    TypeError when both description styles are given or for an unknown keyword, ValueError for an invalid
    description (the message names the bad part and the allowed values).
    """

    categorical_model: Callable[..., Any]
    multicategorical_model: Callable[..., Any]
    deterministic_model: Callable[..., Any]
    gaussian_model: Callable[..., Any]
    multivariate_gaussian_model: Callable[..., Any]

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        for kind, mixin in MIXINS.items():
            setattr(self, mixin.function, self._function(kind, mixin))

    def _function(self, kind: str, mixin: Mixin) -> Callable[..., Any]:
        """The instantiator of ``mixin``: its arguments bound to :func:`signature`, then :meth:`_single`."""
        bound = signature(mixin)

        def function(*args: Any, **kwargs: Any) -> Any:
            arguments = bound.bind(*args, **kwargs)
            arguments.apply_defaults()
            return self._single(kind, arguments.arguments)

        function.__name__ = function.__qualname__ = mixin.function
        function.__signature__ = bound  # type: ignore[attr-defined]
        function.__doc__ = f"A ``{mixin.name}`` model: {SUMMARIES[kind]}\n\n{type(self).__doc__}"
        return function

    def _single(self, kind: str, arguments: Mapping[str, Any]) -> Any:
        """A single-role model of the mixin ``kind`` (lower-case class name) from the instantiator's ``locals()``."""
        mixin = MIXINS[kind]
        kwargs = {key: arguments[key] for key in mixin.parameters}
        log_std = {key: arguments[key] for key in LOG_STD_PARAMETERS} if mixin.log_std else {}
        legacy = {key: arguments[key] for key in LEGACY_KEYS}
        parsed = describe(arguments["network"], arguments["output"], legacy, mixin.output_activation)
        role = single_role(mixin, kwargs, log_std, parsed)
        return self._build(mixin.model, mixin.function, parsed.network, [role], arguments)

    def _build(
        self, name: str, function: str, network: tuple[Container, ...], roles: list[Role], arguments: Mapping[str, Any]
    ) -> Any:
        """``class <name>(<mixins of the roles>, Model)``: the model (finished, described), or its source.

        A parameter or space with no plain form leaves the model without a resolved description (logged).

        Raises:
            ValueError: an invalid recurrent keyword or role setting, a space too large, or the network does not fit
                the spaces.
        """
        recurrent = {key: arguments[key] for key in RECURRENT_PARAMETERS}
        check_recurrent(*recurrent.values())
        for key in ("observation_space", "action_space"):
            if (size := declared_size(arguments[key])) > MAX_SPACE_SIZE:
                raise ValueError(f"{key} of {size} elements, above the limit of {MAX_SPACE_SIZE}")
        for role in roles:
            check_role(role, arguments["action_space"])
        bases = tuple(dict.fromkeys(self.backend.mixin_classes[role.mixin.name] for role in roles))
        cls = model_class(self.backend.generated, bases, name, function)
        single_forward_pass, return_source = arguments.get("single_forward_pass", True), arguments["return_source"]
        model = cls(
            arguments["observation_space"],
            arguments["action_space"],
            "cpu" if return_source else arguments["device"],
            network=network,
            roles=roles,
            single_forward_pass=single_forward_pass,
            recurrent=recurrent,
        )
        if return_source:
            return model_source(model, network, roles, self.backend.template)
        self.backend.finish(model)
        spaces = (model.observation_space, model.action_space)
        try:
            description = resolved_description(roles, single_forward_pass, model.recurrent_parameters, spaces)
            model.__dict__["_mixrl_description"] = description
        except ValueError as error:
            logger.warning(
                f"{type(model).__name__}: no resolved description ({error}); saving writes no sidecar and "
                "load_model cannot rebuild this model"
            )
        return model

    def shared_model(
        self,
        observation_space: Space = None,
        action_space: Space = None,
        device: Any = None,
        structure: Sequence[str] | str = ["GaussianMixin", "DeterministicMixin"],
        roles: Sequence[str] = [],
        parameters: Sequence[Mapping[str, Any]] = [],
        single_forward_pass: bool = True,
        return_source: bool = False,
        *,
        num_envs: int = NUM_ENVS,
        sequence_length: int = SEQUENCE_LENGTH,
    ) -> Any:
        """One model serving several roles: a shared trunk and one head per role.

        Args:
            structure: mixin class names (case-insensitive), one per role; a string is split on commas and
                ``""`` means ``["GaussianMixin", "DeterministicMixin"]``.
            roles: role names (Python identifiers), e.g. ``["policy", "value"]``.
            parameters: per role, the mixin's keywords plus ``output`` (or legacy ``output_shape``,
                ``output_activation``, ``output_scale``); the trunk is ``parameters[0]["network"]`` (or its legacy
                ``input_shape``/``hiddens``/``hidden_activation``). A token in a role's output creates ``<role>_layer``.
            single_forward_pass: torch: reuse the trunk computed by ``roles[0]`` for the next role on the same
                states (and recurrent inputs); JAX: only saved in the description (no cache survives jit).
            num_envs, sequence_length: every role returns the same final states.

        Raises:
            ValueError: lengths differ, fewer than 2 roles, two Gaussian-type roles, or an invalid description.
            TypeError: unknown parameter keys.
        """
        network, parsed = describe_shared(structure, roles, parameters)
        return self._build("SharedModel", "shared_model", network, parsed, locals())

    def tabular_model(
        self,
        observation_space: Space = None,
        action_space: Space = None,
        device: Any = None,
        *,
        num_envs: int = 1,
        variant: Literal["epsilon-greedy"] = "epsilon-greedy",
        epsilon: float = 0.1,
        return_source: bool = False,
    ) -> Any:
        """A ``TabularMixin`` model: a Q-table ``q_table`` (num_envs, n_observations, n_actions) of zeros.

        ``act`` is per environment row ``argmax(q_table[env, state])`` (ties: the lowest index), replaced with
        probability ``epsilon`` by a uniform random action (greedy in eval mode); (num_envs, 1) ints offset by
        the action space's ``start``.

        Args:
            observation_space, action_space: ``gymnasium.spaces.Discrete`` spaces.
            num_envs: parallel environments: the rows of ``inputs["states"]`` and the table's first dimension.
            variant: ``"epsilon-greedy"`` (the only one); ``epsilon``: in [0, 1] (``model.epsilon``).

        Raises:
            ValueError: a space that is not Discrete, an unknown ``variant``, ``epsilon`` outside [0, 1] or
                ``num_envs`` not a positive int.
        """
        for space, what in ((observation_space, "observation space"), (action_space, "action space")):
            if not isinstance(space, gymnasium.spaces.Discrete):
                raise ValueError(f"tabular_model needs a Discrete {what}, got {space!r}")
        if variant not in TABULAR_VARIANTS:
            raise ValueError(f"unknown tabular_model variant {variant!r}: expected one of {list(TABULAR_VARIANTS)}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be a number in [0, 1], got {epsilon!r}")
        check_recurrent(num_envs, 1)
        cls, values = self.backend.tabular_class, {"num_envs": num_envs, "epsilon": float(epsilon)}
        model = cls(observation_space, action_space, device, **values)
        if return_source:
            return class_source(cls, values)
        self.backend.finish(model)
        return model

    def model_from_config(
        self, config: Config, observation_space: Any = None, action_space: Any = None, device: Any = None
    ) -> Any:
        """Build the model(s) a configuration document describes (the shapes: :mod:`._config`).

        ``config`` is a mapping, the text of a YAML document (a ``str`` with a line break) or the path of a YAML
        file, read with :func:`._config.load_yaml` (no aliases, bounded size and depth). A model's ``description``
        (also its sidecar) is such a document.

        Args:
            observation_space, action_space: the model's spaces; when None, the document's ``observation_space`` /
                ``action_space`` (plain data, as in a saved description) are used.

        Returns:
            the model; for the skrl runner shape a dict role -> model, where every role maps to the same instance
            when ``separate`` is false and to its own model otherwise.

        Raises:
            FileNotFoundError: ``config`` names a file that does not exist.
            ValueError: invalid YAML, an unknown class or key (the message lists the allowed ones), or an invalid
                description.
            TypeError: invalid parameter types for a mixin.
        """
        request = plan(config)
        observation_space = request.spaces.get("observation_space") if observation_space is None else observation_space
        action_space = request.spaces.get("action_space") if action_space is None else action_space
        models = [
            getattr(self, build.function)(observation_space, action_space, device, **build.kwargs)
            for build in request.builds
        ]
        if not request.runner:
            return models[0]
        return {role: model for build, model in zip(request.builds, models, strict=True) for role in build.roles}

    def load_model(self, path: str | os.PathLike, device: Any = None) -> Any:
        """Rebuild a model from its sidecar ``<path>.model.yaml`` (:meth:`model_from_config`), then loads ``path``.

        Returns:
            the model, in eval mode (as after ``Model.load``).

        Raises:
            FileNotFoundError: the weights file does not exist.
            ValueError: the sidecar is missing, corrupted or not a valid description (the message names it), or the
                weights do not match the rebuilt model.
        """
        description = read_sidecar(path)
        if "models" in description:
            raise ValueError(f"{sidecar_path(path)}: describes several models (a runner document), not one")
        try:
            model = self.model_from_config(description, device=device)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{sidecar_path(path)}: not a valid model description: {error}") from None
        model.load(path)
        return model
