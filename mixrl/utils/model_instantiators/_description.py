"""One network description from either style, framework-free.

The definition style (``network`` / ``output``) and the legacy ``hiddens`` API (``hiddens``, ``Shape``, ...)
both become one validated :class:`Description`: containers in evaluation order and the output. Each
description also keeps ``data``, plain data in the same style that describes it again (canonical layer
forms, normalised expressions, legacy defaults filled in): the resolved description saved with a model.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mixrl._logging import logger
from mixrl.utils.model_instantiators._expressions import (
    INPUT_TOKENS,
    RESERVED,
    Expression,
    Shape,
    canonical_token,
    parse_expression,
)
from mixrl.utils.model_instantiators._layers import Layer, activation, activations_data, layer_data, parse_layers, units

LEGACY_KEYS = ("input_shape", "hiddens", "hidden_activation", "output_shape", "output_activation", "output_scale")
LEGACY_DEFAULTS = {
    "input_shape": Shape.STATES,
    "hiddens": [256, 256],
    "hidden_activation": "relu",
    "output_shape": Shape.ACTIONS,
    "output_scale": 1.0,
}


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
    """A validated model description: containers in evaluation order, the output, and its plain ``data``."""

    network: tuple[Container, ...]
    output: Output
    data: Mapping[str, Any] = field(default_factory=dict)


def _text(value: Any, what: str) -> str:
    if isinstance(value, Shape):
        return value.name
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string expression, got {type(value).__name__} ({value!r})")
    return value


def parse_network(network: Any) -> tuple[Container, ...]:
    """The ``network`` list of ``{name, input, layers, activations}`` items.

    Raises:
        ValueError: not a non-empty list, a bad or duplicate name, a bad input expression or layer list,
            or more than one recurrent layer.
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
    recurrent = [container.name for container in containers if container.layers and container.layers[0].recurrent]
    if len(recurrent) > 1:  # a model has one recurrent state list
        raise ValueError(f"at most one recurrent (gru/lstm/rnn) layer per model, found one in each of {recurrent}")
    return tuple(containers)


