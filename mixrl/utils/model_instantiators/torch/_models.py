"""Single-role model classes built by the instantiators, and the evaluation every generated model shares.

A generated model reads the input tokens, runs its containers in order, then the output expression.
State-dict names follow skrl 1.4: ``<name>_container.<i>.*`` (the single-role token layer is the
last module of the last container), ``<role>_layer.*`` for shared-model heads (see ``_shared``),
``log_std_parameter``.
A model with a recurrent layer has the recurrent-model contract: constructor keywords ``num_envs`` and
``sequence_length``, ``get_specification()`` from ``rnn_specification``, ``inputs["rnn"]`` in and the final
states out as ``outputs["rnn"]`` (one state list shared by every role of a shared model).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from mixrl.models.torch.base import Model
from mixrl.models.torch.categorical import CategoricalMixin
from mixrl.models.torch.deterministic import DeterministicMixin
from mixrl.models.torch.gaussian import GaussianMixin
from mixrl.models.torch.multicategorical import MultiCategoricalMixin
from mixrl.models.torch.multivariate_gaussian import MultivariateGaussianMixin
from mixrl.models.torch.rnn import rnn_specification
from mixrl.utils.model_instantiators._compile import Env, compile_expression
from mixrl.utils.model_instantiators._description import Description
from mixrl.utils.model_instantiators._kinds import MIXINS, RECURRENT_PARAMETERS, Mixin, check_recurrent
from mixrl.utils.model_instantiators._layers import resolve_units
from mixrl.utils.model_instantiators.torch._builder import (
    RNN_STATES,
    RecurrentStep,
    build_containers,
    evaluate_output,
    spaces_of,
)
from mixrl.utils.model_instantiators.torch._ops import OPS

MIXIN_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (CategoricalMixin, MultiCategoricalMixin, DeterministicMixin, GaussianMixin, MultivariateGaussianMixin)
}


class Generated(Model):
    """Evaluation shared by all generated models (see ``_builder.build_containers`` for the plan)."""

    _mixrl_recurrent: RecurrentStep | None
    _mixrl_description: dict[str, Any] | None

    def _mixrl_finish(self, recurrent: Mapping[str, int]) -> None:
        """After the containers are built: an empty description slot, and ``num_envs`` / ``sequence_length``.

        Raises:
            ValueError: ``num_envs`` or ``sequence_length`` is not a positive int.
        """
        self._mixrl_description = None
        check_recurrent(recurrent["num_envs"], recurrent["sequence_length"])
        if self._mixrl_recurrent is not None:
            self.num_envs, self.sequence_length = recurrent["num_envs"], recurrent["sequence_length"]

    @property
    def recurrent_parameters(self) -> dict[str, int] | None:
        """``{"num_envs": ..., "sequence_length": ...}`` of a recurrent model, else None."""
        if self._mixrl_recurrent is None:
            return None
        return {"num_envs": self.num_envs, "sequence_length": self.sequence_length}

    @property
    def description(self) -> dict[str, Any] | None:
        """The resolved description (a copy; plain data): ``model_from_config(model.description)`` rebuilds it.

        ``Model.save`` writes it beside the weights; None for a model not built by an instantiator.
        """
        return copy.deepcopy(self._mixrl_description)

    def get_specification(self) -> dict[str, Any]:
        """``{"rnn": {"sequence_length": L, "sizes": [(num_layers, num_envs, H), ...]}}`` if recurrent, else ``{}``."""
        if self._mixrl_recurrent is None:
            return {}
        return rnn_specification(self._mixrl_recurrent.rnn, self.num_envs, self.sequence_length)

    def _mixrl_trunk(self, inputs: Mapping[str, Any]) -> Env:
        env = {token: read(inputs) for token, read in self._mixrl_readers}
        for name, container, node in self._mixrl_steps:
            if isinstance(container, RecurrentStep):
                states = inputs.get("rnn")
                if states is None:
                    raise ValueError(
                        f"{type(self).__name__} is recurrent: inputs['rnn'] must hold the states shaped as "
                        f"get_specification()['rnn']['sizes'] {self.get_specification()['rnn']['sizes']}"
                    )
                terminated = inputs.get("terminated")
                x = node(env)
                env[name], env[RNN_STATES] = container(x, states, terminated, self.sequence_length, self.training)
            else:
                env[name] = container(node(env))
        return env

    @staticmethod
    def _mixrl_outputs(env: Env) -> dict[str, Any]:
        """The outputs dict of one call: the final recurrent states, if any (a new dict: mixins add keys)."""
        return {"rnn": env[RNN_STATES]} if RNN_STATES in env else {}

    def _mixrl_log_std(self, size: int, initial_log_std: float = 0, fixed_log_std: bool = False) -> None:
        data = torch.full((size,), float(initial_log_std))
        self.log_std_parameter = torch.nn.Parameter(data, requires_grad=not fixed_log_std)

    def _mixrl_width(self, mixin: Mixin, size: int | None) -> int | None:
        """Output width the mixin needs: the log-std size (Gaussian types), the action width (categoricals)."""
        if mixin.log_std:
            return size
        return None if mixin.name == "DeterministicMixin" else self.num_actions


class _SingleRole(Generated):
    """A single-role generated model; concrete classes bind ``__init__`` (ahead of the mixin's) and ``compute``."""

    _mixrl_mixin: Mixin

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        device: Any,
        description: Description,
        mixin_kwargs: Mapping[str, Any],
        log_std: Mapping[str, Any],
        recurrent: Mapping[str, int] = RECURRENT_PARAMETERS,
    ) -> None:
        mixin = self._mixrl_mixin
        Model.__init__(self, observation_space, action_space, device)
        MIXIN_CLASSES[mixin.name].__init__(self, **mixin_kwargs)
        output = description.output
        units = None if output.token is None else resolve_units(output.units, self.num_observations, self.num_actions)
        env = build_containers(self, description.network, head=units)
        last = description.network[-1].name
        self._mixrl_output = compile_expression(output.expression.tree, {output.token: last}, spaces_of(self), OPS)
        size = self.num_actions if units is None else units
        if mixin.log_std:
            self._mixrl_log_std(size, **log_std)
        evaluate_output(self._mixrl_output, env, f"output {output.expression.text!r}", self._mixrl_width(mixin, size))
        self._mixrl_finish(recurrent)
        self.to(self.device)


