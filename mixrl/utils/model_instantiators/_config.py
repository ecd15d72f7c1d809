"""Model configuration documents to instantiator calls, framework-free (YAML read with :func:`load_yaml` only).

A document is a mapping, the text of a YAML document or the path of a YAML file, in one of three shapes:

* one model: ``class`` (a mixin, see :mod:`._kinds`), its mixin parameters, ``network`` / ``output`` (or
  the legacy keys), optionally ``num_envs`` / ``sequence_length`` (recurrent networks) and the encoded
  ``observation_space`` / ``action_space`` (see :mod:`mixrl.utils.spaces.description`);
* a shared model: ``class: Shared``, ``roles`` (role name -> one-model document without spaces; the trunk
  is the first role's network), optionally ``single_forward_pass``, ``num_envs``, ``sequence_length``
  and the spaces;
* the skrl runner shape: ``models: {separate: bool, <role>: {class: ..., ...}, ...}`` (plus the runner's
  ``seed`` / ``memory`` / ``agent`` / ``trainer`` sections, which configure the agent and are ignored
  here): one model per role, or with ``separate: false`` one shared model serving every role.

Strings inside a document are data: expressions go through the checked parser of :mod:`._expressions`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from mixrl._logging import logger
from mixrl.utils.model_instantiators._kinds import KIND_NAMES, RECURRENT_PARAMETERS, Mixin, description_keys, parse_kind
from mixrl.utils.spaces.description import decode_space

SPACES = ("observation_space", "action_space")
RUNNER_SECTIONS = ("seed", "memory", "agent", "trainer")
_MODEL_KEYS = ("class", *SPACES, *RECURRENT_PARAMETERS)
_SHARED_KEYS = ("class", "roles", "single_forward_pass", *SPACES, *RECURRENT_PARAMETERS)

Config = Mapping[str, Any] | str | os.PathLike
MAX_YAML_CHARACTERS = 2**18  # 256 KiB: model documents are far smaller (uniform Box bounds are one number)
MAX_YAML_DEPTH = 32


@dataclass(frozen=True)
class Build:
    """One instantiator call: ``function`` (e.g. ``"gaussian_model"``) with ``kwargs`` besides spaces and device.

    ``roles``: in the runner shape, the roles the built model serves.
    """

    function: str
    kwargs: Mapping[str, Any]
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What a document asks for: the builds, whether a role -> model dict is wanted, and decoded spaces."""

    builds: tuple[Build, ...]
    runner: bool = False
    spaces: Mapping[str, Any] = field(default_factory=dict)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available (10x faster)


def load_yaml(text: str) -> Any:
    """The YAML document ``text`` as plain data, bounded: the one YAML reader of mixrl (configs and sidecars).

    Aliases are refused (each can multiply the document: a "billion laughs" bomb); the events are checked before
    anything is constructed, so every refusal takes milliseconds.

    Raises:
        yaml.YAMLError: not valid YAML, more than ``MAX_YAML_CHARACTERS``, an alias, or nesting deeper than
            ``MAX_YAML_DEPTH``.
    """
    if len(text) > MAX_YAML_CHARACTERS:
        raise yaml.YAMLError(f"{len(text)} characters or more, above the limit of {MAX_YAML_CHARACTERS}")
    depth = 0
    for event in yaml.parse(text, _LOADER):
        where = f"line {getattr(event.start_mark, 'line', -1) + 1}"
        if isinstance(event, yaml.AliasEvent):
            raise yaml.YAMLError(f"{where}: aliases (*{event.anchor}) are refused")
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_YAML_DEPTH:
            raise yaml.YAMLError(f"{where}: nested deeper than {MAX_YAML_DEPTH} levels")
    return yaml.load(text, _LOADER)


def read_document(config: Config) -> tuple[Mapping[str, Any], str]:
    """The document and a name for error messages (the file path, or ``"config"``).

    A ``str`` holding a line break is the YAML text itself; any other ``str`` or path-like is a YAML file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not valid YAML, or not a mapping.
    """
    if isinstance(config, Mapping):
        return config, "config"
    if not isinstance(config, (str, os.PathLike)):
        raise ValueError(f"config must be a mapping, YAML text or a YAML file path, got {type(config).__name__}")
    inline = isinstance(config, str) and "\n" in config
    source = "config" if inline else os.fspath(config)
    try:
        if not inline:
            with open(config, encoding="utf-8") as file:
                config = file.read(MAX_YAML_CHARACTERS + 1)
        document = load_yaml(str(config))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{source}: not a valid YAML document: {error}") from None
    if not isinstance(document, Mapping):
        raise ValueError(f"{source}: expected a mapping (class: ..., or models: ...), got {type(document).__name__}")
    return document, source