def parse_output(output: Any, containers: Sequence[str]) -> Output:
    """The output expression over the ``containers``; ``""`` is the last container.

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


def network_data(network: Sequence[Container]) -> list[dict[str, Any]]:
    """Plain ``network`` list (canonical layers, normalised inputs) that :func:`parse_network` reads as ``network``."""
    return [
        {
            "name": container.name,
            "input": ast.unparse(container.input.tree),
            "layers": [layer_data(layer) for layer in container.layers],
            "activations": activations_data(container.layers),
        }
        for container in network
    ]


def output_text(output: Output) -> str:
    """Normalised text of a definition-style output (``""`` was resolved to the last container's name)."""
    return ast.unparse(output.expression.tree)


# ---------------------------------------------------------------- legacy ``hiddens`` API


@dataclass(frozen=True, eq=False, repr=False)
class LegacyDefault:
    """A legacy-keyword default in a signature: shows the value and tells "not given" apart from "given"."""

    value: Any

    def __repr__(self) -> str:
        return str(self.value) if isinstance(self.value, Shape) else repr(self.value)


def legacy_trunk(values: Mapping[str, Any]) -> tuple[Container, dict[str, Any]]:
    """The ``net`` container of ``input_shape`` / ``hiddens`` / ``hidden_activation`` and its plain data.

    Raises:
        ValueError: an invalid value (named in the message).
    """
    value = values.get("input_shape", LEGACY_DEFAULTS["input_shape"])
    token = value.name if isinstance(value, Shape) else canonical_token(value) if isinstance(value, str) else None
    if token not in INPUT_TOKENS:
        raise ValueError(f"input_shape must be one of Shape.{list(INPUT_TOKENS)}, got {value!r}")
    hiddens = values.get("hiddens", LEGACY_DEFAULTS["hiddens"])
    hiddens = [hiddens] if type(hiddens) is int else hiddens
    activations = values.get("hidden_activation", LEGACY_DEFAULTS["hidden_activation"])
    if not isinstance(hiddens, (list, tuple)) or not isinstance(activations, (str, list, tuple)):
        raise ValueError(
            f"hiddens must be an int or a list of ints, got {hiddens!r}; hidden_activation a name or a list"
        )
    if not isinstance(activations, str) and len(activations) != len(hiddens):
        raise ValueError(f"hidden_activation has {len(activations)} entries for {len(hiddens)} hiddens")
    layers = parse_layers(list(hiddens), activations, "legacy hiddens")
    names = activations_data(layers)
    data = {
        "input_shape": token,
        "hiddens": [layer_data(layer) for layer in layers],
        "hidden_activation": names if isinstance(names, str) else [layer.activation for layer in layers],
    }
    return Container("net", parse_expression(token, "input", []), layers), data


def legacy_head(
    values: Mapping[str, Any], output_activation: str | None, containers: Sequence[str]
) -> tuple[Output, dict[str, Any]]:
    """The output of ``output_shape`` / ``output_activation`` / ``output_scale`` and its plain data.

    Args:
        output_activation: the model kind's legacy default, used when ``values`` has none.

    Raises:
        ValueError: an invalid value (named in the message).
    """
    size = units(values.get("output_shape", LEGACY_DEFAULTS["output_shape"]), "output_shape")
    token = "ONE" if size == "ONE" else "ACTIONS"
    name = activation(values.get("output_activation", output_activation), "output_activation")
    scale = values.get("output_scale", LEGACY_DEFAULTS["output_scale"])
    if scale is not None and type(scale) not in (int, float):
        raise ValueError(f"output_scale must be a number or None, got {scale!r}")
    text = f"{name}({token})" if name else token
    text = text if scale in (None, 1) else f"{float(scale)!r} * {text}"
    data = {"output_shape": size, "output_activation": name, "output_scale": scale}
    return Output(parse_expression(text, "output", containers), token, size), data


def note_legacy() -> None:
    """Log (DEBUG: nothing to act on, the legacy keywords are supported) that the legacy keywords are in use."""
    logger.debug(
        "model instantiators: legacy keywords (input_shape, hiddens, ...) build the legacy 256-256 MLP; "
        "the definition style (network=[...], output=...) describes any network"
    )


def describe(network: Any, output: Any, legacy: Mapping[str, Any], output_activation: str | None) -> Description:
    """One :class:`Description` from either style; the legacy defaults apply when no definition is given.

    Args:
        legacy: the legacy keywords; :class:`LegacyDefault` values count as not given.
        output_activation: the legacy default ``output_activation`` of the model kind.

    Raises:
        TypeError: both styles are given.
        ValueError: an invalid description.
    """
    given = {key: value for key, value in legacy.items() if not isinstance(value, LegacyDefault)}
    containers, trunk = describe_trunk(network, output, given)
    if "network" in trunk:
        parsed = parse_output(output, [c.name for c in containers])
        return Description(containers, parsed, {**trunk, "output": output_text(parsed)})
    if given:
        note_legacy()
    parsed, head = legacy_head(given, output_activation, ["net"])
    return Description(containers, parsed, {**trunk, **head})


def describe_trunk(
    network: Any, output: Any, given: Mapping[str, Any], where: str = ""
) -> tuple[tuple[Container, ...], dict[str, Any]]:
    """The containers of ``network``, or without a definition the legacy ``net`` of ``given``, and their plain data.

    Raises:
        TypeError: both styles are given.
        ValueError: an output without a network, or an invalid description.
    """
    if network or not (isinstance(output, str) and not output.strip()):
        if given:
            raise TypeError(f"{where}mixes network/output with the legacy keywords {sorted(given)}: pass one, not both")
        if not network:
            raise ValueError(f"{where}output={output!r} needs a network=[...] definition (or use the legacy keywords)")
        containers = parse_network(network)
        return containers, {"network": network_data(containers)}
    container, data = legacy_trunk(given)
    return (container,), data
