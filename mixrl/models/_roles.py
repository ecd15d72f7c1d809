"""Per-role mixin configuration and role routing, shared by the torch and JAX models.

Each mixin ``__init__`` registers one :class:`RoleEntry` for its role in ``model._mixrl``
(``{mixin class: {role: entry}}``), so two roles (of the same or of different mixins) never
overwrite each other's settings. :func:`route` finds the entry for a call, memoised per
``(mixin, role)`` so the hot path costs one dictionary lookup.
"""

from __future__ import annotations

import copy
from typing import Any


class RoleEntry:
    """Settings of one mixin for one role, plus what its last call left for the accessors.

    ``owner`` is the mixin class that registered the entry; ``last`` holds the tensors of the last
    call (cleared on deep copy, so a copied model does not drag along another model's graph).
    """

    def __init__(self, owner: type, role: str, **settings: Any) -> None:
        self.owner = owner
        self.role = role
        self.last: Any = None
        self.__dict__.update(settings)

    def __deepcopy__(self, memo: dict) -> RoleEntry:
        clone = RoleEntry.__new__(RoleEntry)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            clone.__dict__[name] = None if name == "last" else copy.deepcopy(value, memo)
        return clone

    def __repr__(self) -> str:
        settings = {k: v for k, v in self.__dict__.items() if k not in ("owner", "last")}
        return f"RoleEntry({self.owner.__name__}, {settings})"


def register(model: Any, mixin: type, role: str, **settings: Any) -> RoleEntry:
    """Record ``mixin``'s settings for ``role`` on ``model`` (replacing an earlier entry of the same pair)."""
    if not isinstance(role, str):
        raise TypeError(f"role must be a str, got {type(role).__name__}")
    registry = model.__dict__.get("_mixrl")
    if registry is None:
        raise RuntimeError(
            f"{type(model).__name__}: call Model.__init__ before {mixin.__name__}.__init__ "
            "(and list the mixins before Model in the class bases)"
        )
    entry = RoleEntry(mixin, role, **settings)
    registry.setdefault(mixin, {})[role] = entry
    model.__dict__["_mixrl_routes"].clear()
    return entry


def registered_roles(model: Any) -> list[str]:
    """Every role registered on ``model`` by any mixin, in registration order."""
    return [role for entries in model.__dict__["_mixrl"].values() for role in entries]


def route(model: Any, mixin: type, role: str) -> RoleEntry:
    """The entry that serves a call of ``mixin``'s method with ``role``.

    Lookup order: ``mixin``'s entry for ``role``; another mixin's entry for ``role`` (the caller then
    delegates to ``entry.owner``); ``mixin``'s entry for ``""``; the only entry of a single-role model.

    Raises:
        ValueError: the role is unknown on a model with several roles, or ``mixin`` was never initialised.
    """
    routes = model.__dict__["_mixrl_routes"]
    try:
        return routes[mixin, role]
    except KeyError:
        entry = routes[mixin, role] = _resolve(model, mixin, role)
        return entry


def _resolve(model: Any, mixin: type, role: str) -> RoleEntry:
    registry = model.__dict__["_mixrl"]
    own = registry.get(mixin, {})
    if role in own:
        return own[role]
    for other, entries in registry.items():
        if other is not mixin and role in entries:
            return entries[role]
    if "" in own:
        return own[""]
    roles = registered_roles(model)
    if len(roles) == 1 and own:
        return next(iter(own.values()))
    if not roles:
        raise ValueError(
            f"{type(model).__name__} has no mixin configuration: call {mixin.__name__}.__init__(self, ...) "
            "in the model's __init__, after Model.__init__"
        )
    raise ValueError(f"unknown role {role!r} for {type(model).__name__}: expected one of {roles}")


def delegated(entry: RoleEntry, method: str, role: str) -> Any:
    """``entry.owner``'s ``method`` for a call routed to another mixin (an accessor such as ``get_entropy``).

    Raises:
        ValueError: that mixin has no such method (e.g. ``get_entropy`` of a deterministic value role).
    """
    function = getattr(entry.owner, method, None)
    if function is None:
        raise ValueError(f"role {role!r} is served by {entry.owner.__name__}, which has no {method}()")
    return function
