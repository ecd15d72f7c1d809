"""Shared-model descriptions, framework-free: one trunk, one head per role.

The trunk comes from the first role's parameters (``network``, or the legacy ``input_shape`` /
``hiddens`` / ``hidden_activation``); every role adds its mixin settings and its output. Each
:class:`Role` keeps ``data``, the plain parameters that describe it again (the first role's also hold
the trunk), for the resolved description.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium

from mixrl._logging import logger
from mixrl.utils.model_instantiators._description import (
    LEGACY_DEFAULTS,
    LEGACY_KEYS,
    Container,
    Description,
    Output,
    describe_trunk,
    legacy_head,
    note_legacy,
    output_text,
    parse_output,
)
from mixrl.utils.model_instantiators._kinds import LOG_STD_PARAMETERS, MIXINS, Mixin, description_keys

_ACTION_SPACES: dict[str, tuple[type, ...]] = {  # the gymnasium action spaces a mixin acts in (others: any)
    "CategoricalMixin": (gymnasium.spaces.Discrete,),
    "GaussianMixin": (gymnasium.spaces.Box,),
    "MultivariateGaussianMixin": (gymnasium.spaces.Box,),
}


@dataclass(frozen=True)
class Role:
    """One role of a shared model: its mixin, constructor keywords, log-std settings, output and plain data."""

    name: str
    mixin: Mixin
    kwargs: Mapping[str, Any]
    log_std: Mapping[str, Any]
    output: Output
    data: Mapping[str, Any]


def single_role(mixin: Mixin, kwargs: Mapping[str, Any], log_std: Mapping[str, Any], description: Description) -> Role:
    """The role ``""`` of a single-role model; its ``data`` is the model's document (kind, keywords, network).

    Args:
        kwargs, log_std: the mixin's constructor keywords and (Gaussian kinds) the log-std settings, all given.
    """
    data = {"class": mixin.name, **kwargs, **log_std, **description.data}
    return Role("", mixin, kwargs, log_std, description.output, data)


def parse_structure(structure: Any) -> list[Mixin]:
    """Mixins of a shared model: class names (case-insensitive) as a list or comma-separated string.

    ``""`` and ``None`` (skrl ignored this argument) mean ``["GaussianMixin", "DeterministicMixin"]``.

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


def _check(mixins: list[Mixin], roles: list[Any], parameters: list[Any]) -> None:
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
        allowed = description_keys(mixin)
        unknown = sorted(map(str, set(params) - allowed))
        if unknown:
            raise TypeError(
                f"parameters of role {role!r} ({mixin.name}): unknown keys {unknown}, allowed {sorted(allowed)}"
            )


def describe_shared(structure: Any, roles: Any, parameters: Any) -> tuple[tuple[Container, ...], list[Role]]:
    """The shared trunk (from ``parameters[0]``) and one :class:`Role` per role.

    Raises:
        ValueError: length mismatch, fewer than two roles, bad or duplicate role names, two Gaussian-type roles,
            or an invalid description.
        TypeError: unknown parameter keys, or both styles in ``parameters[0]``.
    """
    mixins = parse_structure(structure)
    roles, parameters = list(roles), list(parameters)
    _check(mixins, roles, parameters)
    first = parameters[0]
    trunk = {key: first.get(key, LEGACY_DEFAULTS.get(key)) for key in ("network", *LEGACY_KEYS[:3])}
    given = {key: first[key] for key in LEGACY_KEYS if key in first}
    network, trunk_data = describe_trunk(first.get("network"), first.get("output") or "", given, "parameters[0] ")
    legacy = "network" not in trunk_data
    names = [container.name for container in network]
    result = []
    for i, (mixin, role, params) in enumerate(zip(mixins, roles, parameters, strict=True)):
        if i and any(key in params and params[key] != trunk[key] for key in trunk):
            logger.warning(f"shared_model: role {role!r} describes its own trunk; the trunk of {roles[0]!r} is used")
        explicit = "output" in params and not (legacy and not params["output"])
        if not explicit and (legacy or any(key in params for key in LEGACY_KEYS)):
            output, output_data = legacy_head(params, mixin.output_activation, names)
        else:
            output = parse_output(params.get("output", ""), names)
            output_data = {"output": output_text(output)}
        kwargs = {key: params.get(key, default) for key, default in mixin.parameters.items()}
        log_std = (
            {key: params.get(key, default) for key, default in LOG_STD_PARAMETERS.items()} if mixin.log_std else {}
        )
        data = {"class": mixin.name, **kwargs, **log_std, **(trunk_data if i == 0 else {}), **output_data}
        result.append(Role(role, mixin, kwargs, log_std, output, data))
    if any(key in params for params in parameters for key in LEGACY_KEYS):
        note_legacy()
    return network, result


def _finite(value: Any) -> bool:
    """A finite number (a 0-d array too), not a bool or a string."""
    try:
        return not isinstance(value, (bool, str)) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def check_role(role: Role, action_space: Any) -> None:
    """Validate a role's settings (mixin and log-std keywords) and the type of its action space.

    Raises:
        ValueError: a flag that is not a bool (a YAML ``'false'`` is a string), a log-std value that is not a
            finite number, ``min_log_std > max_log_std``, or an action space the mixin cannot act in.
    """
    mixin, values, where = role.mixin, {**role.kwargs, **role.log_std}, f"role {role.name!r}: " if role.name else ""
    for key, value in values.items():
        if isinstance({**mixin.parameters, **LOG_STD_PARAMETERS}.get(key), bool) and not isinstance(value, bool):
            raise ValueError(f"{where}{key} must be true or false, got {value!r}")
        if key in ("min_log_std", "max_log_std", "initial_log_std") and not _finite(value):
            raise ValueError(f"{where}{key} must be a finite number, got {value!r}")
    if values.get("min_log_std", -math.inf) > values.get("max_log_std", math.inf):
        raise ValueError(f"{where}min_log_std={values['min_log_std']!r} is above max_log_std={values['max_log_std']!r}")
    expected = _ACTION_SPACES.get(mixin.name, (gymnasium.Space,))
    if isinstance(action_space, gymnasium.Space) and not isinstance(action_space, expected):
        names = [space.__name__ for space in expected]
        raise ValueError(f"{where}{mixin.name} acts in a {' or '.join(names)} action space, got {action_space!r}")
