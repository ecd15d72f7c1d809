"""Checked expression trees compiled into small callable nodes over a backend's ops table, framework-free.

A node is called with the environment of one forward pass (token values and container outputs by name), so
the per-call path walks no AST. Nodes are itemgetters and partials of module functions (they deep-copy and
pickle). The meaning of every operation is fixed here; an :class:`Ops` table only supplies the tensor calls:

* ``concatenate([a, b, ...])`` joins along the **last** axis;
* ``permute(x, dims)`` reorders the axes like ``numpy.transpose(x, dims)``;
* ``x[...]`` is NumPy-style indexing (an out-of-range integer index is an ``IndexError`` on every backend);
* ``one_hot_encoding(SPACE, x)``: float32 (batch, n) one-hots of Discrete values, or the concatenated
  one-hots of the MultiDiscrete components (``start`` honoured);
* activations apply elementwise (``softmax`` over the last axis); ``+ - * /`` and unary minus broadcast.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np

from mixrl.utils.spaces._common import leaf_shape

Env = dict[str, Any]

_BINARY: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: dict[type, Callable[..., Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


@dataclass(frozen=True)
class Ops:
    """The tensor operations an expression may call, on one backend (see the module docstring for meanings).

    ``one_hot(index, shift, width)``: ``index`` (batch, columns) integer-valued, ``shift`` a NumPy int vector
    added per column; returns float32 (batch, width) with a 1 at every ``index + shift``.
    """

    array: type  # the backend's array type
    concatenate: Callable[[list[Any]], Any]
    permute: Callable[[Any, tuple[int, ...]], Any]
    getitem: Callable[[Any, Any], Any]
    reshape: Callable[[Any, tuple[int, ...]], Any]
    unflatten: Callable[[Any, Any], Any]  # (space, flat (batch, size)) -> structured value
    one_hot: Callable[[Any, np.ndarray, int], Any]
    activations: Mapping[str, Callable[[Any], Any]]


Node = Callable[[Env], Any]  # a compiled expression: ``node(env)`` evaluates it


def _constant(value: Any, env: Env) -> Any:
    return value


def _apply(function: Callable[..., Any], args: tuple[Node, ...], env: Env) -> Any:
    """``function(*(arg(env) for arg in args))``: operators, calls and indexing."""
    return function(*[arg(env) for arg in args])


def _items(items: tuple[Node, ...], env: Env) -> list[Any]:
    return [item(env) for item in items]


def _const(value: Any) -> Node:
    return functools.partial(_constant, value)


def _call(function: Callable[..., Any], *args: Node) -> Node:
    return functools.partial(_apply, function, args)


ONE_HOT_DOC = """One-hot encode Discrete / MultiDiscrete values (``start`` honoured).

    Args:
        space: ``Discrete(n, start)`` or ``MultiDiscrete(nvec, start)``.
        x: (batch, 1) or (batch,) Discrete values, (batch, *nvec.shape) MultiDiscrete values.

    Returns:
        float32 (batch, n) or (batch, sum(nvec)): the one-hots of the components, concatenated.

    Raises:
        ValueError: another space, ``x`` has the wrong number of values per sample, or (concrete ``x``, not traced)
            a value is not an integer in its component's range ``[start, start + n)``.
    """


class OneHot:
    """One-hot encoder of a Discrete or MultiDiscrete space (honours ``start``; calls check no values: hot path)."""

    __slots__ = ("ops", "width", "columns", "shift", "low", "high")

    def __init__(self, space: Any, ops: Ops) -> None:
        if isinstance(space, gymnasium.spaces.Discrete):
            sizes, starts = np.array([space.n]), np.array([space.start])
        elif isinstance(space, gymnasium.spaces.MultiDiscrete):
            sizes, starts = space.nvec.reshape(-1), space.start.reshape(-1)
        else:
            raise ValueError(f"one_hot_encoding needs a Discrete or MultiDiscrete space, got {space!r}")
        self.ops, self.width, self.columns = ops, int(sizes.sum()), len(sizes)
        # component i owns the columns shift[i] + start[i] .. + nvec[i]: the one-hots never overlap
        self.shift = np.asarray(np.cumsum(sizes) - sizes - starts, dtype=np.int64)
        self.low, self.high = starts, starts + sizes

    def check(self, x: np.ndarray) -> None:
        """Raises ValueError: a value of ``x`` is not an integer in its component's ``[start, start + n)``."""
        index = x.reshape(len(x), -1)
        bad = (index != np.round(index)) | (index < self.low) | (index >= self.high)
        if index.shape[1] == self.columns and bad.any():
            ranges = [f"[{low}, {high})" for low, high in zip(self.low.tolist(), self.high.tolist(), strict=True)]
            got = index[bad][:8].tolist()
            raise ValueError(f"one_hot_encoding: expected integers in {', '.join(ranges)}, got {got}")

    def __call__(self, x: Any) -> Any:
        index = self.ops.reshape(x, (x.shape[0], -1))
        if index.shape[1] != self.columns:
            raise ValueError(f"one_hot_encoding: expected {self.columns} value(s) per sample, got {index.shape[1]}")
        return self.ops.one_hot(index, self.shift, self.width)


