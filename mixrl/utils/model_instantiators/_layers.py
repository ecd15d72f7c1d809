"""Layers and activations of a container, framework-free.

Every accepted form of a layer (short, positional list, dict with torch or JAX key names) becomes one
canonical :class:`Layer` with torch keyword names; :func:`layer_data` writes it back as plain data
that parses to the same layer. Recurrent layers (``gru``, ``lstm``, ``rnn``) are a mixrl addition:
the backends run them through their recurrent helper,
so the model gets the recurrent-model contract (``num_envs``, ``sequence_length``, ``get_specification()``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mixrl.utils.model_instantiators._expressions import ACTIVATIONS, SIZE_TOKENS, Shape, canonical_token

RECURRENT_LAYERS = ("gru", "lstm", "rnn")
LAYERS = ("linear", "conv2d", "flatten", *RECURRENT_LAYERS)

_RECURRENT_ARGS = (("hidden_size", "num_layers"), {"features": "hidden_size", "use_bias": "bias"})
_LAYER_ARGS = {  # positional order, aliases (JAX names), keyword-only extras
    "linear": (("out_features", "bias"), {"features": "out_features", "use_bias": "bias"}, ("in_features",)),
    "conv2d": (
        ("out_channels", "kernel_size", "stride", "padding", "bias"),
        {"features": "out_channels", "strides": "stride", "use_bias": "bias"},
        ("in_channels",),
    ),
    "flatten": (("start_dim", "end_dim"), {}, ()),
    "gru": (*_RECURRENT_ARGS, ("bias", "input_size")),
    "lstm": (*_RECURRENT_ARGS, ("bias", "input_size")),
    "rnn": (*_RECURRENT_ARGS, ("bias", "input_size", "nonlinearity")),
}
_REQUIRED = {"linear": ("out_features",), "conv2d": ("out_channels", "kernel_size"), "flatten": ()}
_REQUIRED.update(dict.fromkeys(RECURRENT_LAYERS, ("hidden_size",)))
_SCALAR_FORM = ("linear", *RECURRENT_LAYERS)  # {"linear": 64}, {"gru": 64}
MAX_UNITS = 2**16  # of any size (units, channels, kernel, layers): beyond is a typo or an attack
MAX_WEIGHTS = 2**27  # of one layer (512 MiB of float32): checked before it is allocated
_GATES = {"gru": 3, "lstm": 4, "rnn": 1}


@dataclass(frozen=True)
class Layer:
    """One layer: ``kind`` in :data:`LAYERS`, ``args`` with torch keyword names, the ``activation`` after it."""

    kind: str
    args: Mapping[str, Any]
    activation: str | None = None

    @property
    def recurrent(self) -> bool:
        """A ``gru``, ``lstm`` or ``rnn`` layer."""
        return self.kind in RECURRENT_LAYERS


def units(value: Any, what: str) -> int | str:
    """An int in [1, ``MAX_UNITS``], or a size token (``ONE``, ``ACTIONS``, ``STATES``, ``STATES_ACTIONS``).

    Raises:
        ValueError: anything else (the message names ``what`` and the allowed tokens).
    """
    name = value.name if isinstance(value, Shape) else canonical_token(value) if isinstance(value, str) else None
    if name in SIZE_TOKENS:
        return name
    if _positive(value):
        return value
    raise ValueError(
        f"{what} must be a positive int up to {MAX_UNITS} or a token in {list(SIZE_TOKENS)}, got {value!r}"
    )


def resolve_units(value: int | str, num_observations: int | None, num_actions: int | None) -> int:
    """Number of units of an int or size token for the model's space sizes.

    Raises:
        ValueError: the token needs a space the model does not have.
    """
    if isinstance(value, int):
        return value
    sizes = {"ONE": 1, "STATES": num_observations, "ACTIONS": num_actions}
    parts = [sizes[part] for part in value.split("_")] if value != "ONE" else [1]
    known = [part for part in parts if part]
    if len(known) != len(parts):
        raise ValueError(f"the size token {value} needs the model's observation/action space, which is empty")
    return sum(known)


def _positive(value: Any, low: int = 1) -> bool:
    return type(value) is int and low <= value <= MAX_UNITS


def _check_arg(key: str, value: Any, where: str) -> Any:
    if key in ("out_features", "in_features", "input_size"):
        return units(value, f"{where}: {key}")
    pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(_positive(v, 0) for v in value)
    valid = {
        "out_channels": _positive(value),
        "in_channels": _positive(value),
        "hidden_size": _positive(value),
        "num_layers": _positive(value),
        "nonlinearity": str(value).lower() in ("tanh", "relu"),
        "bias": isinstance(value, bool),
        "kernel_size": _positive(value) or pair,
        "stride": _positive(value) or pair,
        "padding": _positive(value, 0) or pair or str(value).lower() in ("same", "valid"),
        "start_dim": type(value) is int,
        "end_dim": type(value) is int,
    }[key]
    if not valid:
        raise ValueError(f"{where}: invalid {key} {value!r}")
    if key in ("padding", "nonlinearity") and isinstance(value, str):
        return value.lower()
    return tuple(value) if isinstance(value, list) else value


def _layer(layer: Any, where: str) -> tuple[str, dict[str, Any]]:
    """``(kind, args)`` of one layer item in any short, positional or dict form."""
    if type(layer) is int:
        return "linear", {"out_features": units(layer, where)}
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
    if value is None or (kind in _SCALAR_FORM and not isinstance(value, (list, tuple, Mapping))):
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


def activation(name: Any, where: str) -> str | None:
    """The canonical (lower-case) activation name, or None for ``None`` / ``""``.

    Raises:
        ValueError: an unknown name.
    """
    if name is None or name == "":
        return None
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {name!r}: expected one of {list(ACTIVATIONS)}, '' or None")
    return name.lower()


def parse_layers(layers: Any, activations: Any, where: str) -> tuple[Layer, ...]:
    """Layers with their activations; a ``flatten`` layer never gets an activation.

    A recurrent layer must be the first layer of its container: the backend runs it through the RNN helper
    on the container's input, then the remaining layers as one sequential stack.

    Raises:
        ValueError: a layer or activation is unknown or malformed, the activations do not fit the layers, or a
            recurrent layer is not the first one.
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
    for i, (layer, name) in enumerate(zip(layers, activations, strict=True)):
        kind, args = _layer(layer, f"{where}, layer {i}")
        if kind in RECURRENT_LAYERS and i:
            raise ValueError(
                f"{where}, layer {i}: a {kind} layer must be the first layer of its container (it runs on the "
                "container's input); put the layers before it in an earlier container"
            )
        parsed.append(Layer(kind, args, None if kind == "flatten" else activation(name, f"{where}, layer {i}")))
    return tuple(parsed)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def layer_data(layer: Layer) -> Any:
    """Plain data (int, ``"flatten"`` or ``{kind: {arg: value}}``) that :func:`parse_layers` reads as ``layer``."""
    if layer.kind == "linear" and list(layer.args) == ["out_features"] and isinstance(layer.args["out_features"], int):
        return layer.args["out_features"]
    if layer.kind == "flatten" and not layer.args:
        return "flatten"
    return {layer.kind: {key: _plain(value) for key, value in layer.args.items()}}


