"""Operations on Flax parameter trees: initialisers, structure checks, polyak averaging, checkpoint trees."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

Initializer = Callable[[jax.Array, tuple, Any], jax.Array]

_INITIALIZERS = sorted(
    name
    for name in dir(nn.initializers)
    if not name.startswith("_") and inspect.isfunction(getattr(nn.initializers, name))
)
_USED_AS_IS = ("ones", "zeros")
_TORCH_KWARGS = {"val": "value", "std": "stddev"}


def resolve_initializer(method_name: str, args: tuple, kwargs: dict[str, Any]) -> Initializer:
    """The ``flax.linen.initializers`` initializer named ``method_name``, built with ``args``/``kwargs``.

    A trailing ``_`` is dropped (torch-style ``"constant_"``, ``"normal_"``), torch keywords are renamed
    (``val`` -> ``value``, ``std`` -> ``stddev``), ``normal(mean=m)`` and ``uniform(a=, b=)`` shift the
    samples, and ``constant`` without a value fills with 0. ``ones``/``zeros`` are used as they are;
    every other name is a factory called with ``args``/``kwargs``. Nothing is evaluated from strings.

    Raises:
        TypeError: ``method_name`` is not a str, or ``ones``/``zeros`` get arguments.
        ValueError: ``method_name`` is not a public initializer of ``flax.linen.initializers``.
    """
    if not isinstance(method_name, str):
        raise TypeError(f"method_name must be a str, got {type(method_name).__name__}")
    name = method_name[:-1] if method_name.endswith("_") else method_name
    if name not in _INITIALIZERS:
        raise ValueError(
            f"unknown initializer {method_name!r}: expected one of flax.linen.initializers' {_INITIALIZERS} "
            "(a trailing '_' is accepted)"
        )
    factory = getattr(nn.initializers, name)
    if name in _USED_AS_IS:
        if args or kwargs:
            raise TypeError(f"initializer {name!r} takes no arguments, got {args} {kwargs}")
        return factory
    kwargs = {_TORCH_KWARGS.get(key, key): value for key, value in kwargs.items()}
    offset = 0.0
    if name == "normal":
        offset = kwargs.pop("mean", 0.0)
    elif name == "uniform" and ("a" in kwargs or "b" in kwargs):
        offset, high = kwargs.pop("a", 0.0), kwargs.pop("b", 1.0)
        kwargs["scale"] = high - offset
    elif name == "constant" and not args and "value" not in kwargs:
        kwargs["value"] = 0.0
    initializer = factory(*args, **kwargs)
    if not offset:
        return initializer

    def shifted(key: jax.Array, shape: tuple, dtype: Any = jnp.float32) -> jax.Array:
        return initializer(key, shape, dtype) + jnp.asarray(offset, dtype)

    return shifted


def _leaf_name(path: tuple) -> str | None:
    last = path[-1] if path else None
    return getattr(last, "key", getattr(last, "name", None))


def reinitialize(params: Any, initializer: Initializer, key: jax.Array, names: tuple[str, ...] | None) -> Any:
    """``params`` with every leaf (or those whose last path key is in ``names``) drawn anew, one subkey per leaf."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    new = [
        initializer(subkey, leaf.shape, leaf.dtype) if names is None or _leaf_name(path) in names else leaf
        for subkey, (path, leaf) in zip(keys, leaves, strict=False)
    ]
    return jax.tree_util.tree_unflatten(treedef, new)


def _by_path(tree: Any) -> dict[str, Any]:
    return {jax.tree_util.keystr(path): leaf for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def conform(own: Any, other: Any, what: str) -> Any:
    """``other`` rebuilt in the structure of ``own`` after checking both have the same leaves.

    Raises:
        ValueError: a leaf path is missing on either side, or a leaf has another shape or dtype.
    """
    mine, theirs = _by_path(own), _by_path(other)
    missing = [path for path in mine if path not in theirs]
    extra = [path for path in theirs if path not in mine]
    mismatched = [
        f"{path}: {jnp.shape(mine[path])} {jnp.result_type(mine[path])} vs "
        f"{jnp.shape(theirs[path])} {jnp.result_type(theirs[path])}"
        for path in mine
        if path in theirs
        and (
            jnp.shape(mine[path]) != jnp.shape(theirs[path])
            or jnp.result_type(mine[path]) != jnp.result_type(theirs[path])
        )
    ]
    if missing or extra or mismatched:
        raise ValueError(
            f"{what}: the parameter trees differ (missing in source: {missing}; only in source: {extra}; "
            f"shape/dtype mismatches: {mismatched})"
        )
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(own), [theirs[path] for path in mine])


@jax.jit
def polyak_average(own: Any, source: Any, polyak: float) -> Any:
    """``(1 - polyak) * own + polyak * source`` leaf by leaf (one compiled call for the whole tree)."""
    return jax.tree_util.tree_map(lambda dst, src: (1 - polyak) * dst + polyak * src, own, source)


def from_tree(template: Any, tree: Any, name: str) -> Any:
    """A tree read from a checkpoint (e.g. :func:`mixrl.checkpoints.flax_io.read_msgpack`) in ``template``'s structure.

    Raises:
        ValueError: the tree (names, shapes, dtypes) differs from ``template``; the message names ``name``.
    """
    restored = conform(flax.serialization.to_state_dict(template), tree, name)
    return flax.serialization.from_state_dict(template, restored)
