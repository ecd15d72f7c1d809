"""``ObservationNormalizer`` (Flax): running observation statistics that live inside a JAX model.

The statistics are Flax variables of their own collection, ``"normalizer"``, next to ``"params"`` in
the variables dict that is ``model.state_dict.params``: they are saved and loaded with the model
(msgpack), averaged by ``update_parameters`` and broadcast with the parameters. A model calls the
module at the start of ``__call__``::

    class Policy(GaussianMixin, Model):
        @nn.compact
        def __call__(self, inputs, role):
            x = ObservationNormalizer(self.num_observations, name="normalizer")(inputs["states"], update=self.training)
            ...

``act`` only reads the statistics (it cannot change variables). They are updated by a train-mode
forward pass with the collection mutable, which :func:`update_normalizers` runs::

    policy.state_dict = policy.state_dict.replace(
        params=update_normalizers(policy, policy.state_dict.params, {"states": states}, role="policy")
    )

The statistics are behind ``jax.lax.stop_gradient``: a gradient taken with respect to the whole
variables dict (as skrl-1.x JAX agents do) is zero for them, so plain Adam/SGD leave them unchanged
(exclude the collection from weight decay, e.g. with ``optax.masked``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixrl.models.jax import _act
from mixrl.models.jax.base import Model

COLLECTION = "normalizer"


def running_update(
    mean: jax.Array, var: jax.Array, count: jax.Array, x: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Fold a batch into running statistics (parallel Welford update of Chan et al.).

    With ``n`` observations seen (mean ``m``, population variance ``v``) and a batch of ``k`` (``m_b``,
    ``v_b``), ``d = m_b - m`` and ``w = k / (n + k)``: ``m' = m + d w`` and
    ``v' = v (1 - w) + v_b w + d^2 w (1 - w)``, exactly the statistics of all ``n + k`` observations.

    Args:
        mean: (*shape) running mean.
        var: (*shape) running population variance.
        count: () number of observations seen.
        x: (batch, *shape) observations (any number of leading dimensions; none is a no-op).

    Returns:
        The updated ``(mean, var, count)``, in the dtype of the statistics.
    """
    batch = x.reshape(-1, *mean.shape).astype(mean.dtype)
    k = batch.shape[0]
    if k == 0:
        return mean, var, count
    batch_mean = batch.mean(axis=0)
    batch_var = batch.var(axis=0)
    total = count + k
    weight = k / total
    delta = batch_mean - mean
    var = var * (1 - weight) + batch_var * weight + jnp.square(delta) * (weight * (1 - weight))
    return mean + delta * weight, var, total


def normalize(mean: jax.Array, var: jax.Array, x: jax.Array, epsilon: float, clip: float | None) -> jax.Array:
    """``clamp((x - mean) / sqrt(var + epsilon), -clip, clip)`` in the dtype of ``x``; no gradient to the statistics.

    Args:
        mean, var: (*shape) statistics.
        x: (batch, *shape) floating-point observations.
        epsilon: added to the variance.
        clip: clamp bound, or ``None``.

    Returns:
        (batch, *shape) normalised observations.
    """
    mean, var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var)
    out = (x - mean.astype(x.dtype)) * jax.lax.rsqrt(var + epsilon).astype(x.dtype)
    return out if clip is None else jnp.clip(out, -clip, clip)


