"""The JAX ops table of the expression language, and the Flax entries of a container's ``nn.Sequential``.

A layer becomes an :class:`Op` (``nn.Dense``, ``nn.Conv`` on NHWC inputs with torch's default padding 0 as
``"VALID"``, :class:`Flatten`, :class:`mixrl.models.jax.rnn.Recurrent`), then its activation as its own entry,
so entry indices follow torch (``layers_0``, activation, ``layers_2``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from mixrl.models.jax.rnn import Recurrent
from mixrl.utils.model_instantiators._compile import ONE_HOT_DOC, OneHot, Ops
from mixrl.utils.model_instantiators._expressions import ACTIVATIONS
from mixrl.utils.model_instantiators._layers import Layer, resolve_units
from mixrl.utils.model_instantiators._source import literal
from mixrl.utils.spaces.jax import unflatten_tensorized_space

# flax.linen functions, so a Sequential holds them as layers and return_source names them (``nn.<name>``)
ACTIVATION_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    name: getattr(nn, "soft_sign" if name == "softsign" else name)
    for name in ACTIVATIONS  # softmax: last axis
}
FLAX_NAMES = {name: function.__name__ for name, function in ACTIVATION_FUNCTIONS.items()}


def _concatenate(items: list[jax.Array]) -> jax.Array:
    return jnp.concatenate(items, axis=-1)


def _getitem(value: Any, index: Any) -> Any:
    """``value[index]``; for an array, integer indices are checked first (JAX clamps out-of-range ones silently).

    Raises:
        IndexError: an integer index is out of range for the array's shape.
    """
    if isinstance(value, jax.Array):
        # bounds check on a zero-stride NumPy view of the same shape: no memory, NumPy's indexing rules
        np.lib.stride_tricks.as_strided(np.zeros(1, bool), shape=value.shape, strides=(0,) * value.ndim)[index]
    return value[index]


def _unflatten(space: Any, x: Any) -> Any:
    return unflatten_tensorized_space(space, jnp.asarray(x))


def _one_hot(index: jax.Array, shift: np.ndarray, width: int) -> jax.Array:
    shifted = jnp.asarray(index).astype(jnp.int32) + shift.astype(np.int32)
    return jax.nn.one_hot(shifted, width, dtype=jnp.float32).sum(axis=1)


OPS = Ops(jax.Array, _concatenate, jnp.transpose, _getitem, jnp.reshape, _unflatten, _one_hot, ACTIVATION_FUNCTIONS)


def one_hot_encoding(space: gymnasium.spaces.Discrete | gymnasium.spaces.MultiDiscrete, x: jax.Array) -> jax.Array:
    encoder, x = OneHot(space, OPS), jnp.asarray(x)  # x: ints or floats
    if not isinstance(x, jax.core.Tracer):
        encoder.check(np.asarray(x))
    return encoder(x)


one_hot_encoding.__doc__ = ONE_HOT_DOC


@dataclass(frozen=True)
class Flatten:
    """torch-style flatten of the axes ``start_dim .. end_dim`` (inclusive, negative from the end)."""

    start_dim: int = 1
    end_dim: int = -1

    def __call__(self, x: jax.Array) -> jax.Array:
        """(d0, ..., d_start, ..., d_end, ...) -> (d0, ..., d_start * ... * d_end, ...).

        Raises:
            ValueError: a dimension is out of range for ``x``, or ``start_dim`` comes after ``end_dim``.
        """
        start, end = (dim + x.ndim if dim < 0 else dim for dim in (self.start_dim, self.end_dim))
        if not 0 <= start <= end < x.ndim:
            raise ValueError(
                f"flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an input with {x.ndim} axes"
            )
        tail = () if self.end_dim == -1 else x.shape[self.end_dim + 1 :]
        return jnp.reshape(x, (*x.shape[: self.start_dim], -1, *tail))

    def source(self) -> str:
        """The same reshape as a lambda (no mixrl import needed)."""
        tail = "" if self.end_dim == -1 else f" + x.shape[{self.end_dim + 1}:]"
        return f"lambda x: x.reshape(x.shape[:{self.start_dim}] + (-1,){tail})"


@dataclass(frozen=True)
class Op:
    """One entry of a container's ``nn.Sequential``: ``Dense``, ``Conv``, ``flatten``, ``Recurrent`` or an activation.

    ``args`` are the Flax constructor keywords.
    """

    kind: str
    args: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Callable[..., Any]:
        """A fresh module (or function) for a ``Sequential``."""
        if self.kind in ("Dense", "Conv"):
            return getattr(nn, self.kind)(**dict(self.args))
        if self.kind == "Recurrent":
            return Recurrent(**dict(self.args))
        if self.kind == "flatten":
            return Flatten(**dict(self.args))
        return ACTIVATION_FUNCTIONS[self.kind]

    def source(self) -> str:
        """Python text building the same entry (``nn.Dense(features=64, use_bias=True)``, ``nn.relu``, ...)."""
        if self.kind in ("Dense", "Conv", "Recurrent"):
            module = "Recurrent" if self.kind == "Recurrent" else f"nn.{self.kind}"
            return f"{module}({', '.join(f'{key}={literal(value)}' for key, value in self.args)})"
        if self.kind == "flatten":
            return Flatten(**dict(self.args)).source()
        return f"nn.{FLAX_NAMES[self.kind]}"


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _padding(value: Any) -> Any:
    """torch padding to Flax: ``"same"`` -> ``"SAME"``; 0 (torch's default) -> ``"VALID"``; ints and pairs kept."""
    if isinstance(value, str):
        return value.upper()
    return "VALID" if value == 0 else value


def layer_ops(layer: Layer, sizes: tuple[Any, Any], where: str) -> list[Op]:
    """The Sequential entries of ``layer``: the layer, then its activation (if any).

    Args:
        sizes: the model's ``num_observations`` and ``num_actions`` (for size tokens such as ``ACTIONS``).

    Raises:
        ValueError: ``bias: false`` on a recurrent layer (Flax cells always have biases).
    """
    args = dict(layer.args)
    if layer.recurrent:
        if not args.pop("bias", True):
            raise ValueError(f"{where}: bias=False is not available for JAX {layer.kind} layers (Flax cells)")
        args = {"kind": layer.kind, "hidden_size": args["hidden_size"], "num_layers": args.get("num_layers", 1)}
        if layer.kind == "rnn":
            args["nonlinearity"] = dict(layer.args).get("nonlinearity", "tanh")
        op = Op("Recurrent", tuple(args.items()))
    elif layer.kind == "linear":
        features = resolve_units(args["out_features"], *sizes)
        op = Op("Dense", (("features", features), ("use_bias", args.get("bias", True))))
    elif layer.kind == "conv2d":
        op = Op(
            "Conv",
            (
                ("features", args["out_channels"]),
                ("kernel_size", _pair(args["kernel_size"])),
                ("strides", _pair(args.get("stride", 1))),
                ("padding", _padding(args.get("padding", 0))),
                ("use_bias", args.get("bias", True)),
            ),
        )
    else:
        op = Op("flatten", tuple(args.items()))
    return [op] if layer.activation is None else [op, Op(layer.activation)]


class RecurrentSequential(nn.Sequential):
    """A container whose first entry is a :class:`Recurrent` layer: ``(x, states, ...) -> (out, final states)``."""

    def __call__(
        self, x: jax.Array, states: Any, terminated: Any, sequence_length: int, training: bool
    ) -> tuple[jax.Array, list[jax.Array]]:
        """The recurrent layer (see :meth:`Recurrent.__call__`), then the other entries on its output (rows, H)."""
        out, final = self.layers[0](x, states, terminated, sequence_length, training)
        for layer in self.layers[1:]:
            out = layer(out)
        return out, final
