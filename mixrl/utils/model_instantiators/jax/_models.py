"""Single-role Flax model classes built by the JAX instantiators, and what every generated model shares.

A generated model is a setup-style Flax module: ``setup()`` creates one ``nn.Sequential`` per container
(``<name>_container``, entries ``layers_<i>`` in the order layer, activation, layer, ...; the single-role
token layer is the last entry of the last container) and ``log_std_parameter`` for the Gaussian kinds;
``__call__(inputs, role)`` reads the input tokens, runs the containers in order, then the output
expression. The description lives in the plain attribute ``_plan``, which ``Model.clone`` copies to the
clones Flax makes in ``init``/``apply``; a clone's constructor receives only the spaces and device.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixrl.models.jax import (
    CategoricalMixin,
    DeterministicMixin,
    GaussianMixin,
    Model,
    MultiCategoricalMixin,
    MultivariateGaussianMixin,
)
from mixrl.utils.model_instantiators._compile import Node, compile_expression
from mixrl.utils.model_instantiators._description import Description
from mixrl.utils.model_instantiators._kinds import MIXINS, RECURRENT_PARAMETERS, Mixin
from mixrl.utils.model_instantiators._layers import resolve_units
from mixrl.utils.model_instantiators.jax._builder import (
    RNN_STATES,
    Env,
    Head,
    Step,
    dry_run,
    evaluate,
    plan_network,
    sample_structs,
    spaces_of,
)
from mixrl.utils.model_instantiators.jax._ops import OPS
from mixrl.utils.model_instantiators.jax._recurrent import state_sizes

MIXIN_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (CategoricalMixin, MultiCategoricalMixin, DeterministicMixin, GaussianMixin, MultivariateGaussianMixin)
}


@dataclass(frozen=True)
class LogStd:
    """``log_std_parameter``: (size,) filled with ``initial_log_std``; a constant outside ``params`` when fixed."""

    size: int
    initial_log_std: float = 0
    fixed_log_std: bool = False

    def value(self, module: nn.Module) -> jax.Array:
        """The parameter (or constant) of ``module``, created in its ``setup()``."""
        initial = jnp.full((self.size,), float(self.initial_log_std), dtype=jnp.float32)
        return initial if self.fixed_log_std else module.param("log_std_parameter", lambda _: initial)


@dataclass(frozen=True)
class SinglePlan:
    """Evaluation plan of a single-role model: token readers, containers, output node, log-std."""

    readers: tuple
    steps: tuple[Step, ...]
    output: Node
    log_std: LogStd | None

    @property
    def recurrent(self) -> Step | None:
        """The recurrent container, or None."""
        return next((step for step in self.steps if step.recurrent), None)


def width_for(mixin: Mixin, size: int, num_actions: int | None) -> int | None:
    """Output width the mixin needs: the log-std size (Gaussian kinds), the action width (categoricals)."""
    if mixin.log_std:
        return size
    return None if mixin.name == "DeterministicMixin" else num_actions


def build_containers(module: nn.Module, steps: Sequence[Step]) -> None:
    """Inside ``setup()``: one ``nn.Sequential`` named ``<name>_container`` per container with layers."""
    for step in steps:
        if step.ops:
            setattr(module, f"{step.name}_container", step.build())


class Generated(Model):
    """Accessors shared by every generated model (the plan is in the plain attribute ``_plan``)."""

    @property
    def description(self) -> dict[str, Any] | None:
        """The resolved description (a copy; plain data): ``model_from_config(model.description)`` rebuilds it.

        :func:`~mixrl.utils.model_instantiators.jax.save_model` writes it beside the weights; None when a
        parameter has no plain form.
        """
        return copy.deepcopy(self.__dict__.get("_mixrl_description"))

    @property
    def recurrent_parameters(self) -> dict[str, int] | None:
        """``{"num_envs": ..., "sequence_length": ...}`` of a recurrent model, else None."""
        if self._plan.recurrent is None:
            return None
        return {"num_envs": self.num_envs, "sequence_length": self.sequence_length}

    @nn.nowrap
    def get_specification(self) -> dict[str, Any]:
        """``{"rnn": {"sequence_length": L, "sizes": [(num_layers, num_envs, H), ...]}}`` if recurrent, else ``{}``."""
        step = self._plan.recurrent
        if step is None:
            return {}
        args = dict(step.ops[0].args)
        sizes = state_sizes(args["kind"], args["num_layers"], args["hidden_size"], self.num_envs)
        return {"rnn": {"sequence_length": self.sequence_length, "sizes": sizes}}

    @nn.nowrap
    def init_state_dict(
        self, role: str | Sequence[str] = "", inputs: Mapping[str, Any] = {}, key: jax.Array | None = None
    ) -> None:
        """Create ``state_dict`` (see :meth:`Model.init_state_dict`); harmless on an initialised model.

        The instantiators return models already initialised with their own key. Calling this
        again without ``inputs`` and ``key`` (e.g. a runner initialising every role) keeps the parameters, as
        the torch instantiated models do; pass a ``key`` to draw new ones. A recurrent model is initialised in
        the rollout layout, from zero states when ``inputs`` has no ``"rnn"``.
        """
        if key is None and not inputs and self.__dict__.get("_mixrl_state_dict") is not None:
            return
        if self._plan.recurrent is None:
            Model.init_state_dict(self, role, inputs, key)
            return
        inputs = dict(inputs) or {name: jnp.zeros(s.shape, s.dtype) for name, s in sample_structs(self).items()}
        if "rnn" not in inputs:
            rows = jnp.shape(inputs["states"])[0]
            sizes = self.get_specification()["rnn"]["sizes"]
            inputs["rnn"] = [jnp.zeros((size[0], rows, size[2])) for size in sizes]
        training, self.training = self.training, False
        try:
            Model.init_state_dict(self, role, inputs, key)
        finally:
            self.training = training

    @nn.nowrap
    def _mixrl_recurrent_parameters(self, recurrent: Mapping[str, int]) -> None:
        """``num_envs`` / ``sequence_length`` attributes of a recurrent model (validated by the instantiator)."""
        if self._plan.recurrent is not None:
            self.num_envs, self.sequence_length = recurrent["num_envs"], recurrent["sequence_length"]

    @staticmethod
    def _mixrl_outputs(env: Env) -> dict[str, Any]:
        """The outputs dict of one call: the final recurrent states, if any (a new dict: mixins add keys)."""
        return {"rnn": env[RNN_STATES]} if RNN_STATES in env else {}

    @nn.nowrap
    def _mixrl_not_cloned(self, parent: Any, what: str) -> None:
        """A constructor called without a description: Flax's clone (the plan is copied after), else an error."""
        if parent is None:
            raise TypeError(f"{type(self).__name__} is built by the instantiators: call {what}(...) instead")
        nn.Module.__post_init__(self)


