"""Rendering of ``return_source=True``, framework-free: the layout of the class every backend renders.

The text is for inspection and code generation only: mixrl never executes it. It is rendered from the
built model (so layer sizes are the inferred ones) and the checked expression trees; it imports mixrl and
runs standalone. A backend's ``_source`` module is the template; it supplies only its calls:

``FUNCTIONS``: expression function -> (callee text, constant keywords); ``TOKEN_LINES``: the line computing
each input token; ``IMPORTS`` / ``HELPERS``: (text the body uses, import line; ``""`` always) before and after
the mixin imports of ``PACKAGE``; ``MODEL_INIT``: the base constructor call; ``EXTRA_PARAMETERS``: last
constructor parameters; ``SETUP``: modules are created in ``setup()`` (Flax); ``CALL``: the forward method;
``container(model, step)``, ``layer(model, role)``, ``log_std(log_std)``: constructor text of a container, a
``<role>_layer`` and ``log_std_parameter``; ``recurrent(model, name, value)``: trunk lines of the recurrent
container; ``specification(model)``: the ``get_specification`` method; ``trunk_call(model, names)``:
``compute`` line(s) evaluating the shared trunk into ``names``.
"""

from __future__ import annotations

import ast
import copy
import inspect
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._shared import Role

TOKEN_NAMES = {
    "STATES": "states",
    "ACTIONS": "taken_actions",
    "STATES_ACTIONS": "states_actions",
    "OBSERVATION_SPACE": "self.observation_space",
    "ACTION_SPACE": "self.action_space",
}
Functions = Mapping[str, tuple[str, Mapping[str, Any]]]


class _Renderer(ast.NodeTransformer):
    """Tokens and head tokens to variable names, expression functions to the backend's calls."""

    def __init__(self, names: Mapping[str, str], functions: Functions) -> None:
        self.names, self.functions = names, functions

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.names.get(node.id, node.id), ast.Load())

    def visit_Call(self, node: ast.Call) -> ast.Call:
        name = node.func.id  # type: ignore[attr-defined]
        function, keywords = self.functions.get(name, (name, {}))
        args = [self.visit(arg) for arg in node.args]
        return ast.Call(
            ast.Name(function, ast.Load()), args, [ast.keyword(k, ast.Constant(v)) for k, v in keywords.items()]
        )


def expression_source(tree: ast.expr, names: Mapping[str | None, str], functions: Functions) -> str:
    """Python text of a checked expression tree (tokens renamed through ``names``).

    Args:
        functions: expression function -> (callee text, constant keywords), e.g.
            ``{"concatenate": ("torch.cat", {"dim": -1})}``; other names are kept.
    """
    renames = {**TOKEN_NAMES, **{key: value for key, value in names.items() if key is not None}}
    return ast.unparse(_Renderer(renames, functions).visit(copy.deepcopy(tree)))


