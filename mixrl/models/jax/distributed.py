"""Multi-process helpers on ``jax.experimental.multihost_utils``: broadcast parameters, average gradients.

Both return their input at once on a single process (``jax.process_count() == 1``). Nothing here
connects processes: call ``mixrl.config.jax.init_distributed()``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def broadcast_parameters(params: Any, rank: int = 0) -> Any:
    """The parameter tree of process ``rank``, on every process."""
    if jax.process_count() == 1:
        return params
    from jax.experimental import multihost_utils

    return multihost_utils.broadcast_one_to_all(params, is_source=jax.process_index() == rank)


def reduce_parameters(tree: Any) -> Any:
    """``tree`` with every leaf averaged over all processes (one fused vector exchange)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if jax.process_count() == 1 or not leaves:
        return tree
    from jax.experimental import multihost_utils

    vector = jnp.concatenate([jnp.ravel(leaf).astype(jnp.float32) for leaf in leaves])
    mean = jnp.mean(multihost_utils.process_allgather(vector), axis=0)
    offsets = np.cumsum([leaf.size for leaf in leaves])[:-1].tolist()
    parts = jnp.split(mean, offsets)
    return jax.tree_util.tree_unflatten(
        treedef, [part.reshape(leaf.shape).astype(leaf.dtype) for part, leaf in zip(parts, leaves, strict=True)]
    )
