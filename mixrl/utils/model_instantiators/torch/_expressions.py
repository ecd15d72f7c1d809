"""Evaluation of checked expressions (torch): each tree is compiled once into small callable nodes.

A node is called with the environment of one ``compute`` call (token values and container outputs by
name) and returns a value, so the per-call path walks no AST and never executes text. Nodes are plain
objects (no closures), so generated models deep-copy and pickle.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
import numpy as np
import torch

from mixrl.utils.spaces._common import leaf_shape
from mixrl.utils.spaces.torch import unflatten_tensorized_space

Env = dict[str, Any]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _concatenate(items: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(items, dim=1)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.nn.functional.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": torch.nn.functional.leaky_relu,
    "elu": torch.nn.functional.elu,
    "softplus": torch.nn.functional.softplus,
    "softsign": torch.nn.functional.softsign,
    "selu": torch.nn.functional.selu,
    "softmax": _softmax,
}


class Node:
    """A compiled expression: ``node(env)`` evaluates it."""

    __slots__ = ()

    def __call__(self, env: Env) -> Any:
        raise NotImplementedError


class Ref(Node):
    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, env: Env) -> Any:
        return env[self.key]


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, env: Env) -> Any:
        return self.value


class Apply(Node):
    """``function(*(arg(env) for arg in args))``: operators, calls and indexing."""

    __slots__ = ("function", "args")

    def __init__(self, function: Callable[..., Any], *args: Node) -> None:
        self.function, self.args = function, args

    def __call__(self, env: Env) -> Any:
        return self.function(*[arg(env) for arg in self.args])


class Items(Node):
    __slots__ = ("items",)

    def __init__(self, items: list[Node]) -> None:
        self.items = items

    def __call__(self, env: Env) -> list[Any]:
        return [item(env) for item in self.items]


class OneHot:
    """One-hot encoder of a Discrete or MultiDiscrete space (honours ``start``); index shifts cached per device."""

    def __init__(self, space: Any) -> None:
        if isinstance(space, gymnasium.spaces.Discrete):
            sizes, starts = np.array([space.n]), np.array([space.start])
        elif isinstance(space, gymnasium.spaces.MultiDiscrete):
            sizes, starts = space.nvec.reshape(-1), space.start.reshape(-1)
        else:
            raise ValueError(f"one_hot_encoding needs a Discrete or MultiDiscrete space, got {space!r}")
        self.width = int(sizes.sum())
        self.columns = len(sizes)
        self.shift = torch.as_tensor(np.cumsum(sizes) - sizes - starts, dtype=torch.int64)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        index = x.reshape(x.shape[0], -1)
        if index.shape[1] != self.columns:
            raise ValueError(f"one_hot_encoding: expected {self.columns} value(s) per sample, got {index.shape[1]}")
        if self.shift.device != x.device:
            self.shift = self.shift.to(x.device)
        out = torch.zeros(x.shape[0], self.width, dtype=torch.float32, device=x.device)
        return out.scatter_(1, index.long() + self.shift, 1.0)


def one_hot_encoding(
    space: gymnasium.spaces.Discrete | gymnasium.spaces.MultiDiscrete, x: torch.Tensor
) -> torch.Tensor:
    """One-hot encode Discrete / MultiDiscrete values (``start`` honoured; values are not range-checked).

    Args:
        space: ``Discrete(n, start)`` or ``MultiDiscrete(nvec, start)``.
        x: (batch, 1) or (batch,) Discrete values, (batch, *nvec.shape) MultiDiscrete values.

    Returns:
        float32 (batch, n) or (batch, sum(nvec)): the one-hots of the components, concatenated.

    Raises:
        ValueError: another space, or ``x`` has the wrong number of values per sample.
    """
    return OneHot(space)(x)


class Reader:
    """Value of the ``STATES`` / ``ACTIONS`` token: the flat input, reshaped or unflattened to its space.

    1-D Box-like spaces pass the tensor through untouched (no per-call unflattening on the hot path).
    """

    __slots__ = ("key", "space", "shape")

    def __init__(self, key: str, space: Any) -> None:
        self.key, self.space, self.shape = key, None, None
        if isinstance(space, (gymnasium.spaces.Tuple, gymnasium.spaces.Dict)):
            self.space = space
        elif space is not None and len(leaf_shape(space)) > 1:
            self.shape = leaf_shape(space)

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        x = inputs.get(self.key)
        if x is None:
            raise ValueError(f"the model's network reads inputs[{self.key!r}], which is missing")
        if self.shape is not None:
            return x.reshape(-1, *self.shape)
        if self.space is not None:
            return unflatten_tensorized_space(self.space, x)
        return x


class ConcatReader:
    """Value of the ``STATES_ACTIONS`` token: flat states and taken actions side by side, (batch, S + A)."""

    __slots__ = ()

    def __call__(self, inputs: Mapping[str, Any]) -> torch.Tensor:
        if inputs.get("taken_actions") is None:
            raise ValueError("the model's network reads STATES_ACTIONS but inputs['taken_actions'] is missing")
        return torch.cat([inputs["states"], inputs["taken_actions"]], dim=1)


def readers(tokens: set[str], observation_space: Any, action_space: Any) -> list[tuple[str, Any]]:
    """``(token, reader)`` pairs for the input tokens a network reads, in a fixed order."""
    makers = {
        "STATES": lambda: Reader("states", observation_space),
        "ACTIONS": lambda: Reader("taken_actions", action_space),
        "STATES_ACTIONS": ConcatReader,
    }
    return [(token, make()) for token, make in makers.items() if token in tokens]


def _unchecked(node: ast.expr, expected: str) -> TypeError:
    return TypeError(f"{ast.unparse(node)!r} is not part of a checked expression tree (expected {expected})")


def _constant(node: ast.expr) -> Any:
    """The value of a constant of a checked tree (indices, slice bounds, permutation dimensions)."""
    if not isinstance(node, ast.Constant):
        raise _unchecked(node, "a constant")
    return node.value


def _index(node: ast.expr) -> Any:
    if isinstance(node, ast.Tuple):
        return tuple(_index(item) for item in node.elts)
    if isinstance(node, ast.Slice):
        return slice(*(None if part is None else _constant(part) for part in (node.lower, node.upper, node.step)))
    return _constant(node)


def _space(node: ast.expr, spaces: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Subscript):
        return _space(node.value, spaces)[_constant(node.slice)]
    if not isinstance(node, ast.Name):
        raise _unchecked(node, "a space name")
    return spaces[node.id]


def compile_expression(tree: ast.expr, refs: Mapping[str, str], spaces: Mapping[str, Any]) -> Node:
    """Compile a tree checked by ``_common.parse_expression``.

    Args:
        tree: normalised tree.
        refs: environment key of a name, when it differs from the name (e.g. a token standing for a head).
        spaces: ``OBSERVATION_SPACE`` / ``ACTION_SPACE`` for ``one_hot_encoding``.

    Raises:
        ValueError: ``one_hot_encoding`` of a space that is neither Discrete nor MultiDiscrete.
    """

    def build(node: ast.expr) -> Node:
        if isinstance(node, ast.Constant):
            return Const(node.value)
        if isinstance(node, ast.Name):
            return Ref(refs.get(node.id, node.id))
        if isinstance(node, ast.BinOp):
            return Apply(_BINARY[type(node.op)], build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp):
            return Apply(_UNARY[type(node.op)], build(node.operand))
        if isinstance(node, ast.Subscript):
            return Apply(operator.getitem, build(node.value), Const(_index(node.slice)))
        if isinstance(node, ast.List):
            return Items([build(item) for item in node.elts])
        if isinstance(node, ast.Tuple):
            return Const(tuple(_constant(item) for item in node.elts))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            raise _unchecked(node, "a call of an allowed function")
        name, args = node.func.id, node.args
        if name == "one_hot_encoding":
            return Apply(OneHot(_space(args[0], spaces)), build(args[1]))
        if name == "permute":
            return Apply(torch.permute, build(args[0]), build(args[1]))
        if name == "concatenate":
            return Apply(_concatenate, build(args[0]))
        return Apply(ACTIVATION_FUNCTIONS[name], build(args[0]))

    return build(tree)
