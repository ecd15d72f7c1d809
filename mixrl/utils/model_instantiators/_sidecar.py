"""The resolved description of an instantiated model and its sidecar file beside a checkpoint, framework-free.

The resolved description is a :mod:`._config` document with every default filled in (kind, mixin parameters,
canonical network or legacy keys, output, recurrent keywords, encoded spaces), in plain data only, so
``model_from_config(description)`` builds the same model; ``Model.save("policy.pt")`` writes it to
``policy.pt.model.yaml``.
"""

from __future__ import annotations

import enum
import hashlib
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import yaml

from mixrl.checkpoints.atomic import atomic_write
from mixrl.utils.model_instantiators._config import MAX_YAML_CHARACTERS, load_yaml
from mixrl.utils.model_instantiators._kinds import SHARED
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.spaces.description import encode_space

SUFFIX = ".model.yaml"
_DIGEST_PREFIX = "# weights sha256: "
_HEADER = "# mixrl model description of the weights in {name}: rebuild with load_model({name!r})\n"


def sidecar_path(path: str | os.PathLike) -> str:
    """The sidecar of the weights file ``path``: ``<path>.model.yaml``."""
    return os.fspath(path) + SUFFIX


def weights_digest(path: str | os.PathLike) -> str:
    """The sha256 of the weights file ``path`` (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sidecar(path: str | os.PathLike, description: Mapping[str, Any]) -> None:
    """Write ``description`` as YAML beside the weights file ``path`` (already saved), atomically.

    The header records the sha256 of the weights (``# weights sha256: ...``), so :func:`read_sidecar` tells a
    torn pair (new weights, old sidecar: a save killed between the two renames) from a consistent one.

    Raises:
        yaml.representer.RepresenterError: ``description`` holds something other than plain data.
    """
    text = yaml.safe_dump(dict(description), sort_keys=False, default_flow_style=None, width=120)
    header = _HEADER.format(name=os.path.basename(os.fspath(path)))
    if os.path.exists(path):  # the weights are written first (a sidecar alone records no digest)
        header += f"{_DIGEST_PREFIX}{weights_digest(path)}\n"

    def write(file: BinaryIO) -> None:
        file.write((header + text).encode("utf-8"))

    atomic_write(sidecar_path(path), write)


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The description saved beside the weights file ``path``.

    Raises:
        ValueError: the sidecar is missing, is not valid YAML, is not a mapping (the message names it), or the
            weights are not those it was written for (the sha256 in its header; the message names both files).
    """
    sidecar = sidecar_path(path)
    try:
        with open(sidecar, encoding="utf-8") as file:
            text = file.read(MAX_YAML_CHARACTERS + 1)
        description = load_yaml(text)
    except FileNotFoundError:
        raise ValueError(
            f"{sidecar}: missing: the weights {os.fspath(path)!r} have no model description beside them "
            "(Model.save writes it for models built by the model instantiators)"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{sidecar}: corrupted model description (not valid YAML): {error}") from None
    if not isinstance(description, dict):
        kind = type(description).__name__
        raise ValueError(f"{sidecar}: corrupted model description: expected a mapping, got {kind}")
    recorded = next(
        (line[len(_DIGEST_PREFIX) :].strip() for line in text.splitlines() if line.startswith(_DIGEST_PREFIX)), None
    )
    if recorded is None or not os.path.exists(path):
        return description  # no digest (older mixrl: trusted), or no weights: Model.load reports the missing file
    actual = weights_digest(path)
    if actual != recorded:
        raise ValueError(
            f"{sidecar} does not describe {os.fspath(path)}: it was written for weights with sha256 {recorded}, "
            f"the file has {actual} (a save interrupted between the weights and the sidecar, or the weights were "
            "replaced); save the model again"
        )
    return description


# ---------------------------------------------------------------- the resolved description


def plain(value: Any, where: str = "description") -> Any:
    """``value`` as plain data: enums by name, tuples as lists, numpy scalars as Python numbers.

    Raises:
        ValueError: a value with no plain form (the message names where it is).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:  # numpy scalars, np.bool_ too
        return plain(value.item(), where)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ValueError(f"{where}: keys must be strings, got {list(value)}")
        return {key: plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, Sequence):
        return [plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"{where}: {type(value).__name__} {value!r} cannot be saved in a model description")


def resolved_description(
    roles: Sequence[Role], single_forward_pass: bool, recurrent: Mapping[str, int] | None, spaces: Sequence[Any]
) -> dict[str, Any]:
    """Resolved description of a model: its one role's document, or ``class: Shared`` with one entry per role.

    Args:
        roles: the model's roles; each ``data`` describes its role again (the first role's holds the network,
            a single-role model's the whole document, see :func:`._shared.single_role`).
        single_forward_pass: saved for a shared model.
        recurrent: ``{"num_envs": ..., "sequence_length": ...}`` of a recurrent network, else None.
        spaces: the model's observation and action spaces.

    Raises:
        ValueError: a parameter or space has no plain form.
    """
    if len(roles) == 1:
        document = dict(roles[0].data)
    else:
        roles_data = {role.name: dict(role.data) for role in roles}
        document = {"class": SHARED, "single_forward_pass": bool(single_forward_pass), "roles": roles_data}
    document.update(recurrent or {})
    document["observation_space"], document["action_space"] = (encode_space(space) for space in spaces)
    return plain(document)