class Reader:
    """Value of the ``STATES`` / ``ACTIONS`` token: the flat input, reshaped or unflattened to its space.

    1-D Box-like spaces pass the array through untouched (no per-call unflattening on the hot path); image
    spaces come out (batch, *shape), e.g. (batch, height, width, channels).
    """

    __slots__ = ("key", "space", "shape", "ops")

    def __init__(self, key: str, space: Any, ops: Ops) -> None:
        self.key, self.space, self.shape, self.ops = key, None, None, ops
        if isinstance(space, (gymnasium.spaces.Tuple, gymnasium.spaces.Dict)):
            self.space = space
        elif space is not None and len(leaf_shape(space)) > 1:
            self.shape = leaf_shape(space)

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        x = inputs.get(self.key)
        if x is None:
            raise ValueError(f"the model's network reads inputs[{self.key!r}], which is missing")
        if self.shape is not None:
            return self.ops.reshape(x, (-1, *self.shape))
        if self.space is not None:
            return self.ops.unflatten(self.space, x)
        return x


class ConcatReader:
    """Value of the ``STATES_ACTIONS`` token: flat states and taken actions side by side, (batch, S + A)."""

    __slots__ = ("ops",)

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        if inputs.get("taken_actions") is None:
            raise ValueError("the model's network reads STATES_ACTIONS but inputs['taken_actions'] is missing")
        return self.ops.concatenate([inputs["states"], inputs["taken_actions"]])


def readers(tokens: set[str] | frozenset[str], observation_space: Any, action_space: Any, ops: Ops) -> tuple:
    """``(token, reader)`` pairs for the input tokens a network reads, in a fixed order."""
    states, actions = Reader("states", observation_space, ops), Reader("taken_actions", action_space, ops)
    made = {"STATES": states, "ACTIONS": actions, "STATES_ACTIONS": ConcatReader(ops)}
    return tuple((token, reader) for token, reader in made.items() if token in tokens)


def _index(node: ast.expr) -> Any:
    if isinstance(node, ast.Tuple):
        return tuple(_index(item) for item in node.elts)
    if isinstance(node, ast.Slice):
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if part is None else part.value for part in parts))  # type: ignore[attr-defined]
    return node.value  # type: ignore[attr-defined]


def _space(node: ast.expr, spaces: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Subscript):
        return _space(node.value, spaces)[node.slice.value]  # type: ignore[attr-defined]
    return spaces[node.id]  # type: ignore[attr-defined]


def compile_expression(tree: ast.expr, refs: Mapping[str | None, str], spaces: Mapping[str, Any], ops: Ops) -> Node:
    """Compile a tree checked by :func:`._expressions.parse_expression` against the ops table ``ops``.

    Args:
        tree: normalised tree.
        refs: environment key of a name, when it differs from the name (e.g. a token standing for a head).
        spaces: ``OBSERVATION_SPACE`` / ``ACTION_SPACE`` for ``one_hot_encoding``.

    Raises:
        ValueError: ``one_hot_encoding`` of a space that is neither Discrete nor MultiDiscrete.
    """

    def build(node: ast.expr) -> Node:
        if isinstance(node, ast.Constant):
            return _const(node.value)
        if isinstance(node, ast.Name):
            return operator.itemgetter(refs.get(node.id, node.id))
        if isinstance(node, ast.BinOp):
            return _call(_BINARY[type(node.op)], build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp):
            return _call(_UNARY[type(node.op)], build(node.operand))
        if isinstance(node, ast.Subscript):
            return _call(ops.getitem, build(node.value), _const(_index(node.slice)))
        if isinstance(node, ast.List):
            return functools.partial(_items, tuple(build(item) for item in node.elts))
        if isinstance(node, ast.Tuple):
            return _const(tuple(item.value for item in node.elts))  # type: ignore[attr-defined]
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # the checker allows nothing else
        name, args = node.func.id, node.args
        if name == "one_hot_encoding":
            return _call(OneHot(_space(args[0], spaces), ops), build(args[1]))
        if name == "permute":
            return _call(ops.permute, build(args[0]), build(args[1]))
        if name == "concatenate":
            return _call(ops.concatenate, build(args[0]))
        return _call(ops.activations[name], build(args[0]))

    return build(tree)
