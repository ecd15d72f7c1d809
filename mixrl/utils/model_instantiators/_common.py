"""Framework-free parsing and validation of instantiator descriptions (SPEC 12).

Both description styles, the definition style (``network`` / ``output``) and the legacy seed style
(``hiddens``, ``Shape``, ...), become one validated :class:`Description`. Expressions are parsed with
``ast.parse(text, mode="eval")`` and checked against an allow-list of node types and names: they are
never executed. The torch backend (and a later JAX twin) compile the checked, normalised trees.
"""

from __future__ import annotations

import ast
import enum
import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mixrl._logging import logger


class Shape(enum.Enum):
    """Shape of a legacy-style model input or output (``OBSERVATIONS`` is an alias of ``STATES``)."""

    ONE = 1
    STATES = 0
    OBSERVATIONS = 0
    ACTIONS = -1
    STATES_ACTIONS = -2


ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus", "softsign", "selu", "softmax")
LAYERS = ("linear", "conv2d", "flatten")
INPUT_TOKENS = ("STATES", "ACTIONS", "STATES_ACTIONS")
SPACE_TOKENS = ("OBSERVATION_SPACE", "ACTION_SPACE")
OUTPUT_TOKENS = ("ACTIONS", "ONE")
SIZE_TOKENS = ("ONE", "STATES", "ACTIONS", "STATES_ACTIONS")
INPUT_FUNCTIONS = ("concatenate", "permute", "one_hot_encoding")
OUTPUT_FUNCTIONS = ("concatenate", *ACTIVATIONS)
LEGACY_KEYS = ("input_shape", "hiddens", "hidden_activation", "output_shape", "output_activation", "output_scale")
_ALIASES = {"OBSERVATIONS": "STATES", "OBSERVATIONS_ACTIONS": "STATES_ACTIONS", "STATE_SPACE": "OBSERVATION_SPACE"}
_TOKENS = frozenset(INPUT_TOKENS + SPACE_TOKENS + SIZE_TOKENS) | frozenset(_ALIASES)
# names of the rendered source (return_source) and of the expression language: not usable as containers
RESERVED = (
    _TOKENS
    | frozenset(INPUT_FUNCTIONS + OUTPUT_FUNCTIONS)
    | {
        *("Shape", "states", "taken_actions", "states_actions", "inputs", "role", "output", "self", "torch", "nn"),
        *("Model", "unflatten_tensorized_space"),
    }
)
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def _token(name: str) -> str:
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

    def fail(self, node: ast.AST, why: str) -> ValueError:
        return ValueError(f"{self.kind} expression {self.text!r}: {ast.unparse(node)!r} {why}")

    def expr(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return ast.Constant(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.name(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
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
        valid = isinstance(node, ast.Name) or (isinstance(node.value, ast.Name) and node.value.id == "Shape")
        if valid and _token(ident) in tokens:
            self.tokens.add(_token(ident))
            return ast.Name(_token(ident), ast.Load())
        if isinstance(node, ast.Name) and ident in self.containers:
            self.names.add(ident)
            return ast.Name(ident, ast.Load())
        if valid and _token(ident) in SPACE_TOKENS:
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
        args = node.args
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in args):
            raise self.fail(node, "uses keyword or starred arguments, which are not allowed")
        arity = {"permute": 2, "one_hot_encoding": 2}.get(func, 1)
        if len(args) != arity:
            raise self.fail(node, f"takes {arity} argument(s), got {len(args)}")
        if func == "concatenate":
            if not isinstance(args[0], (ast.List, ast.Tuple)) or not args[0].elts:
                raise self.fail(node, "expects one non-empty list: concatenate([a, b, ...])")
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
        if isinstance(node, (ast.Name, ast.Attribute)) and _token(ident) in SPACE_TOKENS:
            return ast.Name(_token(ident), ast.Load())
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
    """Parse and check an ``"input"`` or ``"output"`` expression (see SPEC 12.4 / 12.7); nothing is executed.

    Raises:
        ValueError: syntax error, or a node, name or function outside the allow-list (named in the message).
    """
    if not isinstance(text, str):
        raise ValueError(f"{kind} expression must be a string, got {type(text).__name__} ({text!r})")
    try:
        checker = _Checker(text, kind, containers)
        tree = checker.expr(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, RecursionError) as error:
        raise ValueError(f"{kind} expression {text!r} is not a valid expression: {error}") from None
    return Expression(text, tree, frozenset(checker.tokens), frozenset(checker.names))


# ---------------------------------------------------------------- network and output descriptions


@dataclass(frozen=True)
class Layer:
    """One layer: ``kind`` in :data:`LAYERS`, ``args`` with torch keyword names, the ``activation`` after it."""

    kind: str
    args: Mapping[str, Any]
    activation: str | None = None


@dataclass(frozen=True)
class Container:
    """A named sequential stack fed by the ``input`` expression."""

    name: str
    input: Expression
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Output:
    """Output expression; ``token`` (``ACTIONS``/``ONE``) stands for a head layer of ``units`` (int or size token)."""

    expression: Expression
    token: str | None
    units: int | str | None


@dataclass(frozen=True)
class Description:
    """A validated model description: containers in evaluation order and the output."""

    network: tuple[Container, ...]
    output: Output


_LAYER_ARGS = {  # positional order, aliases (JAX names), optional extras
    "linear": (("out_features", "bias"), {"features": "out_features", "use_bias": "bias"}, ("in_features",)),
    "conv2d": (
        ("out_channels", "kernel_size", "stride", "padding", "bias"),
        {"features": "out_channels", "strides": "stride", "use_bias": "bias"},
        ("in_channels",),
    ),
    "flatten": (("start_dim", "end_dim"), {}, ()),
}
_REQUIRED = {"linear": ("out_features",), "conv2d": ("out_channels", "kernel_size"), "flatten": ()}


def _text(value: Any, what: str) -> str:
    if isinstance(value, Shape):
        return value.name
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string expression, got {type(value).__name__} ({value!r})")
    return value


def _units(value: Any, what: str) -> int | str:
    """A positive int, or a size token (``ONE``, ``ACTIONS``, ``STATES``, ``STATES_ACTIONS`` and spellings)."""
    name = value.name if isinstance(value, Shape) else _token(value) if isinstance(value, str) else None
    if name in SIZE_TOKENS:
        return name
    if type(value) is int and value > 0:
        return value
    raise ValueError(f"{what} must be a positive int or one of the tokens {list(SIZE_TOKENS)}, got {value!r}")


def _check_arg(key: str, value: Any, where: str) -> Any:
    if key in ("out_features", "in_features"):
        return _units(value, f"{where}: {key}")
    pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(type(v) is int and v >= 0 for v in value)
    valid = {
        "out_channels": type(value) is int and value > 0,
        "in_channels": type(value) is int and value > 0,
        "bias": isinstance(value, bool),
        "kernel_size": (type(value) is int and value > 0) or pair,
        "stride": (type(value) is int and value > 0) or pair,
        "padding": (type(value) is int and value >= 0) or pair or str(value).lower() in ("same", "valid"),
        "start_dim": type(value) is int,
        "end_dim": type(value) is int,
    }[key]
    if not valid:
        raise ValueError(f"{where}: invalid {key} {value!r}")
    if key == "padding" and isinstance(value, str):
        return value.lower()
    return tuple(value) if isinstance(value, list) else value


def _layer(layer: Any, where: str) -> tuple[str, dict[str, Any]]:
    """``(kind, args)`` of one layer item in any short, positional or dict form of SPEC 12.5."""
    if type(layer) is int:
        return "linear", {"out_features": _units(layer, where)}
    if isinstance(layer, str) and layer.lower() == "flatten":
        return "flatten", {}
    if not isinstance(layer, Mapping) or len(layer) != 1 or str(next(iter(layer))).lower() not in LAYERS:
        raise ValueError(
            f"{where}: unknown layer {layer!r}: expected an int (linear units), 'flatten' or a one-key dict "
            f"with a layer name among {list(LAYERS)}"
        )
    ((kind, value),) = layer.items()
    kind = kind.lower()
    positional, aliases, extras = _LAYER_ARGS[kind]
    if value is None or (kind == "linear" and not isinstance(value, (list, tuple, Mapping))):
        value = [] if value is None else [value]
    if isinstance(value, (list, tuple)):
        if len(value) > len(positional):
            raise ValueError(f"{where}: {kind} takes at most {len(positional)} positional values {positional}")
        args = dict(zip(positional, value, strict=False))
    elif isinstance(value, Mapping):
        args = {}
        for key, item in value.items():
            name = aliases.get(key, key)
            if name not in positional + extras:
                allowed = sorted(positional + extras + tuple(aliases))
                raise ValueError(f"{where}: unknown {kind} argument {key!r}: expected one of {allowed}")
            if name in args:
                raise ValueError(f"{where}: {kind} argument {name!r} given twice (an alias was used as well)")
            args[name] = item
    else:
        raise ValueError(f"{where}: invalid {kind} arguments {value!r}: expected a list or a dict")
    missing = [key for key in _REQUIRED[kind] if key not in args]
    if missing:
        raise ValueError(f"{where}: {kind} needs {missing}")
    return kind, {key: _check_arg(key, item, where) for key, item in args.items()}


def _activation(name: Any, where: str) -> str | None:
    if name is None or name == "":
        return None
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {name!r}: expected one of {list(ACTIVATIONS)}, '' or None")
    return name.lower()


def parse_layers(layers: Any, activations: Any, where: str) -> tuple[Layer, ...]:
    """Layers with their activations (SPEC 12.5/12.6); a ``flatten`` layer never gets an activation.

    Raises:
        ValueError: a layer or activation is unknown or malformed, or the activations do not fit the layers.
    """
    if not isinstance(layers, (list, tuple)):
        raise ValueError(f"{where}: layers must be a list, got {type(layers).__name__}")
    n = len(layers)
    if activations is None or isinstance(activations, str):
        activations = [activations] * n
    elif not isinstance(activations, (list, tuple)) or len(activations) not in (0, 1, n):
        received = f"{len(activations)} items" if isinstance(activations, (list, tuple)) else repr(activations)
        raise ValueError(
            f"{where}: activations must be a name, an empty list, a one-item list or one entry per layer "
            f"({n} layers), got {received}"
        )
    elif len(activations) != n:
        activations = list(activations) * n if activations else [None] * n
    parsed = []
    for i, (layer, activation) in enumerate(zip(layers, activations, strict=True)):
        kind, args = _layer(layer, f"{where}, layer {i}")
        activation = _activation(activation, f"{where}, layer {i}")
        parsed.append(Layer(kind, args, None if kind == "flatten" else activation))
    return tuple(parsed)


def parse_network(network: Any) -> tuple[Container, ...]:
    """The ``network`` list of ``{name, input, layers, activations}`` items (SPEC 12.3).

    Raises:
        ValueError: not a non-empty list, a bad or duplicate name, a bad input expression or layer list.
    """
    if not isinstance(network, (list, tuple)) or not network:
        raise ValueError(f"network must be a non-empty list of {{name, input, layers, activations}}, got {network!r}")
    containers: list[Container] = []
    for i, item in enumerate(network):
        where = f"network[{i}]"
        keys = set(item) if isinstance(item, Mapping) else set()
        missing = sorted({"name", "input", "layers"} - keys)
        unknown = sorted(map(str, keys - {"name", "input", "layers", "activations"}))
        if not isinstance(item, Mapping) or missing or unknown:
            raise ValueError(
                f"{where} must be a dict with the keys name, input, layers and optionally activations "
                f"(missing {missing}, unknown {unknown})"
            )
        name, names = item["name"], [c.name for c in containers]
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name in RESERVED:
            raise ValueError(f"{where}: container name {name!r} must be a Python identifier, not a reserved name")
        if name in names:
            raise ValueError(f"{where}: container name {name!r} is used twice")
        expression = parse_expression(_text(item["input"], f"{where} input"), "input", names)
        layers = parse_layers(item["layers"], item.get("activations"), f"container {name!r}")
        containers.append(Container(name, expression, layers))
    return tuple(containers)


def parse_output(output: Any, containers: Sequence[str]) -> Output:
    """The output expression over the ``containers``; ``""`` is the last container (SPEC 12.7).

    Raises:
        ValueError: a bad expression, or more than one distinct token.
    """
    text = _text(output, "output")
    if not text.strip():
        last = containers[-1]
        return Output(Expression(last, ast.Name(last, ast.Load()), frozenset(), frozenset({last})), None, None)
    expression = parse_expression(text, "output", containers)
    if len(expression.tokens) > 1:
        raise ValueError(f"output {text!r} uses {sorted(expression.tokens)}: at most one distinct token may appear")
    token = next(iter(expression.tokens), None)
    return Output(expression, token, token)


def resolve_units(units: int | str, num_observations: int | None, num_actions: int | None) -> int:
    """Number of units of an int or size token for the model's space sizes.

    Raises:
        ValueError: the token needs a space the model does not have.
    """
    if isinstance(units, int):
        return units
    sizes = {"ONE": 1, "STATES": num_observations, "ACTIONS": num_actions}
    parts = [sizes[part] for part in units.split("_")] if units != "ONE" else [1]
    if None in parts or not all(parts):
        raise ValueError(f"the size token {units} needs the model's observation/action space, which is empty")
    return sum(parts)


# ---------------------------------------------------------------- legacy (seed) style


class SeedDefault:
    """A seed default in a signature: shows the seed value and tells "not given" apart from "given"."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return str(self.value) if isinstance(self.value, Shape) else repr(self.value)


_SEED = {"hiddens": [256, 256], "hidden_activation": "relu", "output_shape": Shape.ACTIONS, "output_scale": 1.0}
_LOGGED: list[bool] = []


def _legacy_container(values: Mapping[str, Any]) -> Container:
    value = values.get("input_shape", Shape.STATES)
    token = value.name if isinstance(value, Shape) else _token(value) if isinstance(value, str) else None
    if token not in INPUT_TOKENS:
        raise ValueError(f"input_shape must be one of Shape.{list(INPUT_TOKENS)}, got {value!r}")
    hiddens = values.get("hiddens", _SEED["hiddens"])
    hiddens = [hiddens] if type(hiddens) is int else hiddens
    activations = values.get("hidden_activation", _SEED["hidden_activation"])
    if not isinstance(hiddens, (list, tuple)) or not isinstance(activations, (str, list, tuple)):
        raise ValueError(
            f"hiddens must be an int or a list of ints, got {hiddens!r}; hidden_activation a name or a list"
        )
    if not isinstance(activations, str) and len(activations) != len(hiddens):
        raise ValueError(f"hidden_activation has {len(activations)} entries for {len(hiddens)} hiddens")
    layers = parse_layers(list(hiddens), activations, "legacy hiddens")
    return Container("net", parse_expression(token, "input", []), layers)


def _legacy_output(values: Mapping[str, Any], output_activation: str | None, containers: Sequence[str]) -> Output:
    units = _units(values.get("output_shape", _SEED["output_shape"]), "output_shape")
    token = "ONE" if units == "ONE" else "ACTIONS"
    activation = _activation(values.get("output_activation", output_activation), "output_activation")
    scale = values.get("output_scale", _SEED["output_scale"])
    if scale is not None and type(scale) not in (int, float):
        raise ValueError(f"output_scale must be a number or None, got {scale!r}")
    text = f"{activation}({token})" if activation else token
    text = text if scale in (None, 1) else f"{float(scale)!r} * {text}"
    return Output(parse_expression(text, "output", containers), token, units)


def note_legacy() -> None:
    """Log, once per process, that the legacy keywords are in use."""
    if not _LOGGED:
        _LOGGED.append(True)
        logger.info(
            "model instantiators: legacy keywords (input_shape, hiddens, ...) build the seed network; "
            "the definition style (network=[...], output=...) describes any network"
        )


def describe(network: Any, output: Any, legacy: Mapping[str, Any], output_activation: str | None) -> Description:
    """One :class:`Description` from either style; seed defaults apply when no definition is given.

    Args:
        legacy: the legacy keywords; :class:`SeedDefault` values count as not given.
        output_activation: the seed default ``output_activation`` of the model kind.

    Raises:
        TypeError: both styles are given.
        ValueError: an invalid description.
    """
    given = {key: value for key, value in legacy.items() if not isinstance(value, SeedDefault)}
    if network or not (isinstance(output, str) and not output.strip()):
        if given:
            raise TypeError(f"pass either network/output or the legacy keywords {sorted(given)}, not both")
        if not network:
            raise ValueError(f"output={output!r} needs a network=[...] definition (or use the legacy keywords)")
        containers = parse_network(network)
        return Description(containers, parse_output(output, [c.name for c in containers]))
    if given:
        note_legacy()
    return Description((_legacy_container(given),), _legacy_output(given, output_activation, ["net"]))


# ---------------------------------------------------------------- mixins and shared models


@dataclass(frozen=True)
class Mixin:
    """What the instantiators need to know about a mixin (framework-free)."""

    name: str  # class name, e.g. "GaussianMixin"
    model: str  # generated class name, e.g. "GaussianModel"
    module: str  # module under mixrl.models.<framework>
    parameters: Mapping[str, Any]  # constructor keywords (without role) and their defaults
    log_std: bool  # the model owns a log_std_parameter
    output_activation: str | None  # seed default of the legacy output_activation


_GAUSSIAN = {"clip_actions": False, "clip_log_std": True, "min_log_std": -20, "max_log_std": 2}
MIXINS = {
    mixin.name.lower(): mixin
    for mixin in (
        Mixin("CategoricalMixin", "CategoricalModel", "categorical", {"unnormalized_log_prob": True}, False, None),
        Mixin(
            "MultiCategoricalMixin",
            "MultiCategoricalModel",
            "multicategorical",
            {"unnormalized_log_prob": True, "reduction": "sum"},
            False,
            None,
        ),
        Mixin("DeterministicMixin", "DeterministicModel", "deterministic", {"clip_actions": False}, False, "tanh"),
        Mixin("GaussianMixin", "GaussianModel", "gaussian", {**_GAUSSIAN, "reduction": "sum"}, True, "tanh"),
        Mixin(
            "MultivariateGaussianMixin", "MultivariateGaussianModel", "multivariate_gaussian", _GAUSSIAN, True, "tanh"
        ),
    )
}
LOG_STD_PARAMETERS = {"initial_log_std": 0, "fixed_log_std": False}


@dataclass(frozen=True)
class Role:
    """One role of a shared model: its mixin, constructor keywords, log-std settings and output."""

    name: str
    mixin: Mixin
    kwargs: Mapping[str, Any]
    log_std: Mapping[str, Any]
    output: Output


def parse_structure(structure: Any) -> list[Mixin]:
    """Mixins of a shared model: class names (case-insensitive) as a list or comma-separated string.

    ``""`` and ``None`` (the seed ignored this argument) mean ``["GaussianMixin", "DeterministicMixin"]``.

    Raises:
        ValueError: an unknown mixin name or a malformed structure.
    """
    if structure is None or isinstance(structure, str):
        structure = structure or ""
        names = [name for name in re.split(r"[,\s]+", structure) if name] or ["GaussianMixin", "DeterministicMixin"]
    elif isinstance(structure, (list, tuple)):
        names = list(structure)
    else:
        raise ValueError(f"structure must be a list of mixin names or a string, got {structure!r}")
    for name in names:
        if not isinstance(name, str) or name.lower() not in MIXINS:
            raise ValueError(
                f"unknown mixin {name!r} in structure: expected one of {[m.name for m in MIXINS.values()]}"
            )
    return [MIXINS[name.lower()] for name in names]


def describe_shared(structure: Any, roles: Any, parameters: Any) -> tuple[tuple[Container, ...], list[Role]]:
    """The shared trunk (from ``parameters[0]``) and one :class:`Role` per role (SPEC 12.9).

    Raises:
        ValueError: length mismatch, fewer than two roles, bad or duplicate role names, two Gaussian-type roles,
            or an invalid description.
        TypeError: unknown parameter keys, or both styles in ``parameters[0]``.
    """
    mixins = parse_structure(structure)
    roles, parameters = list(roles), list(parameters)
    if not len(mixins) == len(roles) == len(parameters) or len(roles) < 2:
        raise ValueError(
            f"shared_model needs as many structure entries, roles and parameters (at least 2), "
            f"got {len(mixins)}, {len(roles)} and {len(parameters)}"
        )
    for role in roles:
        if not isinstance(role, str) or not role.isidentifier() or roles.count(role) > 1:
            raise ValueError(f"role {role!r} must be a unique Python identifier (it names the head {role}_layer)")
    if sum(mixin.log_std for mixin in mixins) > 1:
        raise ValueError("shared_model supports one Gaussian-type role (it owns the single log_std_parameter)")
    for mixin, role, params in zip(mixins, roles, parameters, strict=True):
        if not isinstance(params, Mapping):
            raise TypeError(f"parameters of role {role!r} must be a dict, got {type(params).__name__}")
        allowed = {*mixin.parameters, *(LOG_STD_PARAMETERS if mixin.log_std else ()), "network", "output", *LEGACY_KEYS}
        unknown = sorted(map(str, set(params) - allowed))
        if unknown:
            raise TypeError(
                f"parameters of role {role!r} ({mixin.name}): unknown keys {unknown}, allowed {sorted(allowed)}"
            )
    first = parameters[0]
    trunk = {"input_shape": Shape.STATES, "hiddens": _SEED["hiddens"], "hidden_activation": _SEED["hidden_activation"]}
    trunk.update({key: first[key] for key in trunk if key in first})
    legacy = not first.get("network")
    if legacy:
        if "output" in first and first["output"]:
            raise ValueError(f"parameters[0] gives output={first['output']!r} but no network")
        network: tuple[Container, ...] = (_legacy_container(first),)
    elif any(key in first for key in LEGACY_KEYS):
        raise TypeError(f"parameters[0] mixes network/output with the legacy keywords {list(LEGACY_KEYS)}")
    else:
        network = parse_network(first["network"])
    names = [container.name for container in network]
    result = []
    for i, (mixin, role, params) in enumerate(zip(mixins, roles, parameters, strict=True)):
        differs = ("network" in params and params["network"] != first.get("network")) or any(
            key in params and params[key] != trunk[key] for key in trunk
        )
        if i and differs:
            logger.warning(f"shared_model: role {role!r} describes its own trunk; the trunk of {roles[0]!r} is used")
        if "output" in params and not (legacy and not params["output"]):
            output = parse_output(params["output"], names)
        elif legacy or any(key in params for key in LEGACY_KEYS):
            output = _legacy_output(params, mixin.output_activation, names)
        else:
            output = parse_output("", names)
        kwargs = {key: params.get(key, default) for key, default in mixin.parameters.items()}
        log_std = (
            {key: params.get(key, default) for key, default in LOG_STD_PARAMETERS.items()} if mixin.log_std else {}
        )
        result.append(Role(role, mixin, kwargs, log_std, output))
    if any(key in params for params in parameters for key in LEGACY_KEYS):
        note_legacy()
    return network, result