def literal(value: Any) -> str:
    """``repr`` with double-quoted strings (the style of the rendered source)."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def indent(lines: Sequence[str], level: int) -> list[str]:
    return [" " * (4 * level) + line if line else "" for line in lines]


def call(function: str, arguments: Sequence[str]) -> list[str]:
    """``function(self, *arguments)`` on one line, or one argument per line when long."""
    line = f"{function}(self, {', '.join(arguments)})"
    return [line] if len(line) <= 100 else [f"{function}(", "    self,", *(f"    {a}," for a in arguments), ")"]


def signature(extra: Sequence[str]) -> list[str]:
    """``def __init__(self, observation_space=None, action_space=None, device=None, *extra):``."""
    parameters = ["observation_space=None", "action_space=None", "device=None", *extra]
    line = f"    def __init__(self, {', '.join(parameters)}):"
    if len(line) <= 100:
        return [line]
    return ["    def __init__(", "        self,", *(f"        {p}," for p in parameters), "    ):"]


def _header(template: ModuleType, mixins: Sequence[Any], body: str) -> list[str]:
    """Imports for what ``body`` uses: the framework, the model and mixins, then mixrl helpers."""
    lines = [line for used, line in template.IMPORTS if used in body]
    lines += sorted({f"from {template.PACKAGE}.{mixin.module} import {mixin.name}" for mixin in mixins})
    return lines + [line for used, line in template.HELPERS if used in body]


def model_source(model: Any, network: Sequence[Container], roles: Sequence[Role], template: ModuleType) -> str:
    """Source of ``class <Kind>Model(<Kind>Mixin, Model)`` (one role) or ``class SharedModel(<mixins>, Model)``."""
    plan, single, recurrent = model._plan, len(roles) == 1, model.recurrent_parameters
    mixins = list({role.mixin.name: role.mixin for role in roles}.values())
    last, outputs = network[-1].name, '{"rnn": rnn_states}' if recurrent else "{}"
    parameters = [] if recurrent is None else [f"{key}={value}" for key, value in recurrent.items()]
    body = [template.MODEL_INIT]
    body += [] if recurrent is None else ["self.num_envs = num_envs", "self.sequence_length = sequence_length"]
    modules = [line for step in plan.steps if step.entries for line in template.container(model, step)]
    for role in roles:
        values = [f"{key}={literal(value)}" for key, value in role.kwargs.items()]
        if single:
            parameters = [*values, 'role=""', *parameters]
            body += call(f"{role.mixin.name}.__init__", [*(f"{key}={key}" for key in role.kwargs), "role=role"])
        else:
            body += call(f"{role.mixin.name}.__init__", [*values, f'role="{role.name}"'])
            modules += [f"self.{role.name}_layer = {template.layer(model, role.name)}"] if role.output.token else []
        head = plan.heads[role.name]
        modules += [] if head.log_std is None else template.log_std(head.log_std)
    lines = [f"class {type(model).__name__}({', '.join(mixin.name for mixin in mixins)}, Model):"]
    lines += signature([*parameters, *template.EXTRA_PARAMETERS])
    if template.SETUP:
        lines += [*indent(body, 2), *template.specification(model), "", "    def setup(self):", *indent(modules, 2)]
    else:
        lines += [*indent([*body, "", *modules], 2), *template.specification(model)]
    tokens = set().union(*(container.input.tokens for container in network))
    trunk = [line for token, line in template.TOKEN_LINES.items() if token in tokens]
    for step in plan.steps:
        name, value = step.name, expression_source(step.container.input.tree, {}, template.FUNCTIONS)
        if step.recurrent:
            trunk += template.recurrent(model, name, value)
        else:
            trunk.append(f"{name} = self.{name}_container({value})" if step.entries else f"{name} = {value}")

    def returned(role: Role, name: str) -> str:
        expression = expression_source(role.output.expression.tree, {role.output.token: name}, template.FUNCTIONS)
        return f"return {expression}, {'self.log_std_parameter, ' if role.mixin.log_std else ''}{outputs}"

    forward = f'    def {template.CALL}(self, inputs, role=""):'
    if single:
        lines += ["", forward, *indent([*trunk, returned(roles[0], last)], 2)]
    else:
        used = set().union(*(role.output.expression.names for role in roles))
        used |= {last} if any(role.output.token for role in roles) else set()
        names = [step.name for step in plan.steps if step.name in used] + (["rnn_states"] if recurrent else [])
        compute = template.trunk_call(model, ", ".join(names))
        for role in roles:
            branch = [f"output = self.{role.name}_layer({last})"] if role.output.token else []
            compute += [f'if role == "{role.name}":', *indent([*branch, returned(role, "output")], 1)]
        compute.append(f'raise ValueError(f"unknown role {{role!r}}: expected one of {[role.name for role in roles]}")')
        lines += ["", "    def trunk(self, inputs):", '        """Shared containers."""']
        lines += [*indent([*trunk, f"return {', '.join(names)}"], 2), "", forward, *indent(compute, 2)]
    text = "\n".join(lines)
    return "\n".join([*_header(template, mixins, text), "", "", text]) + "\n"


def class_source(cls: type, values: Mapping[str, Any]) -> str:
    """Source of the hand-written class ``cls`` (e.g. ``TabularModel``) with ``values`` as constructor defaults.

    The text is the import block of the class's module (first to last import line) and the class
    itself, its ``__init__`` header rendered by :func:`signature` with every parameter after the spaces and
    device defaulting to ``values[name]`` (else its own default): one definition, so the rendered class
    builds the same model.
    """
    module = inspect.getsource(sys.modules[cls.__module__]).splitlines()
    first, *_, last = (i for i, line in enumerate(module) if line.startswith(("import ", "from ")))
    lines = inspect.getsource(cls).splitlines()
    start = lines.index("    def __init__(")
    end = next(i for i in range(start, len(lines)) if lines[i].endswith(":"))
    parameters = list(inspect.signature(cls).parameters.values())[3:]  # after the spaces and device
    header = signature([f"{p.name}={literal(values.get(p.name, p.default))}" for p in parameters])
    return "\n".join([*module[first : last + 1], "", "", *lines[:start], *header, *lines[end + 1 :]]) + "\n"
