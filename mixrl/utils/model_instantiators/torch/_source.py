"""``return_source=True``: the text of a Python class equivalent to a generated model.

The text is rendered from the built model (so layer sizes are the inferred ones) and the checked
expression trees; it imports mixrl and runs standalone, but mixrl itself never executes it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixrl.utils.model_instantiators._description import Container, Description, recurrent_container
from mixrl.utils.model_instantiators._expressions import ACTIVATIONS
from mixrl.utils.model_instantiators._kinds import Mixin
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.model_instantiators._source import call as _call
from mixrl.utils.model_instantiators._source import expression_source as render
from mixrl.utils.model_instantiators._source import indent as _indent
from mixrl.utils.model_instantiators._source import literal as _literal
from mixrl.utils.model_instantiators._source import signature as _signature

_TOKEN_LINES = {
    "STATES": 'states = unflatten_tensorized_space(self.observation_space, inputs["states"])',
    "ACTIONS": 'taken_actions = unflatten_tensorized_space(self.action_space, inputs["taken_actions"])',
    "STATES_ACTIONS": 'states_actions = torch.cat([inputs["states"], inputs["taken_actions"]], dim=-1)',
}
FUNCTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (f"nn.functional.{name}", {}) for name in ACTIVATIONS},
    "concatenate": ("torch.cat", {"dim": -1}),
    "permute": ("torch.permute", {}),
    "softmax": ("torch.softmax", {"dim": -1}),
    "tanh": ("torch.tanh", {}),
    "sigmoid": ("torch.sigmoid", {}),
}


def expression_source(tree: ast.expr, names: Mapping[str | None, str]) -> str:
    """Python text of a checked expression tree with torch calls (tokens renamed through ``names``)."""
    return render(tree, names, FUNCTIONS)


def module_source(module: torch.nn.Module) -> str:
    """Constructor call of a generated layer or activation module."""
    bias = getattr(module, "bias", None) is not None
    if isinstance(module, torch.nn.Linear):
        return f"nn.Linear(in_features={module.in_features}, out_features={module.out_features}, bias={bias})"
    if isinstance(module, torch.nn.Conv2d):
        return (
            f"nn.Conv2d(in_channels={module.in_channels}, out_channels={module.out_channels}, "
            f"kernel_size={module.kernel_size}, stride={module.stride}, padding={module.padding!r}, bias={bias})"
        )
    if isinstance(module, (torch.nn.GRU, torch.nn.LSTM, torch.nn.RNN)):
        extra = f", nonlinearity={module.nonlinearity!r}" if type(module) is torch.nn.RNN else ""
        return (
            f"nn.{type(module).__name__}(input_size={module.input_size}, hidden_size={module.hidden_size}, "
            f"num_layers={module.num_layers}, bias={module.bias}{extra}, batch_first=True)"
        )
    if isinstance(module, torch.nn.Flatten):
        return f"nn.Flatten(start_dim={module.start_dim}, end_dim={module.end_dim})"
    if isinstance(module, torch.nn.Softmax):
        return "nn.Softmax(dim=-1)"
    return f"nn.{type(module).__name__}()"


def _header(mixins: Sequence[Mixin], network: Sequence[Container], extra: Sequence[ast.expr] = ()) -> list[str]:
    """Imports: torch, Model, the mixins, and only the helpers the expressions use."""
    trees = [container.input.tree for container in network] + list(extra)
    calls = {node.func.id for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Call)}
    tokens = set().union(*(container.input.tokens for container in network))
    lines = ["import torch", "import torch.nn as nn", "", "from mixrl.models.torch.base import Model"]
    lines += sorted({f"from mixrl.models.torch.{mixin.module} import {mixin.name}" for mixin in mixins})
    if "one_hot_encoding" in calls:
        lines.append("from mixrl.utils.model_instantiators.torch import one_hot_encoding")
    if recurrent_container(network):
        lines.append("from mixrl.models.torch.rnn import rnn_specification, sequence_forward")
    if tokens & {"STATES", "ACTIONS"}:
        lines.append("from mixrl.utils.spaces.torch import unflatten_tensorized_space")
    return lines + ["", ""]


def _modules(model: torch.nn.Module, network: Sequence[Container]) -> list[str]:
    lines = []
    for container in network:
        modules = [module_source(module) for module in getattr(model, f"{container.name}_container")]
        body = [f"    {source}," for source in modules]
        lines += (
            [f"self.{container.name}_container = nn.Sequential(", *body, ")"]
            if body
            else [f"self.{container.name}_container = nn.Sequential()"]
        )
    return lines


def _log_std(model: torch.nn.Module, log_std: Mapping[str, Any]) -> list[str]:
    size, value = model.log_std_parameter.shape[0], float(log_std["initial_log_std"])
    trainable = not log_std["fixed_log_std"]
    return [f"self.log_std_parameter = nn.Parameter(torch.full(({size},), {value!r}), requires_grad={trainable})"]


def _trunk(model: torch.nn.Module, network: Sequence[Container]) -> list[str]:
    tokens = set().union(*(container.input.tokens for container in network))
    lines = [line for token, line in _TOKEN_LINES.items() if token in tokens]
    recurrent = recurrent_container(network)
    for container in network:
        name, value = container.name, expression_source(container.input.tree, {})
        if container is not recurrent:
            lines.append(f"{name} = self.{name}_container({value})")
            continue
        arguments = [f"self.{name}_container[0]", value, 'inputs["rnn"]', 'terminated=inputs.get("terminated")']
        arguments += ["sequence_length=self.sequence_length", "training=self.training"]
        lines += [f"{name}, rnn_states = sequence_forward(", *(f"    {a}," for a in arguments), ")"]
        if len(getattr(model, f"{name}_container")) > 1:
            lines.append(f"{name} = self.{name}_container[1:]({name})")
    return lines


def _recurrent(network: Sequence[Container]) -> tuple[list[str], list[str]]:
    """Constructor lines and the ``get_specification`` method of a recurrent model (empty otherwise)."""
    recurrent = recurrent_container(network)
    if recurrent is None:
        return [], []
    attributes = ["self.num_envs = num_envs", "self.sequence_length = sequence_length"]
    specification = f"rnn_specification(self.{recurrent.name}_container[0], self.num_envs, self.sequence_length)"
    return attributes, ["", "    def get_specification(self):", f"        return {specification}"]


def _recurrent_parameters(model: Any) -> list[str]:
    parameters = model.recurrent_parameters
    return [] if parameters is None else [f"{key}={value}" for key, value in parameters.items()]


def single_source(
    model: torch.nn.Module, description: Description, mixin: Mixin, kwargs: Mapping[str, Any], log_std: Mapping
) -> str:
    """Source of ``class <Kind>Model(<Kind>Mixin, Model)`` equivalent to the single-role ``model``."""
    network, output = description.network, description.output
    expression = expression_source(output.expression.tree, {output.token: network[-1].name} if output.token else {})
    attributes, specification = _recurrent(network)
    outputs = '{"rnn": rnn_states}' if attributes else "{}"
    returned = f"{expression}, self.log_std_parameter, {outputs}" if mixin.log_std else f"{expression}, {outputs}"
    arguments = [*(f"{key}={key}" for key in kwargs), "role=role"]
    lines = _header([mixin], network, [output.expression.tree])
    lines += [f"class {mixin.model}({mixin.name}, Model):"]
    lines += _signature(
        [*(f"{key}={_literal(value)}" for key, value in kwargs.items()), 'role=""', *_recurrent_parameters(model)]
    )
    body = [
        "Model.__init__(self, observation_space, action_space, device)",
        *_call(f"{mixin.name}.__init__", arguments),
        *attributes,
    ]
    body += ["", *_modules(model, network), *(_log_std(model, log_std) if mixin.log_std else [])]
    lines += _indent(body, 2) + specification + ["", '    def compute(self, inputs, role=""):']
    lines += _indent([*_trunk(model, network), f"return {returned}"], 2)
    return "\n".join(lines) + "\n"


def shared_source(model: torch.nn.Module, network: Sequence[Container], roles: Sequence[Role]) -> str:
    """Source of ``class SharedModel(<mixins>, Model)`` equivalent to the shared ``model``."""
    mixins = list({role.mixin.name: role.mixin for role in roles}.values())
    last = network[-1].name
    used = set().union(*(role.output.expression.names for role in roles))
    used |= {last} if any(role.output.token for role in roles) else set()
    attributes, specification = _recurrent(network)
    names = ", ".join(
        [*(container.name for container in network if container.name in used)] + (["rnn_states"] if attributes else [])
    )
    outputs = '{"rnn": rnn_states}' if attributes else "{}"
    body = ["Model.__init__(self, observation_space, action_space, device)"]
    for role in roles:
        arguments = [*(f"{k}={_literal(v)}" for k, v in role.kwargs.items()), f'role="{role.name}"']
        body += _call(f"{role.mixin.name}.__init__", arguments)
    body += [*attributes, "", *_modules(model, network)]
    for role in roles:
        if role.output.token:
            body.append(f"self.{role.name}_layer = {module_source(getattr(model, f'{role.name}_layer'))}")
        if role.mixin.log_std:
            body += _log_std(model, role.log_std)
    producer = model._mixrl_producer
    trunk_call, compute = "self.trunk(inputs)", []
    if producer is not None:
        trunk_call = f'self.shared_cache(role, inputs["states"], lambda states: {trunk_call}, producer="{producer}")'
        if attributes:  # the built model also compares the recurrent inputs of both passes
            compute.append('# the cache keys on inputs["states"]: pass one inputs["rnn"] list to every role')
    compute.append(f"{names} = {trunk_call}")
    for role in roles:
        branch = []
        if role.output.token:
            branch.append(f"output = self.{role.name}_layer({last})")
        expression = expression_source(
            role.output.expression.tree, {role.output.token: "output"} if role.output.token else {}
        )
        branch.append(
            f"return {expression}, " + (f"self.log_std_parameter, {outputs}" if role.mixin.log_std else outputs)
        )
        compute += [f'if role == "{role.name}":', *_indent(branch, 1)]
    compute.append(f'raise ValueError(f"unknown role {{role!r}}: expected one of {[role.name for role in roles]}")')
    lines = _header(mixins, network, [role.output.expression.tree for role in roles])
    lines += [f"class SharedModel({', '.join(mixin.name for mixin in mixins)}, Model):"]
    lines += [*_signature(_recurrent_parameters(model)), *_indent(body, 2), *specification, ""]
    lines += ["    def trunk(self, inputs):", '        """Shared containers."""', *_indent(_trunk(model, network), 2)]
    lines += [f"        return {names}", "", '    def compute(self, inputs, role=""):', *_indent(compute, 2)]
    return "\n".join(lines) + "\n"
