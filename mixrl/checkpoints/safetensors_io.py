"""``.safetensors`` files: tensors only, no code, the state-dict order kept in the metadata.

safetensors sorts its entries; files written here record the original order under ``mixrl.order`` and
are read back in it (other files come in safetensors' storage order). Reading gives torch tensors, or
NumPy arrays without torch (the JAX ``migrate``).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

_ORDER_KEY = "mixrl.order"
_MAX_ORDER_LENGTH = 100_000_000  # the header limit of safetensors itself


def safetensors_bytes(path: str | os.PathLike, state_dict: Mapping[str, Any]) -> bytes:
    """The safetensors serialisation of a torch state dict (each tensor copied contiguous: views are fine).

    Raises:
        ValueError: an entry is not a tensor (safetensors stores tensors only); names ``path``.
    """
    import torch
    from safetensors.torch import save

    others = {name: type(value).__name__ for name, value in state_dict.items() if not torch.is_tensor(value)}
    if others:
        raise ValueError(
            f"{os.fspath(path)}: safetensors stores tensors only, got non-tensor entries {others}; "
            "save to a .pt path instead"
        )
    tensors = {name: value.detach().clone(memory_format=torch.contiguous_format) for name, value in state_dict.items()}
    return save(tensors, metadata={"format": "pt", _ORDER_KEY: json.dumps(list(tensors))})


def read_safetensors(
    name: str, device: str | torch.device | None = None, *, arrays: Literal["torch", "numpy"] = "torch"
) -> dict[str, Any]:
    """Every tensor of the safetensors file ``name``, in state-dict order.

    Args:
        name: the file.
        device: torch only: where the tensors go (``None``: the CPU).
        arrays: ``"torch"`` tensors, or ``"numpy"`` arrays (needs no torch).

    Raises:
        ValueError: the file is truncated or corrupted.
    """
    import importlib

    from safetensors import SafetensorError

    load = importlib.import_module("safetensors.numpy" if arrays == "numpy" else "safetensors.torch").load
    with open(name, "rb") as file:
        data = file.read()
    try:
        state: dict[str, Any] = load(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name}: not a readable safetensors file (truncated or corrupted?): {error}") from None
    header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])  # valid: load() parsed it
    order = _saved_order(name, header.get("__metadata__"))
    if order is not None and sorted(order) == sorted(state):
        state = {key: state[key] for key in order}
    if device is None or arrays == "numpy":
        return state
    return {key: value.to(device) for key, value in state.items()}


def _saved_order(name: str, metadata: Any) -> list[str] | None:
    """The state-dict order recorded under ``mixrl.order`` in the metadata, or ``None`` when there is none.

    Raises:
        ValueError: the ``mixrl.order`` field is not a JSON list of strings (too deeply nested, another JSON
            value, not JSON at all); the message names the file and the field.
    """
    if not isinstance(metadata, Mapping) or _ORDER_KEY not in metadata:
        return None
    text = metadata[_ORDER_KEY]
    problem = f"{name}: corrupted safetensors metadata field {_ORDER_KEY!r}"
    if not isinstance(text, str) or len(text) > _MAX_ORDER_LENGTH:
        raise ValueError(f"{problem}: expected a JSON list of entry names")
    try:
        order = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError; "[[[[..." recurses
        raise ValueError(f"{problem}: not valid JSON ({type(error).__name__}: {str(error)[:80]})") from None
    if not isinstance(order, list) or not all(isinstance(item, str) for item in order):
        raise ValueError(f"{problem}: expected a JSON list of entry names, got {type(order).__name__}")
    return order
