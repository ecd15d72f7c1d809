"""stable-baselines3 archives: a zip holding ``data`` (JSON), ``policy.pth`` (the policy state dict) and more.

Only ``policy.pth`` is read, into memory (nothing is extracted to disk), with ``weights_only=True``
unless ``allow_pickle``: keys are SB3's, e.g. ``mlp_extractor.policy_net.0.weight``, ``action_net.*``,
``value_net.*``, ``log_std`` (on-policy) or ``actor.latent_pi.*``, ``actor.mu.*``, ``critic.qf0.*``
(off-policy).
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from typing import TYPE_CHECKING

from mixrl._logging import logger
from mixrl.checkpoints.formats import MIGRATION_SOURCES
from mixrl.checkpoints.zip_limits import read_member

if TYPE_CHECKING:
    import torch

POLICY = "policy.pth"
_MARKERS = ("_stable_baselines3_version", "data", "policy.optimizer.pth")


def read_sb3(path: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The policy state dict (``policy.pth``) of a stable-baselines3 archive, on the CPU.

    An SB3 archive without ``policy.pth`` gives an empty dict (with a warning).

    Raises:
        ImportError: torch is not installed.
        ValueError: not a zip archive, a zip that is not an SB3 archive, or an unreadable ``policy.pth``.
    """
    from mixrl.checkpoints.formats import require_torch

    require_torch(f"reading the stable-baselines3 archive {os.fspath(path)}")
    from mixrl.checkpoints.torch_io import load_torch, numpy_globals, tensors_only

    name = os.fspath(path)
    member = read_zip_member(path, POLICY)
    if member is None:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if not any(marker in names for marker in _MARKERS):
            raise ValueError(
                f"cannot identify file type of {name}: a zip archive without {POLICY}; {MIGRATION_SOURCES}"
            )
        logger.warning(f"{name}: stable-baselines3 archive without {POLICY}: nothing to migrate")
        return {}
    content = load_torch(member, f"{name}:{POLICY}", "cpu", not allow_pickle, numpy_globals())
    return tensors_only(content, f"{name}:{POLICY}")


def read_zip_member(path: str | os.PathLike, member: str) -> io.BytesIO | None:
    """The zip member ``member`` of ``path`` read into memory, or ``None`` when the archive lacks it.

    The member is read with a bounded reader after its declared size is checked (:mod:`.zip_limits`).

    Raises:
        ValueError: ``path`` is not a readable zip archive, or the member would inflate to an absurd size
            (a decompression bomb); the message names the file and the member.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                return None
            return read_member(archive, member, os.fspath(path))
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{os.fspath(path)}: not a readable zip archive (truncated or corrupted?): {error}") from None
