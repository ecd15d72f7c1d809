"""Deprecated: the old path of :mod:`mixrl.checkpoints` (``from mixrl.checkpoints import torch_to_flax``)."""

from __future__ import annotations

import warnings
from typing import Any

from mixrl import checkpoints

__all__ = checkpoints.__all__


def __getattr__(name: str) -> Any:
    value = getattr(checkpoints, name)  # AttributeError for unknown names
    warnings.warn(
        f"mixrl.utils.checkpoints is deprecated: import {name} from mixrl.checkpoints", DeprecationWarning, stacklevel=2
    )
    return value