def _compute(self: _SingleRole, inputs: Mapping[str, Any], role: str = "") -> tuple[torch.Tensor, dict]:
    env = self._mixrl_trunk(inputs)
    return self._mixrl_output(env), self._mixrl_outputs(env)


def _compute_with_log_std(self: _SingleRole, inputs: Mapping[str, Any], role: str = "") -> tuple:
    env = self._mixrl_trunk(inputs)
    return self._mixrl_output(env), self.log_std_parameter, self._mixrl_outputs(env)


class CategoricalModel(CategoricalMixin, _SingleRole):
    """Generated categorical model: ``compute`` returns ``(net_output (batch, n), {})``."""

    _mixrl_mixin = MIXINS["categoricalmixin"]
    __init__ = _SingleRole.__init__
    compute = _compute


class MultiCategoricalModel(MultiCategoricalMixin, _SingleRole):
    """Generated multi-categorical model: ``compute`` returns ``(net_output (batch, sum(nvec)), {})``."""

    _mixrl_mixin = MIXINS["multicategoricalmixin"]
    __init__ = _SingleRole.__init__
    compute = _compute


class DeterministicModel(DeterministicMixin, _SingleRole):
    """Generated deterministic model: ``compute`` returns ``(output, {})``."""

    _mixrl_mixin = MIXINS["deterministicmixin"]
    __init__ = _SingleRole.__init__
    compute = _compute


class GaussianModel(GaussianMixin, _SingleRole):
    """Generated Gaussian model: ``compute`` returns ``(mean_actions, log_std_parameter, {})``."""

    _mixrl_mixin = MIXINS["gaussianmixin"]
    __init__ = _SingleRole.__init__
    compute = _compute_with_log_std


class MultivariateGaussianModel(MultivariateGaussianMixin, _SingleRole):
    """Generated multivariate Gaussian model: ``compute`` returns ``(mean_actions, log_std_parameter, {})``."""

    _mixrl_mixin = MIXINS["multivariategaussianmixin"]
    __init__ = _SingleRole.__init__
    compute = _compute_with_log_std


SINGLE_CLASSES = {
    cls.__name__: cls
    for cls in (CategoricalModel, MultiCategoricalModel, DeterministicModel, GaussianModel, MultivariateGaussianModel)
}