def activations_data(layers: Sequence[Layer]) -> str | list[str | None]:
    """Plain ``activations`` for ``layers``: one name when every non-flatten layer has it, else one per layer."""
    names = {layer.activation for layer in layers if layer.kind != "flatten"}
    if len(names) == 1 and None not in names:
        return str(names.pop())
    return [layer.activation for layer in layers] if names - {None} else []


def _weights(layer: Layer, width: int, sizes: tuple[Any, Any]) -> int:
    """Weights of ``layer`` on an input of ``width`` features (conv2d: channels), biases aside."""
    args = layer.args
    if layer.kind == "linear":
        return width * resolve_units(args["out_features"], *sizes)
    if layer.kind == "conv2d":
        kernel = args["kernel_size"]
        return width * args["out_channels"] * math.prod((kernel, kernel) if isinstance(kernel, int) else kernel)
    if layer.recurrent:
        hidden = args["hidden_size"]
        return _GATES[layer.kind] * (width + hidden) * hidden * args.get("num_layers", 1)
    return 0


def check_input(layer: Layer, shape: tuple[int, ...], sizes: tuple[Any, Any], where: str, image: tuple) -> None:
    """Check the input ``shape`` of ``layer``: its rank, and the input widths its description declares.

    Args:
        image: the backend's conv2d input: its allowed ranks, channel axis, layout and a hint.

    Raises:
        ValueError: an input of the wrong rank, a declared input width that differs from the actual one, or more
            than ``MAX_WEIGHTS`` weights.
    """
    ranks, channels, layout, hint = image
    if layer.recurrent and len(shape) != 2:
        raise ValueError(
            f"{where}: a {layer.kind} layer needs a (batch, features) input, got shape {shape} "
            "(flatten it in an earlier container)"
        )
    if layer.kind == "conv2d" and len(shape) not in ranks:
        raise ValueError(f"{where}: conv2d needs a {layout} input, got shape {shape} {hint}")
    for key, axis in (("in_features", -1), ("in_channels", channels), ("input_size", -1)):
        declared = layer.args.get(key)
        if declared is not None and resolve_units(declared, *sizes) != (actual := shape[axis]):
            raise ValueError(f"{where}: {key}={declared!r} but the layer's input has {actual}")
    width = shape[channels] if layer.kind == "conv2d" else shape[-1]
    if (weights := _weights(layer, width, sizes)) > MAX_WEIGHTS:
        raise ValueError(f"{where}: {weights} weights for an input of {width}, above the limit of {MAX_WEIGHTS}")
