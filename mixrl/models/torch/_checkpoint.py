"""Checkpoint files of torch models: ``.pt`` (``torch.save``) and ``.safetensors``, sniffing and safe reading.

The extension chooses the format: ``.safetensors`` is written and read with ``safetensors``; every other
extension (``.pt``, ``.pth``, ``.ckpt``, none) with ``torch.save``/``torch.load``. Reading checks the
content first (:func:`sniff_format`), so a file whose content is not what its extension says, a
truncated file or a corrupted one gives a ``ValueError`` that names the file, the expected format and
what was found instead. Nothing here unpickles arbitrary objects unless asked to (``weights_only=False``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, Literal

import torch

from mixrl.utils.io import atomic_write

Format = Literal["torch", "torch-legacy", "zip", "safetensors", "msgpack", "empty", "unknown"]

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
_ORDER_KEY = "mixrl.order"  # safetensors sorts its entries: the state-dict order is kept in the metadata
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


def write_state_dict(path: str | os.PathLike, state_dict: Mapping[str, Any]) -> None:
    """Save ``state_dict`` atomically: ``path`` holds the old file or the complete new one, never a partial one.

    ``.safetensors`` paths are written with ``safetensors`` (tensors only; each is copied to a contiguous
    tensor of its own, so views and shared storage are fine); any other path with ``torch.save``.

    Args:
        path: destination file; a temporary file is written next to it and renamed over it.
        state_dict: names to tensors, e.g. ``model.state_dict()``.

    Raises:
        ValueError: ``.safetensors`` and an entry is not a tensor (safetensors stores tensors only).
    """
    if _is_safetensors_path(path):
        from safetensors.torch import save

        others = {name: type(value).__name__ for name, value in state_dict.items() if not torch.is_tensor(value)}
        if others:
            raise ValueError(
                f"{os.fspath(path)}: safetensors stores tensors only, got non-tensor entries {others}; "
                "save to a .pt path instead"
            )
        tensors = {
            name: value.detach().clone(memory_format=torch.contiguous_format) for name, value in state_dict.items()
        }
        data = save(tensors, metadata={"format": "pt", _ORDER_KEY: json.dumps(list(tensors))})
        atomic_write(path, lambda file: file.write(data))
    else:
        atomic_write(path, lambda file: torch.save(dict(state_dict), file))


def read_state_dict(
    path: str | os.PathLike, device: str | torch.device | None = None, weights_only: bool = True
) -> dict[str, Any]:
    """Read a state dict written by :func:`write_state_dict` (or by ``torch.save`` / ``safetensors``).

    Args:
        path: ``.safetensors`` file, or a ``torch.save`` file with any other extension.
        device: where the tensors go (``map_location``); ``None`` keeps the saved devices.
        weights_only: for torch files, refuse anything but tensors and plain containers (a file can
            never run code). ``False`` unpickles arbitrary objects: only for files you trust.
            Safetensors files hold tensors only, so the flag does not apply to them.

    Returns:
        names to tensors (torch files may hold other plain values when the writer put them there).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the content is not the format the extension says, the file is truncated or
            corrupted, holds objects other than tensors (``weights_only=True``) or is not a mapping.
    """
    name = os.fspath(path)
    found = sniff_format(path)
    if _is_safetensors_path(path):
        if found != "safetensors":
            raise _wrong_content(name, "safetensors", found)
        state = read_safetensors(name, device)
    else:
        if found not in ("torch", "torch-legacy"):
            raise _wrong_content(name, "torch", found)
        state = load_torch(name, name, device, weights_only)
    if not isinstance(state, Mapping):
        raise ValueError(f"{name}: expected a state dict (names to tensors), got {type(state).__name__}")
    return dict(state)


def load_torch(
    source: str | os.PathLike | BinaryIO,
    name: str,
    device: str | torch.device | None,
    weights_only: bool,
    allowed_globals: Iterable[Any] = (),
) -> Any:
    """``torch.load`` with every failure turned into a ``ValueError`` that names ``name``.

    Args:
        source: a path or an in-memory file (e.g. a zip member read into ``io.BytesIO``).
        name: how the file is called in error messages.
        device: ``map_location``.
        weights_only: restrict unpickling to tensors and plain containers.
        allowed_globals: extra classes/functions the restricted unpickler may use (data-only types,
            e.g. NumPy scalars); ignored when ``weights_only=False``.

    Raises:
        ValueError: refused objects (``weights_only``), or a truncated/corrupted file.
    """
    try:
        with _allowing(list(allowed_globals) if weights_only else []):
            return torch.load(source, map_location=device, weights_only=weights_only)
    except pickle.UnpicklingError as error:
        refused = [line.strip() for line in str(error).splitlines() if "GLOBAL" in line and line.strip().isprintable()]
        if refused:  # a class or function the restricted unpickler does not allow (could run code)
            raise ValueError(
                f"{name}: refusing to load objects other than tensors and plain containers (weights_only=True); "
                f"pass weights_only=False / allow_pickle=True only for a file you trust. Detail: {refused[0]}"
            ) from None
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = lines[-2] if len(lines) > 1 else (lines[0] if lines else type(error).__name__)
        raise ValueError(f"{name}: not a readable torch checkpoint (truncated or corrupted?): {detail}") from None
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, struct.error) as error:
        raise ValueError(f"{name}: not a readable torch checkpoint (truncated or corrupted?): {error}") from None


def _allowing(allowed: list[Any]) -> contextlib.AbstractContextManager:
    """``torch.serialization.safe_globals(allowed)`` (torch >= 2.5; older versions allow nothing more)."""
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    return safe_globals(allowed) if allowed and safe_globals is not None else contextlib.nullcontext()


def read_safetensors(name: str, device: str | torch.device | None) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors file ``name`` (on ``device``; ``None``: the CPU), in state-dict order.

    Files written by :func:`write_state_dict` record the original entry order in their metadata; other
    files come in safetensors' own (storage) order.

    Raises:
        ValueError: the file is truncated or corrupted.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    with open(name, "rb") as file:
        data = file.read()
    try:
        state = load(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name}: not a readable safetensors file (truncated or corrupted?): {error}") from None
    header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])  # valid: load() parsed it
    try:
        order = json.loads((header.get("__metadata__") or {}).get(_ORDER_KEY, "[]"))
    except (json.JSONDecodeError, AttributeError):
        order = []
    if sorted(order) == sorted(state):
        state = {key: state[key] for key in order}
    return state if device is None else {key: value.to(device) for key, value in state.items()}


def _is_safetensors_path(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(".safetensors")


def _wrong_content(name: str, expected: str, found: Format) -> ValueError:
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


def read_bytes_member(path: str | os.PathLike, member: str) -> io.BytesIO | None:
    """The zip member ``member`` of ``path`` read into memory, or ``None`` when the archive lacks it.

    Raises:
        ValueError: ``path`` is not a readable zip archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                return None
            return io.BytesIO(archive.read(member))
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{os.fspath(path)}: not a readable zip archive (truncated or corrupted?): {error}") from None
