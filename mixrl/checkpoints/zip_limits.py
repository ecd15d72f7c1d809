"""Zip archives (``torch.save`` files, stable-baselines3 archives) inflated within bounds: no decompression bombs.

``torch.save`` stores its records uncompressed and a real checkpoint compresses poorly (random weights), so a
compressed member that declares far more bytes than it occupies is refused before anything is inflated: above
:data:`FREE_INFLATE` bytes, a member may expand at most :data:`MAX_RATIO` times its compressed size, and never
beyond :data:`MAX_MEMBER`. What is read is read with a bounded reader (never more than the declared size).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable
from typing import BinaryIO

FREE_INFLATE = 16 * 2**20  # members up to this size are never refused for their ratio
MAX_RATIO = 100  # deflate reaches ~1000 on zeros; checkpoints (random weights) stay near 1
MAX_MEMBER = 64 * 2**30  # no member of a checkpoint is larger than this


def check_zip_members(archive: zipfile.ZipFile, name: str, members: Iterable[str] | None = None) -> None:
    """Refuse an archive whose members (all, or ``members``) would inflate to an absurd size.

    Raises:
        ValueError: a member is compressed and its declared size is more than :data:`MAX_RATIO` times its
            compressed size (beyond :data:`FREE_INFLATE`), or larger than :data:`MAX_MEMBER`; the message names
            the file ``name`` and the member.
    """
    wanted = None if members is None else set(members)
    for info in archive.infolist():
        if wanted is not None and info.filename not in wanted:
            continue
        size, packed = info.file_size, max(info.compress_size, 1)
        compressed = info.compress_type != zipfile.ZIP_STORED
        if size > MAX_MEMBER or (compressed and size > FREE_INFLATE and size > MAX_RATIO * packed):
            raise ValueError(
                f"{name}: refusing zip member {info.filename!r}: it declares {size} bytes from {info.compress_size} "
                f"compressed (ratio {size / packed:.0f}, at most {MAX_RATIO} above {FREE_INFLATE} bytes; "
                f"a decompression bomb or a corrupted archive?)"
            )


def check_zip_file(source: str | os.PathLike | BinaryIO, name: str) -> None:
    """:func:`check_zip_members` for every member of ``source`` when it is a zip archive (else nothing).

    A file object is rewound to where it was.

    Raises:
        ValueError: see :func:`check_zip_members`.
    """
    position = None if isinstance(source, (str, os.PathLike)) else source.tell()
    try:
        with zipfile.ZipFile(source) as archive:
            check_zip_members(archive, name)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError):
        pass  # not a zip (a legacy pickle) or unreadable: the reader reports it
    finally:
        if position is not None:
            source.seek(position)  # type: ignore[union-attr]


def read_member(archive: zipfile.ZipFile, member: str, name: str) -> io.BytesIO:
    """The member ``member`` read into memory after :func:`check_zip_members`, never more than its declared size.

    Raises:
        ValueError: the member is refused, or inflates to more than it declares.
    """
    check_zip_members(archive, name, [member])
    info = archive.getinfo(member)
    with archive.open(info) as file:
        data = file.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise ValueError(f"{name}: zip member {member!r} inflates to more than its declared {info.file_size} bytes")
    return io.BytesIO(data)
