"""Model classes built by the instantiators: token readers, containers in order, then the output expression.

State-dict names follow skrl 1.4 (SPEC 12.8): ``<name>_container.<i>.*`` (the single-role token layer is the
last module of the last container), ``<role>_layer.*`` for shared-model heads, ``log_std_parameter``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixrl._logging import logger
from mixrl.models.torch.base import Model
from mixrl.models.torch.categorical import CategoricalMixin
from mixrl.models.torch.deterministic import DeterministicMixin
from mixrl.models.torch.gaussian import GaussianMixin
from mixrl.models.torch.multicategorical import MultiCategoricalMixin
from mixrl.models.torch.multivariate_gaussian import MultivariateGaussianMixin
from mixrl.utils.model_instantiators._common import MIXINS, Container, Description, Mixin, Role, resolve_units
from mixrl.utils.model_instantiators.torch._builder import build_containers, evaluate_output, spaces_of
from mixrl.utils.model_instantiators.torch._expressions import Env, Node, compile_expression

MIXIN_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (CategoricalMixin, MultiCategoricalMixin, DeterministicMixin, GaussianMixin, MultivariateGaussianMixin)
}
_HEAD = "#head"  # environment key of a shared-model role head (not an identifier: never a container name)


class _Generated(Model):
    """Evaluation shared by all generated models (see ``_builder.build_containers`` for the plan)."""

    def _mixrl_trunk(self, inputs: Mapping[str, Any]) -> Env:
        env = {token: read(inputs) for token, read in self._mixrl_readers}
        for name, container, node in self._mixrl_steps:
            env[name] = container(node(env))
        return env

    def _mixrl_log_std(self, size: int, initial_log_std: float = 0, fixed_log_std: bool = False) -> None:
        data = torch.full((size,), float(initial_log_std))
        self.log_std_parameter = torch.nn.Parameter(data, requires_grad=not fixed_log_std)

    def _mixrl_width(self, mixin: Mixin, size: int | None) -> int | None:
        """Output width the mixin needs: the log-std size (Gaussian types), the action width (categoricals)."""
        if mixin.log_std:
            return size
        return None if mixin.name == "DeterministicMixin" else self.num_actions


class _SingleRole(_Generated):
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
    ) -> None:
        mixin = self._mixrl_mixin
        Model.__init__(self, observation_space, action_space, device)
        MIXIN_CLASSES[mixin.name].__init__(self, **mixin_kwargs)
        output = description.output
        units = None if output.token is None else resolve_units(output.units, self.num_observations, self.num_actions)
        env = build_containers(self, description.network, head=units)
        last = description.network[-1].name
        self._mixrl_output = compile_expression(output.expression.tree, {output.token: last}, spaces_of(self))
        size = self.num_actions if units is None else units
        if mixin.log_std:
            self._mixrl_log_std(size, **log_std)
        evaluate_output(self._mixrl_output, env, f"output {output.expression.text!r}", self._mixrl_width(mixin, size))
        self.to(self.device)


def _compute(self: _SingleRole, inputs: Mapping[str, Any], role: str = "") -> tuple[torch.Tensor, dict]:
    return self._mixrl_output(self._mixrl_trunk(inputs)), {}


def _compute_with_log_std(self: _SingleRole, inputs: Mapping[str, Any], role: str = "") -> tuple:
    return self._mixrl_output(self._mixrl_trunk(inputs)), self.log_std_parameter, {}


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


class _Head:
    """One role of a shared model: optional ``<role>_layer`` on the last container, output node, log-std flag."""

    __slots__ = ("layer", "last", "output", "log_std")

    def __init__(self, layer: torch.nn.Module | None, last: str, output: Node, log_std: bool) -> None:
        self.layer, self.last, self.output, self.log_std = layer, last, output, log_std

    def __call__(self, model: Model, env: Env) -> tuple:
        if self.layer is not None:
            env = {**env, _HEAD: self.layer(env[self.last])}
        output = self.output(env)
        return (output, model.log_std_parameter, {}) if self.log_std else (output, {})


class _Shared(_Generated):
    """A generated multi-role model: one trunk, one head per role, optional single forward pass (SPEC 9.1)."""

    _mixrl_bases: tuple[type, ...] = ()

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        device: Any,
        network: Sequence[Container],
        roles: Sequence[Role],
        single_forward_pass: bool = True,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device)
        for role in roles:
            MIXIN_CLASSES[role.mixin.name].__init__(self, **role.kwargs, role=role.name)
        env = build_containers(self, network)
        last = network[-1].name
        self._mixrl_heads: dict[str, _Head] = {}
        for role in roles:
            output, layer, units = role.output, None, None
            if output.token is not None:
                units = resolve_units(output.units, self.num_observations, self.num_actions)
                layer = torch.nn.Linear(env[last].shape[-1], units)
                setattr(self, f"{role.name}_layer", layer)
            if role.mixin.log_std:
                self._mixrl_log_std(self.num_actions if units is None else units, **role.log_std)
            node = compile_expression(output.expression.tree, {output.token: _HEAD}, spaces_of(self))
            head = self._mixrl_heads[role.name] = _Head(layer, last, node, role.mixin.log_std)
            width = self._mixrl_width(role.mixin, self.num_actions if units is None else units)
            with torch.no_grad():
                role_env = env if layer is None else {**env, _HEAD: layer(env[last])}
            evaluate_output(head.output, role_env, f"output {output.expression.text!r} of role {role.name!r}", width)
        self._mixrl_producer = roles[0].name if single_forward_pass else None
        if single_forward_pass and any(token != "STATES" for token, _ in self._mixrl_readers):
            logger.warning("shared_model: the trunk reads ACTIONS, so single_forward_pass is off (it keys on states)")
            self._mixrl_producer = None
        self.to(self.device)

    def compute(self, inputs: Mapping[str, Any], role: str = "") -> tuple:
        """Trunk (cached between the producer role and the next role on the same states), then the role's head."""
        head = self._mixrl_heads.get(role)
        if head is None:
            raise ValueError(
                f"unknown role {role!r} for {type(self).__name__}: expected one of {list(self._mixrl_heads)}"
            )
        if self._mixrl_producer is None:
            return head(self, self._mixrl_trunk(inputs))
        env = self.shared_cache(role, inputs["states"], lambda _: self._mixrl_trunk(inputs), self._mixrl_producer)
        return head(self, env)

    def __reduce_ex__(self, protocol: int) -> tuple:
        """Pickle/deepcopy through the mixin bases (the class is built at run time)."""
        return _new_shared, (self._mixrl_bases,), self.__dict__


@functools.cache
def shared_class(bases: tuple[type, ...]) -> type:
    """``class SharedModel(*bases, Model)`` for the given mixins (one class per combination)."""
    namespace = {"__module__": __name__, "__qualname__": "SharedModel", "_mixrl_bases": bases}
    namespace["__init__"] = _Shared.__init__  # before the mixins' own __init__ in the MRO
    return type("SharedModel", (*bases, _Shared), namespace)


def _new_shared(bases: tuple[type, ...]) -> _Shared:
    cls = shared_class(bases)
    return cls.__new__(cls)
