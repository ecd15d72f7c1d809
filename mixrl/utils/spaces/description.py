"""Observation / action spaces as plain data (JSON / YAML) and back, framework-free.

The model instantiators save spaces in this form in a model description, the exporters in an export sidecar.

``None``, ints and sequences of ints (the shapes :class:`~mixrl.models.torch.Model` accepts) stay as
they are (sequences become lists). Gymnasium spaces become a dict with a ``type`` key:

=============== =================================================================================
``Box``         ``low``, ``high`` (one number when uniform, else nested lists), ``shape``, ``dtype``
``Discrete``    ``n``, ``start``
``MultiDiscrete`` ``nvec``, ``start`` (nested lists), ``dtype`` (only when not ``int64``)
``MultiBinary`` ``n`` (an int or a shape list)
``Tuple``       ``spaces`` (a list)
``Dict``        ``spaces`` (a mapping, in the space's key order)
=============== =================================================================================

A described space holds at most ``MAX_SPACE_SIZE`` elements (all its parts together, checked before anything is
allocated). With ``strict_json=True`` Box bounds are always nested lists, with infinities as the strings ``"inf"`` /
``"-inf"`` (standard JSON has no infinity); :func:`decode_space` reads both forms.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np

spaces = gymnasium.spaces
SPACE_TYPES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Tuple", "Dict")
_FIELDS = {  # required, optional
    "Box": (("low", "high", "shape"), ("dtype",)),
    "Discrete": (("n",), ("start",)),
    "MultiDiscrete": (("nvec",), ("start", "dtype")),
    "MultiBinary": (("n",), ()),
}
MAX_SPACE_SIZE = 2**24  # elements of a decoded space: 16.7M, e.g. a 2048 x 2048 x 4 image
_DTYPES = {"Box": ("float32", "biuf"), "MultiDiscrete": ("int64", "iu")}  # default, numpy kinds allowed


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bound(array: np.ndarray, strict_json: bool) -> Any:
    """One number when every element is equal (the usual ``Box(-1, 1, shape)``), else nested lists."""
    if strict_json:
        return np.where(np.isposinf(array), "inf", np.where(np.isneginf(array), "-inf", array.astype(object))).tolist()
    if array.size and np.all(array == array.flat[0]):
        return array.flat[0].item()
    return array.tolist()


def _infinities(value: Any) -> Any:
    """Box bounds with the strings ``"inf"`` / ``"-inf"`` (or JSON's ``"Infinity"``, read back by YAML) as floats."""
    if isinstance(value, list):
        return [_infinities(item) for item in value]
    if isinstance(value, str) and value not in ("inf", "-inf", "Infinity", "-Infinity"):
        raise ValueError(f"invalid Box bound {value!r}: expected a number, 'inf' or '-inf'")
    return float(value) if isinstance(value, str) else value


def encode_space(space: Any, *, strict_json: bool = False) -> Any:
    """Plain data describing ``space`` (see the module docstring).

    Raises:
        ValueError: a space type other than the ones listed (e.g. ``Text``, ``Graph``).
    """
    if space is None or _is_int(space):
        return None if space is None else int(space)
    if isinstance(space, spaces.Box):
        low, high = _bound(space.low, strict_json), _bound(space.high, strict_json)
        return {"type": "Box", "low": low, "high": high, "shape": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        dtype = {} if space.dtype == np.int64 else {"dtype": str(space.dtype)}
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist(), **dtype}
    if isinstance(space, spaces.MultiBinary):
        n: Any = space.n
        return {"type": "MultiBinary", "n": int(n) if _is_int(n) else [int(k) for k in n]}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [encode_space(item, strict_json=strict_json) for item in space.spaces]}
    if isinstance(space, spaces.Dict):
        items = {str(key): encode_space(item, strict_json=strict_json) for key, item in space.spaces.items()}
        return {"type": "Dict", "spaces": items}
    if isinstance(space, Sequence) and not isinstance(space, str) and all(_is_int(size) for size in space):
        return [int(size) for size in space]
    raise ValueError(
        f"cannot describe the space {space!r}: expected None, an int, a sequence of ints or one of the "
        f"gymnasium spaces {list(SPACE_TYPES)}"
    )


