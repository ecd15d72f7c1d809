"""Legacy-era checkpoints of instantiated models (skrl 1.1-style classes) renamed to the current layout.

Legacy-era instantiated models named their layers ``net.N.*`` (one ``torch.nn.Sequential``), plus
``mean_net.0.*`` / ``value_net.0.*`` for the two heads of a shared model and ``log_std_parameter``.
Current (skrl 1.4-style) models name the same layers ``net_container.N.*`` (and other ``*_container``),
``<role>_layer.*`` for shared heads and ``log_std_parameter``. The networks are structurally identical,
so the entries are paired in order, checking kind (``weight``/``bias``) and shape:
``net.*`` with the containers' entries, ``mean_net.*`` with the first role's head and ``value_net.*``
with the second role's, ``log_std_parameter`` with itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mixrl._logging import logger

_LEGACY_PREFIXES = ("net.", "mean_net.", "value_net.")
_LOG_STD = "log_std_parameter"
_LEAF_RANK = {"weight": 0, "bias": 1}  # torch registers a layer's weight before its bias


def is_legacy_layout(state_dict: Mapping[str, Any]) -> bool:
    """Every key starts with ``net.``, ``mean_net.``, ``value_net.`` or is ``log_std_parameter``; one is ``net.*``."""
    keys = list(state_dict)
    return any(k.startswith("net.") for k in keys) and all(
        k.startswith(_LEGACY_PREFIXES) or k == _LOG_STD for k in keys
    )


def legacy_to_instantiated(
    state_dict: Mapping[str, Any], template: Mapping[str, Any], roles: Sequence[str] = ()
) -> dict[str, Any]:
    """Rename a legacy-era state dict to the names of ``template`` (a current instantiated model's state dict).

    Args:
        state_dict: legacy-era names to tensors: ``net.N.weight``/``.bias``, ``mean_net.N.*``, ``value_net.N.*``,
            ``log_std_parameter``.
        template: the current model's ``state_dict()`` (names in definition order, shapes).
        roles: the model's roles in registration order (``["policy", "value"]``): ``mean_net`` goes to
            ``<roles[0]>_layer`` and ``value_net`` to ``<roles[1]>_layer``; empty: the heads in template order.

    Returns:
        the same tensors under the template's names.

    Raises:
        ValueError: the two layouts do not pair (numbers of entries, kinds or shapes differ); the message
            lists legacy and current entries side by side.
    """
    legacy = _ordered_legacy(state_dict)
    current = _ordered_current(template, roles)
    problems = []
    if len(legacy) != len(current):
        problems.append(f"{len(legacy)} legacy-era entries {legacy} vs {len(current)} current entries {current}")
    else:
        for old, new in zip(legacy, current, strict=True):
            old_shape, new_shape = list(state_dict[old].shape), list(template[new].shape)
            if _kind(old) != _kind(new) or old_shape != new_shape:
                problems.append(f"{old} {old_shape} vs {new} {new_shape}")
    if problems:
        raise ValueError("legacy-era layout does not map onto the model: " + "; ".join(problems))
    logger.info(f"Legacy-era checkpoint: entries renamed {dict(zip(legacy, current, strict=True))}")
    return {new: state_dict[old] for old, new in zip(legacy, current, strict=True)}


def _ordered_legacy(state_dict: Mapping[str, Any]) -> list[str]:
    """``net.*`` then ``mean_net.*`` then ``value_net.*`` (by layer index, weight before bias), then log-std."""
    ordered = []
    for prefix in _LEGACY_PREFIXES:
        names = [name for name in state_dict if name.startswith(prefix)]
        ordered += sorted(names, key=lambda name: (_index(name[len(prefix) :]), _LEAF_RANK.get(_kind(name), 2)))
    return ordered + ([_LOG_STD] if _LOG_STD in state_dict else [])


def _ordered_current(template: Mapping[str, Any], roles: Sequence[str]) -> list[str]:
    """Container entries, then the role heads (in ``roles`` order when given), then ``log_std_parameter``."""
    names = [name for name in template if name != _LOG_STD]
    containers = [name for name in names if name.split(".", 1)[0].endswith("_container")]
    heads = [name for name in names if name not in containers]
    if roles:
        rank = {f"{role}_layer": i for i, role in enumerate(roles)}
        heads.sort(key=lambda name: rank.get(name.split(".", 1)[0], len(rank)))
    return containers + heads + ([_LOG_STD] if _LOG_STD in template else [])


def _index(rest: str) -> int:
    match = re.match(r"(\d+)\.", rest)
    return int(match.group(1)) if match else -1


def _kind(name: str) -> str:
    return name.rsplit(".", 1)[-1] if name.endswith((".weight", ".bias")) else "other"


def adapt_legacy_layout(
    state_dict: Mapping[str, Any], template: Mapping[str, Any], roles: Sequence[str] = (), source: str = "checkpoint"
) -> Mapping[str, Any]:
    """``state_dict`` renamed to the template's names if it is a legacy-era checkpoint of this model, else as it is.

    It is taken for legacy-era when :func:`is_legacy_layout` holds and no key other than ``log_std_parameter``
    is a key of the template (a checkpoint of a model that itself uses ``net.*`` names loads as usual).

    Raises:
        ValueError: the checkpoint is legacy-era but does not map onto the template; names ``source``.
    """
    if not is_legacy_layout(state_dict) or any(k in template for k in state_dict if k != _LOG_STD):
        return state_dict
    try:
        return legacy_to_instantiated(state_dict, template, roles)
    except ValueError as error:
        raise ValueError(f"{source}: looks like a legacy-era checkpoint (net.N.* names) but {error}") from None
