"""``return_source=True``: the text of a Flax class equivalent to a generated JAX model.

The text is rendered from the model's plan (the same :class:`~._builder.Op` entries its ``setup()``
builds) and the checked expression trees; it imports mixrl and runs standalone, but mixrl itself never
executes it. Imports are chosen from what the rendered body uses.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from mixrl.utils.model_instantiators._description import Container, Description
from mixrl.utils.model_instantiators._kinds import Mixin
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.model_instantiators._source import call as _call
from mixrl.utils.model_instantiators._source import expression_source as render
from mixrl.utils.model_instantiators._source import indent as _indent
from mixrl.utils.model_instantiators._source import literal, signature
from mixrl.utils.model_instantiators.jax._builder import Step
from mixrl.utils.model_instantiators.jax._ops import FLAX_NAMES

_TOKEN_LINES = {
    "STATES": 'states = unflatten_tensorized_space(self.observation_space, inputs["states"])',
    "ACTIONS": 'taken_actions = unflatten_tensorized_space(self.action_space, inputs["taken_actions"])',
    "STATES_ACTIONS": 'states_actions = jnp.concatenate([inputs["states"], inputs["taken_actions"]], axis=-1)',
}
FUNCTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (f"nn.{flax}", {}) for name, flax in FLAX_NAMES.items()},
    "concatenate": ("jnp.concatenate", {"axis": -1}),
    "permute": ("jnp.transpose", {}),
}
_IMPORTS = (  # (text the body uses, import line)
    ("jnp.", "import jax.numpy as jnp"),
    ("Recurrent", "from mixrl.utils.model_instantiators.jax import Recurrent, RecurrentSequential"),
    ("one_hot_encoding(", "from mixrl.utils.model_instantiators.jax import one_hot_encoding"),
    ("unflatten_tensorized_space(", "from mixrl.utils.spaces.jax import unflatten_tensorized_space"),
)


def expression_source(tree: ast.expr, names: Mapping[str | None, str]) -> str:
    """Python text of a checked expression tree with jax.numpy / flax calls (tokens renamed through ``names``)."""
    return render(tree, names, FUNCTIONS)


def _containers(steps: Sequence[Step]) -> list[str]:
    lines = []
    for step in steps:
        if step.ops:
            kind = "RecurrentSequential" if step.recurrent else "nn.Sequential"
            entries = [f"    {op.source()}," for op in step.ops]
            lines += [f"self.{step.name}_container = {kind}(", "    [", *_indent(entries, 1), "    ]", ")"]
    return lines


def _log_std(plan: Any) -> list[str]:
    if plan.log_std is None:
        return []
    value = f"jnp.full(({plan.log_std.size},), {float(plan.log_std.initial_log_std)!r})"
    if plan.log_std.fixed_log_std:
        return [f"self.log_std_parameter = {value}  # fixed_log_std: a constant, not a parameter"]
    return [f'self.log_std_parameter = self.param("log_std_parameter", lambda _: {value})']


def _trunk(steps: Sequence[Step]) -> list[str]:
    tokens = set().union(*(step.container.input.tokens for step in steps))
    lines = [line for token, line in _TOKEN_LINES.items() if token in tokens]
    for step in steps:
        name, value = step.name, expression_source(step.container.input.tree, {})
        if not step.ops:
            lines.append(f"{name} = {value}")
        elif step.recurrent:
            arguments = [value, 'inputs["rnn"]', 'inputs.get("terminated")', "self.sequence_length", "self.training"]
            lines += [f"{name}, rnn_states = self.{name}_container(", f"    {', '.join(arguments)}", ")"]
        else:
            lines.append(f"{name} = self.{name}_container({value})")
    return lines


def _recurrent(model: Any) -> tuple[list[str], list[str], list[str]]:
    """Signature parameters, constructor lines and the ``get_specification`` method of a recurrent model."""
    parameters = model.recurrent_parameters
    if parameters is None:
        return [], [], []
    specification = model.get_specification()["rnn"]
    sizes = ", ".join(f"({size[0]}, self.num_envs, {size[2]})" for size in specification["sizes"])
    method = [
        "",
        "    @nn.nowrap",
        "    def get_specification(self):",
        f'        return {{"rnn": {{"sequence_length": self.sequence_length, "sizes": [{sizes}]}}}}',
    ]
    attributes = ["self.num_envs = num_envs", "self.sequence_length = sequence_length"]
    return [f"{key}={value}" for key, value in parameters.items()], attributes, method


def _signature(extra: Sequence[str]) -> list[str]:
    return signature([*extra, "**kwargs"])


def _assemble(mixins: Sequence[Mixin], lines: list[str]) -> str:
    """Imports for what ``lines`` use, then ``lines``."""
    body = "\n".join(lines)
    header = ["import flax.linen as nn"] + [line for used, line in _IMPORTS[:1] if used in body]
    header += ["", "from mixrl.models.jax import Model"]
    header += sorted({f"from mixrl.models.jax.{mixin.module} import {mixin.name}" for mixin in mixins})
    header += [line for used, line in _IMPORTS[1:] if used in body]
    return "\n".join([*header, "", "", body]) + "\n"


def single_source(
    model: Any, description: Description, mixin: Mixin, kwargs: Mapping[str, Any], log_std: Mapping
) -> str:
    """Source of ``class <Kind>Model(<Kind>Mixin, Model)`` equivalent to the single-role ``model``."""
    plan, output = model._plan, description.output
    expression = expression_source(output.expression.tree, {output.token: plan.steps[-1].name} if output.token else {})
    parameters, attributes, specification = _recurrent(model)
    outputs = '{"rnn": rnn_states}' if attributes else "{}"
    returned = f"{expression}, self.log_std_parameter, {outputs}" if mixin.log_std else f"{expression}, {outputs}"
    lines = [f"class {mixin.model}({mixin.name}, Model):"]
    lines += _signature([*(f"{key}={literal(value)}" for key, value in kwargs.items()), 'role=""', *parameters])
    body = ["Model.__init__(self, observation_space, action_space, device, **kwargs)", *attributes]
    body += _call(f"{mixin.name}.__init__", [*(f"{key}={key}" for key in kwargs), "role=role"])
    lines += _indent(body, 2) + specification + ["", "    def setup(self):"]
    lines += _indent([*_containers(plan.steps), *_log_std(plan)], 2)
    lines += ["", '    def __call__(self, inputs, role=""):', *_indent([*_trunk(plan.steps), f"return {returned}"], 2)]
    return _assemble([mixin], lines)


def shared_source(model: Any, network: Sequence[Container], roles: Sequence[Role]) -> str:
    """Source of ``class SharedModel(<mixins>, Model)`` equivalent to the shared ``model``."""
    plan = model._plan
    mixins = list({role.mixin.name: role.mixin for role in roles}.values())
    last = plan.steps[-1].name
    used = set().union(*(role.output.expression.names for role in roles))
    used |= {last} if any(role.output.token for role in roles) else set()
    parameters, attributes, specification = _recurrent(model)
    names = [step.name for step in plan.steps if step.name in used] + (["rnn_states"] if attributes else [])
    outputs = '{"rnn": rnn_states}' if attributes else "{}"
    body = ["Model.__init__(self, observation_space, action_space, device, **kwargs)", *attributes]
    for role in roles:
        body += _call(
            f"{role.mixin.name}.__init__",
            [*(f"{k}={literal(v)}" for k, v in role.kwargs.items()), f'role="{role.name}"'],
        )
    setup = _containers(plan.steps)
    for role in roles:
        if role.output.token:
            setup.append(f"self.{role.name}_layer = nn.Dense(features={plan.heads[role.name].layer})")
        if role.name == plan.log_std_role:
            setup += _log_std(plan)
    call = [f"{', '.join(names)} = self.trunk(inputs)"]
    for role in roles:
        branch = [f"output = self.{role.name}_layer({last})"] if role.output.token else []
        expression = expression_source(role.output.expression.tree, {role.output.token: "output"})
        log_std = "self.log_std_parameter, " if role.name == plan.log_std_role else ""
        call += [f'if role == "{role.name}":', *_indent([*branch, f"return {expression}, {log_std}{outputs}"], 1)]
    call.append(f'raise ValueError(f"unknown role {{role!r}}: expected one of {[role.name for role in roles]}")')
    lines = [f"class SharedModel({', '.join(mixin.name for mixin in mixins)}, Model):"]
    lines += [*_signature(parameters), *_indent(body, 2), *specification, "", "    def setup(self):"]
    lines += _indent(setup, 2) + ["", "    def trunk(self, inputs):", '        """Shared containers."""']
    lines += _indent([*_trunk(plan.steps), f"return {', '.join(names)}"], 2)
    lines += ["", '    def __call__(self, inputs, role=""):', *_indent(call, 2)]
    return _assemble(mixins, lines)