def _fields(data: Mapping[str, Any], required: Sequence[str], optional: Sequence[str], where: str) -> None:
    missing = [key for key in required if key not in data]
    unknown = sorted(map(str, set(data) - {"type", *required, *optional}))
    if missing or unknown:
        raise ValueError(
            f"{where}: a {data['type']} needs {list(required)} (optional {list(optional)}); "
            f"missing {missing}, unknown {unknown}"
        )


def _dtype(name: Any, kinds: str, where: str) -> np.dtype:
    try:
        dtype = np.dtype(name)
    except TypeError:
        dtype = None
    if not isinstance(name, str) or dtype is None or dtype.kind not in kinds:
        raise ValueError(f"{where}: invalid dtype {name!r}: expected a numeric dtype name such as 'float32'")
    return dtype


def declared_size(data: Any) -> int:
    """Elements of the Box / MultiBinary / int / shape parts of ``data``, computed without allocating them.

    Discrete and MultiDiscrete count 0: their data is as large as they are; malformed parts count 0 too.
    """
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind in ("Tuple", "Dict"):
        items = data.get("spaces")
        return sum(map(declared_size, items.values() if isinstance(items, Mapping) else items or ()))
    sizes = data.get("shape" if kind == "Box" else "n") if kind in ("Box", "MultiBinary") else data
    sizes = [sizes] if _is_int(sizes) else sizes
    valid = kind not in ("Discrete", "MultiDiscrete") and isinstance(sizes, (list, tuple)) and sizes
    return math.prod(sizes) if valid and all(_is_int(size) and size >= 0 for size in sizes) else 0


def decode_space(data: Any, where: str = "space") -> Any:
    """The space described by ``data`` (the inverse of :func:`encode_space`).

    Raises:
        ValueError: malformed data (the message names ``where`` and the expected fields), or a space of more than
            ``MAX_SPACE_SIZE`` elements.
    """
    if (size := declared_size(data)) > MAX_SPACE_SIZE:
        raise ValueError(f"{where}: a space of {size} elements, above the limit of {MAX_SPACE_SIZE}")
    return _decode(data, where)


def _decode(data: Any, where: str) -> Any:
    if data is None or _is_int(data):
        return data
    if isinstance(data, list) and all(_is_int(size) for size in data):
        return list(data)
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind not in SPACE_TYPES:
        raise ValueError(
            f"{where}: expected null, an int, a list of ints or a mapping with type in {list(SPACE_TYPES)}, "
            f"got {data!r}"
        )
    if kind in ("Tuple", "Dict"):
        _fields(data, ("spaces",), (), where)
        items = data["spaces"]
        if kind == "Tuple" and isinstance(items, list):
            return spaces.Tuple([_decode(item, f"{where}[{i}]") for i, item in enumerate(items)])
        if kind == "Dict" and isinstance(items, Mapping):
            return spaces.Dict([(key, _decode(item, f"{where}[{key!r}]")) for key, item in items.items()])
        raise ValueError(f"{where}: the spaces of a {kind} must be a {'list' if kind == 'Tuple' else 'mapping'}")
    _fields(data, *_FIELDS[kind], where)
    if kind in _DTYPES:
        default, kinds = _DTYPES[kind]
        dtype = _dtype(data.get("dtype", default), kinds, where)
    try:
        if kind == "Box":
            bounds = (_infinities(data["low"]), _infinities(data["high"]))
            shape = tuple(data["shape"])
            low, high = (np.full(shape, v, dtype) if np.ndim(v) == 0 else np.asarray(v, dtype) for v in bounds)
            return spaces.Box(low, high, shape=shape, dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(data["n"], start=data.get("start", 0))
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(data["nvec"], dtype=dtype, start=data.get("start"))
        return spaces.MultiBinary(data["n"])
    except (TypeError, ValueError, AssertionError) as error:
        raise ValueError(f"{where}: invalid {kind} {dict(data)!r}: {error}") from None