class _SingleRole(Generated):
    """A single-role generated model; concrete classes bind ``__init__`` ahead of their mixin's.

    Class attribute ``_mixin`` (not annotated: Flax makes annotated attributes dataclass fields).
    """

    def __init__(
        self,
        observation_space: Any = None,
        action_space: Any = None,
        device: Any = None,
        description: Description | None = None,
        mixin_kwargs: Mapping[str, Any] = {},
        log_std: Mapping[str, Any] = {},
        recurrent: Mapping[str, int] = RECURRENT_PARAMETERS,
        parent: Any = None,
        name: str | None = None,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device, parent, name)
        mixin = self._mixin
        if description is None:
            self._mixrl_not_cloned(parent, mixin.function)
            return
        output = description.output
        units = None if output.token is None else resolve_units(output.units, self.num_observations, self.num_actions)
        readers, steps = plan_network(description.network, self, head=units)
        node = compile_expression(output.expression.tree, {output.token: steps[-1].name}, spaces_of(self), OPS)
        size = self.num_actions if units is None else units
        head = Head(f"output {output.expression.text!r}", None, node, width_for(mixin, size, self.num_actions))
        dry_run(self, readers, steps, [head])
        self._plan = SinglePlan(readers, steps, node, LogStd(size, **log_std) if mixin.log_std else None)
        self._mixrl_recurrent_parameters(recurrent)
        MIXIN_CLASSES[mixin.name].__init__(self, **mixin_kwargs)

    def setup(self) -> None:
        build_containers(self, self._plan.steps)
        if self._plan.log_std is not None:
            self.log_std_parameter = self._plan.log_std.value(self)

    def __call__(self, inputs: Mapping[str, Any], role: str = "") -> tuple:
        """``(output, log_std_parameter, outputs)`` for the Gaussian kinds, else ``(output, outputs)``.

        ``output`` is (batch, units); ``outputs`` holds the final states ``"rnn"`` of a recurrent model, else is empty.
        """
        plan = self._plan
        env = evaluate(self, plan.readers, plan.steps, inputs)
        output, outputs = plan.output(env), self._mixrl_outputs(env)
        return (output, self.log_std_parameter, outputs) if plan.log_std is not None else (output, outputs)


class CategoricalModel(CategoricalMixin, _SingleRole):
    """Generated categorical model: ``__call__`` returns ``(net_output (batch, n), {})``."""

    _mixin = MIXINS["categoricalmixin"]
    __init__ = _SingleRole.__init__


class MultiCategoricalModel(MultiCategoricalMixin, _SingleRole):
    """Generated multi-categorical model: ``__call__`` returns ``(net_output (batch, sum(nvec)), {})``."""

    _mixin = MIXINS["multicategoricalmixin"]
    __init__ = _SingleRole.__init__


class DeterministicModel(DeterministicMixin, _SingleRole):
    """Generated deterministic model: ``__call__`` returns ``(output, {})``."""

    _mixin = MIXINS["deterministicmixin"]
    __init__ = _SingleRole.__init__


class GaussianModel(GaussianMixin, _SingleRole):
    """Generated Gaussian model: ``__call__`` returns ``(mean_actions, log_std_parameter, {})``."""

    _mixin = MIXINS["gaussianmixin"]
    __init__ = _SingleRole.__init__


class MultivariateGaussianModel(MultivariateGaussianMixin, _SingleRole):
    """Generated multivariate Gaussian model: ``__call__`` returns ``(mean_actions, log_std_parameter, {})``."""

    _mixin = MIXINS["multivariategaussianmixin"]
    __init__ = _SingleRole.__init__


SINGLE_CLASSES = {
    cls.__name__: cls
    for cls in (CategoricalModel, MultiCategoricalModel, DeterministicModel, GaussianModel, MultivariateGaussianModel)
}
