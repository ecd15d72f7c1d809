"""What a checkpoint file holds, from its first bytes (never from its extension), without torch or flax.

:func:`sniff_format` tells a ``torch.save`` archive, a legacy torch pickle, another zip (e.g. a
stable-baselines3 archive), a safetensors file and a msgpack map (e.g. Flax parameters) apart; the
readers use it to turn a file whose content is not what its extension says, a truncated file or a
corrupted one into a ``ValueError`` naming the file, the expected format and what was found.
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import Literal

Format = Literal["torch", "torch-legacy", "zip", "safetensors", "msgpack", "empty", "unknown"]

TORCH_INSTALL = "pip install 'mixrl[torch]'"

_DESCRIPTIONS = {
    "torch": "a torch.save archive",
    "torch-legacy": "a legacy (pre-1.6) torch.save pickle",
    "zip": "a zip archive (not a torch.save file)",
    "safetensors": "a safetensors file",
    "msgpack": "a msgpack file (e.g. flax parameters)",
    "empty": "an empty file",
    "unknown": "an unrecognised format",
}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_MSGPACK_MAPS = {*range(0x81, 0x90), 0xDE, 0xDF}
_MAX_SAFETENSORS_HEADER = 100_000_000  # safetensors' own limit on the JSON header


def describe_format(fmt: Format) -> str:
    """Human words for a format returned by :func:`sniff_format` (used in error messages)."""
    return _DESCRIPTIONS[fmt]


def sniff_format(path: str | os.PathLike) -> Format:
    """Identify a checkpoint file from its first bytes (never from its extension).

    Returns:
        ``"torch"`` (a ``torch.save`` zip archive), ``"torch-legacy"`` (a pickle, ``_use_new_zipfile_
        serialization=False``), ``"zip"`` (another zip, e.g. a stable-baselines3 archive),
        ``"safetensors"``, ``"msgpack"`` (a map, e.g. Flax parameters), ``"empty"`` or ``"unknown"``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    with open(path, "rb") as file:
        head = file.read(16)
    if not head:
        return "empty"
    if head[:4] in _ZIP_MAGIC:
        return "torch" if _is_torch_archive(path) else "zip"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:  # pickle PROTO opcode + protocol number
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < _MAX_SAFETENSORS_HEADER:
        return "safetensors"  # a header longer than the file is a truncated safetensors file
    if head[0] in _MSGPACK_MAPS:
        return "msgpack"
    return "unknown"


def _is_torch_archive(path: str | os.PathLike) -> bool:
    """A zip written by ``torch.save`` holds ``<archive>/data.pkl``; a truncated zip counts as torch."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name == "data.pkl" or name.endswith("/data.pkl") for name in archive.namelist())
    except zipfile.BadZipFile:
        return True  # a torch archive cut before its central directory: reported as unreadable later


def is_safetensors_path(path: str | os.PathLike) -> bool:
    """The extension is ``.safetensors`` (any case): the format :func:`write_state_dict` chooses for it."""
    return os.fspath(path).lower().endswith(".safetensors")


def wrong_content(name: str, expected: Literal["torch", "safetensors"], found: Format) -> ValueError:
    """The error for a file whose content (``found``) is not the format its extension says (``expected``)."""
    hint = ""
    if found in ("empty", "unknown"):
        hint = " (truncated or corrupted?)"
    elif found == "safetensors":
        hint = " (rename it to .safetensors)"
    elif found in ("torch", "torch-legacy") and expected == "safetensors":
        hint = " (rename it to .pt)"
    return ValueError(
        f"{name}: expected {'a safetensors file' if expected == 'safetensors' else 'a torch.save file'} "
        f"(from the extension), but the content is {describe_format(found)}{hint}"
    )


def torch_available() -> bool:
    """torch can be imported (it is then imported)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def require_torch(what: str) -> None:
    """Check that torch can be imported before reading or writing a torch format.

    Raises:
        ImportError: torch is not installed; the message says what needed it and how to install it.
    """
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{what} needs torch ({TORCH_INSTALL}): {error}") from None


MIGRATION_SOURCES = (
    "expected a stable-baselines3 .zip (with policy.pth), an rl_games checkpoint (a torch.save dict with 'model'), "
    "a torch state dict (.pt/.safetensors) or flax msgpack parameters"
)
