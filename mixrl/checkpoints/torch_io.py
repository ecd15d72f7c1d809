"""State dicts of torch models on disk: ``torch.save`` files and ``.safetensors``, with safe reading.

The extension chooses the format: ``.safetensors`` is written and read with ``safetensors``; every other
extension (``.pt``, ``.pth``, ``.ckpt``, none) with ``torch.save``/``torch.load``. Reading checks the
content first (:func:`~mixrl.checkpoints.formats.sniff_format`), so a file whose content is not what its
extension says, a truncated file or a corrupted one gives a ``ValueError`` naming the file, the expected
format and what was found. Nothing here unpickles arbitrary objects unless asked to (``weights_only=False``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

import numpy as np
import torch
from packaging.version import Version

from mixrl._logging import logger
from mixrl.checkpoints.atomic import atomic_write
from mixrl.checkpoints.formats import is_safetensors_path, sniff_format, wrong_content
from mixrl.checkpoints.safetensors_io import read_safetensors, safetensors_bytes
from mixrl.checkpoints.zip_limits import check_zip_file


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
    if is_safetensors_path(path):
        data = safetensors_bytes(path, state_dict)
        atomic_write(path, lambda file: file.write(data))
    else:
        atomic_write(path, lambda file: torch.save(dict(state_dict), file))


def read_state_dict(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    weights_only: bool = True,
    *,
    key: str | None = None,
) -> dict[str, Any]:
    """Read a state dict written by :func:`write_state_dict` (or by ``torch.save`` / ``safetensors``).

    Args:
        path: ``.safetensors`` file, or a ``torch.save`` file with any other extension.
        device: where the tensors go (``map_location``); ``None`` keeps the saved devices.
        weights_only: for torch files, refuse anything but tensors and plain containers (a file can
            never run code). ``False`` unpickles arbitrary objects: only for files you trust.
            Safetensors files hold tensors only, so the flag does not apply to them.
        key: read the state dict ``content[key]`` of a torch file holding several (an skrl agent checkpoint
            ``{"policy": ..., "value": ..., "optimizer": ...}``: ``key="policy"``).

    Returns:
        names to tensors (torch files may hold other plain values when the writer put them there).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the content is not the format the extension says, the file is truncated or
            corrupted, holds objects other than tensors (``weights_only=True``) or is not a mapping; it holds
            several state dicts and no ``key`` says which, or ``key`` is not one of them.
    """
    name = os.fspath(path)
    found = sniff_format(path)
    state: Any
    if is_safetensors_path(path):
        if found != "safetensors":
            raise wrong_content(name, "safetensors", found)
        if key is not None:
            raise ValueError(f"{name}: key={key!r} selects a state dict in a torch file; a safetensors file holds one")
        state = read_safetensors(name, device)
    else:
        if found not in ("torch", "torch-legacy"):
            raise wrong_content(name, "torch", found)
        state = select_state_dict(load_torch(name, name, device, weights_only), key, name)
    if not isinstance(state, Mapping):
        raise ValueError(f"{name}: expected a state dict (names to tensors), got {type(state).__name__}")
    return dict(state)


def select_state_dict(content: Any, key: str | None, name: str) -> Any:
    """``content[key]``, or ``content`` itself when ``key`` is ``None`` and it is not a checkpoint of several models.

    Raises:
        ValueError: ``key`` is not a key of ``content`` holding a state dict, or ``key`` is ``None`` and ``content``
            holds only state dicts by name (an skrl agent checkpoint ``{"policy": ..., "value": ...}``): the
            message lists the keys and says to pass ``key=``.
    """
    if key is not None:
        if not isinstance(content, Mapping) or not isinstance(content.get(key), Mapping):
            keys = [k for k, v in content.items() if isinstance(v, Mapping)] if isinstance(content, Mapping) else []
            raise ValueError(f"{name}: key={key!r} is not one of the state dicts in the file: {keys}")
        return content[key]
    nested = several_state_dicts(content)
    if nested:
        raise ValueError(
            f"{name}: holds several state dicts (an agent checkpoint with keys {nested}), not one model's; "
            f"pick one with key=..., e.g. model.load(path, key={nested[0]!r}) or migrate(path=path, key={nested[0]!r})"
        )
    return content


def several_state_dicts(content: Any) -> list[str]:
    """The keys of ``content`` holding names-to-tensors mappings when it has no tensor of its own, else ``[]``."""
    if not isinstance(content, Mapping) or any(isinstance(value, torch.Tensor) for value in content.values()):
        return []
    return [
        str(k)
        for k, v in content.items()
        if isinstance(v, Mapping) and v and all(isinstance(t, torch.Tensor) for t in v.values())
    ]


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
            e.g. :func:`numpy_globals`); ignored when ``weights_only=False``.

    Every call with ``weights_only=False`` logs a warning (logger ``mixrl``) naming ``name``: unpickling
    arbitrary objects runs code from the file.

    Raises:
        ValueError: refused objects (``weights_only``), a truncated/corrupted file, or a zip member that would
            inflate to an absurd size (:mod:`.zip_limits`).
    """
    if not weights_only:
        logger.warning(
            f"{name}: unpickling arbitrary objects (weights_only=False / allow_pickle=True) can run code from "
            "the file; use it only for files you trust"
        )
    check_zip_file(source, name)  # a decompression bomb is refused before torch inflates anything
    try:
        with _allowing(list(allowed_globals) if weights_only else []):
            if isinstance(source, (str, os.PathLike)):  # a file object: torch.load never picks a reader by extension
                with open(source, "rb") as file:
                    return torch.load(file, map_location=device, weights_only=weights_only)
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
    except Exception as error:
        if type(error).__name__ != "SafetensorError":
            raise
        raise ValueError(f"{name}: not a readable torch checkpoint (truncated or corrupted?): {error}") from None


def _allowing(allowed: list[Any]) -> contextlib.AbstractContextManager:
    """``torch.serialization.safe_globals(allowed)`` (torch >= 2.5; older versions allow nothing more)."""
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    return safe_globals(allowed) if allowed and safe_globals is not None else contextlib.nullcontext()


def numpy_globals() -> list[Any]:
    """NumPy types the restricted unpickler may rebuild (scalars, arrays, dtypes: data, never code).

    rl_games stores NumPy values in its checkpoints. Files written with NumPy 1.x name
    ``numpy.core.multiarray.*``; NumPy 2 moved it to ``numpy._core``, so both names are allowed.
    """
    core = getattr(np, "_core", None) or np.core
    multiarray = core.multiarray
    allowed: list[Any] = [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype]
    if Version(torch.__version__).release >= (2, 6):  # (object, name) aliases: torch >= 2.6
        allowed += [(multiarray.scalar, "numpy.core.multiarray.scalar")]
        allowed += [(multiarray._reconstruct, "numpy.core.multiarray._reconstruct")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return allowed


def tensors_only(content: Any, name: str) -> dict[str, torch.Tensor]:
    """``content`` as names to tensors (non-tensor values are dropped with a warning).

    Raises:
        ValueError: ``content`` is not a mapping; names ``name``.
    """
    if not isinstance(content, Mapping):
        raise ValueError(f"{name}: expected a state dict (names to tensors), got {type(content).__name__}")
    tensors = {key: value for key, value in content.items() if isinstance(value, torch.Tensor)}
    dropped = [key for key in content if key not in tensors]
    if dropped:
        logger.warning(f"{name}: ignoring non-tensor entries {dropped}")
    return tensors