class ObservationNormalizer(nn.Module):
    """Standardise observations with running statistics kept in the ``"normalizer"`` variable collection.

    Attributes:
        size_or_shape: shape of one observation: an ``int`` (e.g. ``num_observations``) or a shape.
        epsilon: added to the variance under the square root.
        clip: clamp the normalised values to ``[-clip, clip]``; ``None`` disables clamping.
        dtype: dtype of the statistics (float32; float64 needs ``jax_enable_x64``).

    Variables (collection ``"normalizer"``): ``mean`` and ``var`` (*shape) and ``count`` ().

    Calling it with ``update=True`` (the model passes ``self.training``) folds the batch into the
    statistics first, but only when the collection is mutable (``apply(..., mutable=["normalizer"])``,
    see :func:`update_normalizers`) and not during ``init``; otherwise the statistics are only read.
    """

    size_or_shape: int | Sequence[int]
    epsilon: float = 1e-8
    clip: float | None = 5.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, update: bool = True) -> jax.Array:
        """Normalise ``x`` (batch, *shape) -> (batch, *shape) in the dtype of ``x`` (float32 for integer ``x``).

        Raises:
            ValueError: the trailing dimensions of ``x`` are not the observation shape, or an invalid
                ``epsilon``/``clip``.
        """
        shape = _as_shape(self.size_or_shape)
        if not self.epsilon >= 0 or (self.clip is not None and not self.clip > 0):
            raise ValueError(f"expected epsilon >= 0 and clip > 0 or None, got epsilon={self.epsilon} clip={self.clip}")
        if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape) :]) != shape:
            raise ValueError(
                f"ObservationNormalizer expects observations (batch, {', '.join(map(str, shape))}), "
                f"got shape {tuple(x.shape)}"
            )
        mean = self.variable(COLLECTION, "mean", jnp.zeros, shape, self.dtype)
        var = self.variable(COLLECTION, "var", jnp.ones, shape, self.dtype)
        count = self.variable(COLLECTION, "count", jnp.zeros, (), self.dtype)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        if update and self.is_mutable_collection(COLLECTION) and not self.is_initializing():
            mean.value, var.value, count.value = running_update(mean.value, var.value, count.value, x)
        return normalize(mean.value, var.value, x, self.epsilon, self.clip)


def update_normalizers(model: Any, params: Any, inputs: dict[str, Any], role: str = "") -> Any:
    """``params`` with every :class:`ObservationNormalizer` of ``model`` updated by the batch in ``inputs``.

    Runs one train-mode forward pass of ``model`` for ``role`` with the ``"normalizer"`` collection
    mutable (compiled once per role; inlined when called inside a caller's ``jax.jit``; an ``apply``
    assigned by an agent is bypassed, as it cannot return mutated variables). Pure: the model
    is not changed; assign the result with ``model.state_dict.replace(params=...)``.

    Args:
        model: a mixrl JAX ``Model`` whose ``__call__`` uses ``ObservationNormalizer``.
        params: its variables dict (``model.state_dict.params``).
        inputs: model inputs, e.g. ``{"states": (batch, num_observations)}``.
        role: role of the forward pass.

    Returns:
        The variables dict with the new statistics (same structure as ``params``).

    Raises:
        ValueError: the model's forward pass has no ``ObservationNormalizer``.
    """
    compiled = model.__dict__.setdefault("_mixrl_normalizer_updates", {}).get(role)
    if compiled is None:

        def update(params: Any, inputs: dict[str, Any]) -> Any:
            inputs = dict(inputs)
            inputs.setdefault("key", jax.random.PRNGKey(0))
            _, changed = Model.apply(model, params, inputs, role, mode=_act.TRAIN, mutable=[COLLECTION])
            if COLLECTION not in changed:
                raise ValueError(
                    f"{type(model).__name__} has no ObservationNormalizer: its forward pass for role {role!r} "
                    f"created no {COLLECTION!r} variables"
                )
            return {**params, COLLECTION: changed[COLLECTION]}

        compiled = model.__dict__["_mixrl_normalizer_updates"][role] = jax.jit(update)
    return compiled(params, inputs)


def _as_shape(size_or_shape: int | Sequence[int]) -> tuple[int, ...]:
    """``(size,)`` for an int, the tuple for a shape.

    Raises:
        ValueError: not a positive int or a non-empty sequence of positive ints.
    """
    items = list(size_or_shape) if isinstance(size_or_shape, Sequence) else [size_or_shape]
    try:
        shape = tuple(operator.index(s) for s in items if not isinstance(s, bool))
    except TypeError:
        shape = ()
    if not items or len(shape) != len(items) or min(shape) < 1:
        raise ValueError(f"size_or_shape must be a positive int or a shape of positive ints, got {size_or_shape!r}")
    return shape
