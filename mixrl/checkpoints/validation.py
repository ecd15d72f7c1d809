"""Every entry of a state dict checked (and moved) before anything is copied into a torch model.

``Model.load`` and ``Model.migrate`` copy a checkpoint into the model only through :func:`prepared_state`:
it refuses meta, sparse and other non-strided tensors, complex and quantized dtypes, floating values for
integer/bool entries and shape mismatches, and moves every entry to the target's device (``copy_`` then casts to the
target's dtype, which the checks made safe), all before the first copy, so a failed load leaves the model bit-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def entry_problems(own: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> list[str]:
    """What keeps the entries of ``state`` that ``own`` also has from being copied into ``own``'s tensors."""
    problems = []
    for key, value in state.items():
        if key not in own:
            continue
        target = own[key]
        if not isinstance(value, torch.Tensor):
            problems.append(f"{key}: expected a tensor, got {type(value).__name__}")
        elif value.layout != torch.strided:
            problems.append(f"{key}: expected a dense (strided) tensor, got layout {value.layout}")
        elif value.is_meta:
            problems.append(f"{key}: a meta tensor (it has a shape but no data)")
        elif value.is_quantized or value.is_complex():
            problems.append(f"{key}: expected a real floating, integer or bool tensor, got {value.dtype}")
        elif value.is_floating_point() and not (target.is_floating_point() or target.is_complex()):
            problems.append(f"{key}: a {value.dtype} value for a {target.dtype} entry (would be truncated)")
        elif tuple(value.shape) != tuple(target.shape):
            problems.append(f"{key}: expected shape {list(target.shape)}, got {list(value.shape)}")
    return problems


def prepared_state(
    own: Mapping[str, torch.Tensor], state: Mapping[str, Any], source: str, model: str
) -> dict[str, torch.Tensor]:
    """The entries of ``state`` that ``own`` has, checked and moved to the target's device.

    Args:
        own: the model's ``state_dict()``.
        state: names to tensors to copy into the model (names ``own`` lacks are left out).
        source: the file (or ``"migration source"``), for the message.
        model: the model's class name, for the message.

    Returns:
        names to tensors ready for ``load_state_dict`` (the model's shapes and devices, compatible dtypes).

    Raises:
        ValueError: any entry cannot be copied (every problem is listed); nothing has been copied then.
    """
    problems = entry_problems(own, state)
    prepared: dict[str, torch.Tensor] = {}
    if not problems:
        for key, value in state.items():
            if key not in own:
                continue
            try:
                prepared[key] = value.detach().to(device=own[key].device)
            except (RuntimeError, TypeError, NotImplementedError) as error:
                problems.append(f"{key}: cannot be moved to {own[key].device}: {error}")
    if problems:
        raise ValueError(f"{source} does not match {model}: " + "; ".join(problems))
    return prepared
