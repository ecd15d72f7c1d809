"""The generated shared model: one trunk, one head per role.

Heads are ``<role>_layer`` Dense modules when a role's output has a token. ``__call__(inputs, role)``
computes the trunk once and then only the head of ``role`` (``role`` is static under ``jax.jit``).
There is no cache across calls (a cache cannot outlive one ``apply`` inside jit), so
``single_forward_pass`` is recorded in the description but changes nothing: each call computes its
trunk, and an agent that jits policy and value together lets XLA share the common work.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn

from mixrl.models.jax import Model
from mixrl.utils.model_instantiators._compile import compile_expression
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._kinds import RECURRENT_PARAMETERS
from mixrl.utils.model_instantiators._layers import resolve_units
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.model_instantiators.jax._builder import HEAD, Head, Step, dry_run, evaluate, plan_network, spaces_of
from mixrl.utils.model_instantiators.jax._models import (
    MIXIN_CLASSES,
    Generated,
    LogStd,
    build_containers,
    width_for,
)
from mixrl.utils.model_instantiators.jax._ops import OPS


@dataclass(frozen=True)
class SharedPlan:
    """Evaluation plan of a shared model: token readers, trunk containers, one head per role, the log-std."""

    readers: tuple
    steps: tuple[Step, ...]
    heads: Mapping[str, Head]  # role -> head (``layer``: units of ``<role>_layer`` or None)
    log_std_role: str | None  # the Gaussian-type role returning log_std_parameter
    log_std: LogStd | None
    single_forward_pass: bool

    @property
    def recurrent(self) -> Step | None:
        """The recurrent container, or None."""
        return next((step for step in self.steps if step.recurrent), None)


class _Shared(Generated):
    """A generated multi-role model; ``shared_class`` adds the mixins of its roles as bases."""

    _mixrl_bases = ()  # the mixins (set by shared_class; not annotated: Flax would make it a field)

    def __init__(
        self,
        observation_space: Any = None,
        action_space: Any = None,
        device: Any = None,
        network: Sequence[Container] = (),
        roles: Sequence[Role] = (),
        single_forward_pass: bool = True,
        recurrent: Mapping[str, int] = RECURRENT_PARAMETERS,
        parent: Any = None,
        name: str | None = None,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device, parent, name)
        if not roles:
            self._mixrl_not_cloned(parent, "shared_model")
            return
        readers, steps = plan_network(network, self)
        heads, log_std, log_std_role = {}, None, None
        for role in roles:
            output, units = role.output, None
            if output.token is not None:
                units = resolve_units(output.units, self.num_observations, self.num_actions)
            size = self.num_actions if units is None else units
            if role.mixin.log_std:
                log_std, log_std_role = LogStd(size, **role.log_std), role.name
            node = compile_expression(output.expression.tree, {output.token: HEAD}, spaces_of(self), OPS)
            what = f"output {output.expression.text!r} of role {role.name!r}"
            heads[role.name] = Head(what, units, node, width_for(role.mixin, size, self.num_actions))
        dry_run(self, readers, steps, list(heads.values()))
        self._plan = SharedPlan(readers, steps, heads, log_std_role, log_std, bool(single_forward_pass))
        self._mixrl_recurrent_parameters(recurrent)
        for role in roles:
            MIXIN_CLASSES[role.mixin.name].__init__(self, **role.kwargs, role=role.name)

    def setup(self) -> None:
        plan = self._plan
        build_containers(self, plan.steps)
        for role, head in plan.heads.items():
            if head.layer is not None:
                setattr(self, f"{role}_layer", nn.Dense(head.layer))
        if plan.log_std is not None:
            self.log_std_parameter = plan.log_std.value(self)

    def __call__(self, inputs: Mapping[str, Any], role: str = "") -> tuple:
        """The trunk, then the head of ``role``: ``(output, log_std_parameter, outputs)`` or ``(output, outputs)``.

        Raises:
            ValueError: ``role`` is not one of the model's roles.
        """
        plan = self._plan
        head = plan.heads.get(role)
        if head is None:
            raise ValueError(f"unknown role {role!r} for {type(self).__name__}: expected one of {list(plan.heads)}")
        env = evaluate(self, plan.readers, plan.steps, inputs)
        if head.layer is not None:
            env[HEAD] = getattr(self, f"{role}_layer")(env[plan.steps[-1].name])
        output, outputs = head.node(env), self._mixrl_outputs(env)
        return (output, self.log_std_parameter, outputs) if role == plan.log_std_role else (output, outputs)


@functools.cache
def shared_class(bases: tuple[type, ...]) -> type:
    """``class SharedModel(*bases, Model)`` for the given mixins (one class per combination)."""
    namespace = {"__module__": __name__, "__qualname__": "SharedModel", "_mixrl_bases": bases}
    namespace["__init__"] = _Shared.__init__  # before the mixins' own __init__ in the MRO
    return type("SharedModel", (*bases, _Shared), namespace)