def _unknown(document: Mapping[str, Any], allowed: set[str] | tuple[str, ...], where: str) -> None:
    unknown = sorted(map(str, set(document) - set(allowed)))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _mixin(document: Any, where: str) -> Mixin | None:
    if not isinstance(document, Mapping) or "class" not in document:
        raise ValueError(f"{where}: expected a mapping with a 'class' key (one of {KIND_NAMES}), got {document!r}")
    return parse_kind(document["class"], f"{where}: class")


def _single(document: Mapping[str, Any], where: str, extra: tuple[str, ...]) -> Build:
    mixin = _mixin(document, where)
    if mixin is None:
        raise ValueError(f"{where}: a role is one mixin, not a shared model (class {document['class']!r})")
    _unknown(document, description_keys(mixin) | set(extra), where)
    kwargs = {key: value for key, value in document.items() if key not in ("class", *SPACES)}
    return Build(mixin.function, kwargs)


def _shared(roles: Any, options: Mapping[str, Any], where: str) -> Build:
    if not isinstance(roles, Mapping) or len(roles) < 2:
        raise ValueError(f"{where}: roles must map at least two role names to their descriptions, got {roles!r}")
    if not isinstance(options.get("single_forward_pass", True), bool):
        raise ValueError(f"{where}: single_forward_pass must be true or false, got {options['single_forward_pass']!r}")
    structure, parameters = [], []
    for role, document in roles.items():
        build = _single(document, f"{where}.{role}", ("class",))
        structure.append(cast(Mixin, parse_kind(document["class"])).name)  # _single rejected a shared kind
        parameters.append(dict(build.kwargs))
    kwargs = {"structure": structure, "roles": list(roles), "parameters": parameters, **options}
    return Build("shared_model", kwargs, tuple(roles))


def _runner(models: Any, where: str) -> Plan:
    if not isinstance(models, Mapping):
        raise ValueError(f"{where}: expected a mapping of separate and the roles, got {models!r}")
    if "separate" not in models:
        logger.warning(f"{where}: no 'separate' key, so every role gets its own model (skrl's default)")
    separate = models.get("separate", True)
    if not isinstance(separate, bool):
        raise ValueError(f"{where}: separate must be true or false, got {separate!r}")
    options = {key: models[key] for key in RECURRENT_PARAMETERS if key in models}
    roles = {key: value for key, value in models.items() if key not in ("separate", *RECURRENT_PARAMETERS)}
    if not roles:
        raise ValueError(f"{where}: no roles (e.g. policy: {{class: GaussianMixin, ...}})")
    if not separate:
        return Plan((_shared(roles, options, where),), runner=True)
    builds = []
    for role, document in roles.items():
        build = _single(document, f"{where}.{role}", ("class", *RECURRENT_PARAMETERS))
        builds.append(Build(build.function, {**options, **build.kwargs}, (role,)))
    return Plan(tuple(builds), runner=True)


def plan(config: Config) -> Plan:
    """Read and validate a configuration document (see the module docstring).

    Returns:
        the builds; ``runner`` is True for the skrl runner shape (the caller returns role -> model).

    Raises:
        FileNotFoundError: a YAML file path that does not exist.
        ValueError: invalid YAML, an unknown shape, class or key (the message lists the allowed ones), or an
            invalid encoded space.
    """
    document, source = read_document(config)
    if "models" in document:
        _unknown(document, ("models", *RUNNER_SECTIONS), source)
        return _runner(document["models"], f"{source}: models")
    if "class" not in document:
        raise ValueError(f"{source}: expected a 'class' key (one of {KIND_NAMES}) or the skrl runner's 'models' key")
    spaces = {key: decode_space(document.get(key), f"{source}: {key}") for key in SPACES}
    if _mixin(document, source) is not None:
        return Plan((_single(document, source, _MODEL_KEYS),), spaces=spaces)
    _unknown(document, _SHARED_KEYS, source)
    options = {key: document[key] for key in ("single_forward_pass", *RECURRENT_PARAMETERS) if key in document}
    return Plan((_shared(document.get("roles"), options, f"{source}: roles"),), spaces=spaces)
