"""Rendering of ``return_source=True``, framework-free: expressions and layout helpers for the backend templates.

The text is for inspection and code generation only: mixrl never executes it. A backend template
(``<backend>/_source.py``) lays out the class; this module renders checked expression trees with the
backend's function names and formats calls and signatures the same way on every backend.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping, Sequence
from typing import Any

TOKEN_NAMES = {
    "STATES": "states",
    "ACTIONS": "taken_actions",
    "STATES_ACTIONS": "states_actions",
    "OBSERVATION_SPACE": "self.observation_space",
    "ACTION_SPACE": "self.action_space",
}


class _Renderer(ast.NodeTransformer):
    """Tokens and head tokens to variable names, expression functions to the backend's calls."""

    def __init__(self, names: Mapping[str, str], functions: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
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


def expression_source(
    tree: ast.expr, names: Mapping[str | None, str], functions: Mapping[str, tuple[str, Mapping[str, Any]]]
) -> str:
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
