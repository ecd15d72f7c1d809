"""The expression language of instantiator descriptions, framework-free.

Input and output expressions are parsed with ``ast.parse(text, mode="eval")`` and walked against an
allow-list of node types, tokens and function names; the result is a normalised tree (canonical token
spellings, no ``Shape.`` prefixes) that a backend compiles. Nothing here executes text.
"""

from __future__ import annotations

import ast
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class Shape(enum.Enum):
    """Shape of a legacy-style model input or output (``OBSERVATIONS`` is an alias of ``STATES``)."""

    ONE = 1
    STATES = 0
    OBSERVATIONS = 0
    ACTIONS = -1
    STATES_ACTIONS = -2


ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus", "softsign", "selu", "softmax")
INPUT_TOKENS = ("STATES", "ACTIONS", "STATES_ACTIONS")
SPACE_TOKENS = ("OBSERVATION_SPACE", "ACTION_SPACE")
OUTPUT_TOKENS = ("ACTIONS", "ONE")
SIZE_TOKENS = ("ONE", "STATES", "ACTIONS", "STATES_ACTIONS")
INPUT_FUNCTIONS = ("concatenate", "permute", "one_hot_encoding")
OUTPUT_FUNCTIONS = ("concatenate", *ACTIVATIONS)
_ALIASES = {"OBSERVATIONS": "STATES", "OBSERVATIONS_ACTIONS": "STATES_ACTIONS", "STATE_SPACE": "OBSERVATION_SPACE"}
_TOKENS = frozenset(INPUT_TOKENS + SPACE_TOKENS + SIZE_TOKENS) | frozenset(_ALIASES)
# names of the rendered source (return_source) and of the expression language: not usable as containers
RESERVED = (
    _TOKENS
    | frozenset(INPUT_FUNCTIONS + OUTPUT_FUNCTIONS)
    | {
        *("Shape", "states", "taken_actions", "states_actions", "inputs", "role", "output", "self", "torch", "nn"),
        *("Model", "unflatten_tensorized_space", "sequence_forward", "rnn_specification", "rnn_states"),
    }
)
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)
MAX_LENGTH, MAX_DEPTH, MAX_ITEMS = 4096, 32, 256  # characters, nesting and concatenate items of an expression


def canonical_token(name: str) -> str:
    """Canonical token spelling: ``Shape.`` prefix dropped, aliases mapped (``OBSERVATIONS`` -> ``STATES``)."""
    name = name.removeprefix("Shape.")
    return _ALIASES.get(name, name)


def _int_constant(node: ast.expr) -> int | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _int_constant(node.operand)
        return None if value is None else -value
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


@dataclass(frozen=True)
class Expression:
    """A checked expression: normalised ``tree``, the ``tokens`` and container ``names`` it reads."""

    text: str
    tree: ast.expr
    tokens: frozenset[str]
    names: frozenset[str]


