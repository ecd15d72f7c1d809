"""Per-role head settings and role routing, shared by the torch and JAX models.

Each mixin ("head") ``__init__`` registers one typed :class:`HeadSettings` for its role in
``model._mixrl`` (``{head class: {role: settings}}``), so two roles (of the same or of different heads)
never overwrite each other's settings. A public method of the backend's routing base (``act``,
``get_entropy``, ...) finds with :func:`route` the settings that serve a call and runs the serving head's
implementation, named after the public method with a leading underscore (``_act``, ``_get_entropy``, ...):
one routing rule for every head instead of a route-and-delegate check in each of them. Routes are
memoised per ``(implementation, role)``, so the hot path costs one dictionary lookup.

Resolution of a role, for the public method ``name`` (implementation ``_name``):

1. the settings registered for that role by a head that implements ``_name``;
2. on a model with a single registered role, that role (single-role models ignore ``role``, as skrl's do);
3. the role ``""`` or a role nobody registered: the one registered role whose head implements ``_name``
   (skrl 1.x agents call ``model.get_log_std()`` on a Gaussian + Deterministic shared model and mean the
   policy's);
4. otherwise a ``ValueError`` naming the candidate roles (an ambiguity) or the known roles (an unknown role).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

Settings = TypeVar("Settings", bound="HeadSettings")


@dataclasses.dataclass(eq=False, kw_only=True)
class HeadSettings:
    """Settings of one head for one role; every head subclasses it with its own typed fields.

    Attributes:
        role: the role these settings belong to.
        head: the mixin class that registered them (whose implementations serve the role).
        last: what the role's last ``act`` left for the accessors (``None`` before any; dropped on deep copy,
            so a copied model does not drag along another model's graph).
    """

    role: str
    head: type
    last: Any = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.role, str):
            raise TypeError(f"role must be a str, got {type(self.role).__name__}")

    def __deepcopy__(self, memo: dict) -> HeadSettings:
        clone = copy.copy(self)
        memo[id(self)] = clone
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            setattr(clone, field.name, None if field.name == "last" else copy.deepcopy(value, memo))
        return clone


Route = tuple[HeadSettings, Callable[..., Any]]


def register(model: Any, settings: Settings) -> Settings:
    """Record ``settings`` for their role on ``model`` (replacing an earlier entry of the same head and role).

    Raises:
        RuntimeError: ``Model.__init__`` was not called before the mixin's ``__init__``.
    """
    registry = model.__dict__.get("_mixrl")
    if registry is None:
        raise RuntimeError(
            f"{type(model).__name__}: call Model.__init__ before {settings.head.__name__}.__init__ "
            "(and list the mixins before Model in the class bases)"
        )
    registry.setdefault(settings.head, {})[settings.role] = settings
    model.__dict__["_mixrl_routes"].clear()
    return settings


def registered_roles(model: Any) -> list[str]:
    """Every role registered on ``model`` by any head, in registration order (without repeats)."""
    roles = [settings.role for settings in all_settings(model)]
    return list(dict.fromkeys(roles))


def all_settings(model: Any) -> list[HeadSettings]:
    """Every registered :class:`HeadSettings` of ``model``, in registration order."""
    return [settings for entries in model.__dict__["_mixrl"].values() for settings in entries.values()]


def route(model: Any, role: str, name: str) -> Route:
    """``(settings, implementation)`` serving the public method ``name`` for ``role`` (see the module docstring).

    ``implementation`` is the serving head's ``_<name>`` function, to be called with the model and the
    settings first.

    Raises:
        ValueError: the role is unknown or ambiguous, its head has no ``_<name>``, or no head was initialised.
    """
    routes = model.__dict__["_mixrl_routes"]
    found = routes.get((name, role))
    if found is None:
        settings = _resolve(model, role, name)
        found = routes[name, role] = (settings, getattr(settings.head, "_" + name))
    return found


def _resolve(model: Any, role: str, name: str) -> HeadSettings:
    entries = all_settings(model)
    model_name = type(model).__name__
    if not entries:
        raise ValueError(
            f"{model_name} has no mixin configuration: call the mixin's __init__(self, ...) in the model's "
            "__init__, after Model.__init__"
        )

    def serves(settings: HeadSettings) -> bool:
        return getattr(settings.head, "_" + name, None) is not None

    def not_served(settings: HeadSettings) -> ValueError:
        return ValueError(
            f"role {settings.role!r} of {model_name} is served by {settings.head.__name__}, which has no {name}()"
        )

    def ambiguous(candidates: list[HeadSettings]) -> ValueError:
        roles = [settings.role for settings in candidates]
        return ValueError(
            f"{name}(role={role!r}) is ambiguous on {model_name}: roles {roles} all provide it; pass one of them"
        )

    exact = [settings for settings in entries if settings.role == role]
    if exact:
        providers = [settings for settings in exact if serves(settings)]
        if len(providers) == 1:
            return providers[0]
        raise ambiguous(providers) if providers else not_served(exact[0])
    if len(entries) == 1:
        if serves(entries[0]):
            return entries[0]
        raise not_served(entries[0])
    providers = [settings for settings in entries if serves(settings)]
    if role:
        # a role nobody registered: the default ("") role serves it if one provides the method
        defaults = [settings for settings in providers if settings.role == ""]
        if len(defaults) == 1:
            return defaults[0]
        raise ValueError(f"unknown role {role!r} for {model_name}: expected one of {registered_roles(model)}")
    if len(providers) == 1:
        return providers[0]
    if not providers:
        heads = sorted({settings.head.__name__ for settings in entries})
        raise ValueError(f"no head of {model_name} provides {name}() (its heads: {heads})")
    raise ambiguous(providers)