class _Checker:
    """Allow-list walk that returns a normalised copy of the tree (tokens canonical, no ``Shape.``)."""

    def __init__(self, text: str, kind: str, containers: Sequence[str]) -> None:
        self.text, self.kind, self.containers = text, kind, list(containers)
        self.tokens: set[str] = set()
        self.names: set[str] = set()
        self.depth = 0

    def fail(self, node: ast.AST, why: str) -> ValueError:
        return ValueError(f"{self.kind} expression {self.text!r}: {ast.unparse(node)!r} {why}")

    def expr(self, node: ast.expr) -> ast.expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"{self.kind} expression {self.text[:80]!r}...: nested deeper than {MAX_DEPTH} levels")
        tree = self.checked(node)
        self.depth -= 1
        return tree

    def checked(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            if not math.isfinite(node.value):  # type: ignore[arg-type]
                raise self.fail(node, "is not a finite number")
            return ast.Constant(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.name(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
            if isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) and node.right.value == 0:
                raise self.fail(node, "divides by zero")
            return ast.BinOp(self.expr(node.left), node.op, self.expr(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return ast.UnaryOp(node.op, self.expr(node.operand))
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript) and self.kind == "input":
            return ast.Subscript(self.expr(node.value), self.index(node.slice), ast.Load())
        allowed = "numbers, names, + - * /, unary minus, calls" + (", indexing/slicing" if self.kind == "input" else "")
        raise self.fail(node, f"is not allowed ({type(node).__name__} node); allowed: {allowed}")

    def name(self, node: ast.expr) -> ast.Name:
        ident = ast.unparse(node)
        tokens = INPUT_TOKENS if self.kind == "input" else OUTPUT_TOKENS
        valid = isinstance(node, ast.Name) or (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Shape"
        )
        if valid and canonical_token(ident) in tokens:
            self.tokens.add(canonical_token(ident))
            return ast.Name(canonical_token(ident), ast.Load())
        if isinstance(node, ast.Name) and ident in self.containers:
            self.names.add(ident)
            return ast.Name(ident, ast.Load())
        if valid and canonical_token(ident) in SPACE_TOKENS:
            raise self.fail(node, "may only be the first argument of one_hot_encoding(SPACE, x)")
        raise ValueError(
            f"{self.kind} expression {self.text!r}: unknown name {ident!r}: expected a token {list(tokens)} "
            f"or {'an earlier' if self.kind == 'input' else 'a'} container name {self.containers}"
        )

    def call(self, node: ast.Call) -> ast.Call:
        allowed = INPUT_FUNCTIONS if self.kind == "input" else OUTPUT_FUNCTIONS
        func = node.func.id.lower() if isinstance(node.func, ast.Name) else None
        if func not in allowed:
            raise ValueError(
                f"{self.kind} expression {self.text!r}: unknown function {ast.unparse(node.func)!r}: "
                f"expected one of {list(allowed)}"
            )
        assert func is not None
        args = node.args
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in args):
            raise self.fail(node, "uses keyword or starred arguments, which are not allowed")
        arity = {"permute": 2, "one_hot_encoding": 2}.get(func, 1)
        if len(args) != arity:
            raise self.fail(node, f"takes {arity} argument(s), got {len(args)}")
        if func == "concatenate":
            if not isinstance(args[0], (ast.List, ast.Tuple)) or not 0 < len(args[0].elts) <= MAX_ITEMS:
                raise self.fail(node, f"expects one list of 1 to {MAX_ITEMS} items: concatenate([a, b, ...])")
            new_args: list[ast.expr] = [ast.List([self.expr(item) for item in args[0].elts], ast.Load())]
        elif func == "permute":
            dims = [_int_constant(d) for d in getattr(args[1], "elts", [None])]
            if not isinstance(args[1], (ast.Tuple, ast.List)) or None in dims:
                raise self.fail(node, "expects a tuple of ints as dimensions: permute(x, (0, 3, 1, 2))")
            new_args = [self.expr(args[0]), ast.Tuple([ast.Constant(d) for d in dims], ast.Load())]
        elif func == "one_hot_encoding":
            new_args = [self.space(args[0]), self.expr(args[1])]
        else:
            new_args = [self.expr(args[0])]
        return ast.Call(ast.Name(func, ast.Load()), new_args, [])

    def space(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Subscript):
            key = node.slice
            if not (isinstance(key, ast.Constant) and type(key.value) in (int, str)):
                raise self.fail(node, "indexes a space with something other than an int or a string key")
            return ast.Subscript(self.space(node.value), ast.Constant(key.value), ast.Load())
        ident = ast.unparse(node)
        if isinstance(node, (ast.Name, ast.Attribute)) and canonical_token(ident) in SPACE_TOKENS:
            return ast.Name(canonical_token(ident), ast.Load())
        raise self.fail(node, f"is not a space: expected {list(SPACE_TOKENS)}, optionally indexed (SPACE['key'])")

    def index(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Tuple):
            return ast.Tuple([self.index_item(item) for item in node.elts], ast.Load())
        return self.index_item(node)

    def index_item(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Slice):
            return ast.Slice(
                *(None if part is None else self.integer(part) for part in (node.lower, node.upper, node.step))
            )
        if isinstance(node, ast.Constant) and (type(node.value) is str or node.value is Ellipsis):
            return ast.Constant(node.value)
        return self.integer(node)

    def integer(self, node: ast.expr) -> ast.Constant:
        value = _int_constant(node)
        if value is None:
            raise self.fail(node, "is not a valid index: use ints, slices of ints, '...' or string (Dict) keys")
        return ast.Constant(value)


def parse_expression(text: Any, kind: str, containers: Sequence[str]) -> Expression:
    """Parse and check an ``"input"`` or ``"output"`` expression; nothing is executed.

    Raises:
        ValueError: syntax error, or a node, name or function outside the allow-list (named in the message).
    """
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        got = f"{len(text)} characters" if isinstance(text, str) else f"{type(text).__name__} ({text!r})"
        raise ValueError(f"{kind} expression must be a string of at most {MAX_LENGTH} characters, got {got}")
    try:
        checker = _Checker(text, kind, containers)
        tree = checker.expr(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, RecursionError) as error:
        raise ValueError(f"{kind} expression {text!r} is not a valid expression: {error}") from None
    return Expression(text, tree, frozenset(checker.tokens), frozenset(checker.names))
