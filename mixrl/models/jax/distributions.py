"""Distribution math as small pure functions on ``jax.Array``s (jit-friendly, no state, no global settings).

Same names and semantics as :mod:`mixrl.models.torch.distributions`; both are checked against one
NumPy/SciPy reference in ``tests/models/test_distributions.py``. Sampling functions take an explicit
PRNG ``key``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mixrl._logging import warn_once

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)

Reduction = Callable[[jax.Array], jax.Array]


# ---------------------------------------------------------------- reductions


def _sum(x: jax.Array) -> jax.Array:
    return jnp.sum(x, axis=-1, keepdims=True)


def _mean(x: jax.Array) -> jax.Array:
    return jnp.mean(x, axis=-1, keepdims=True)


def _prod(x: jax.Array) -> jax.Array:
    return jnp.prod(x, axis=-1, keepdims=True)


def _none(x: jax.Array) -> jax.Array:
    return x


REDUCTIONS: dict[str, Reduction] = {"mean": _mean, "sum": _sum, "prod": _prod, "none": _none}


def get_reduction(name: str) -> Reduction:
    """The reduction over the last axis named ``name`` (``"mean"``, ``"sum"``, ``"prod"`` or ``"none"``).

    Raises:
        ValueError: unknown name.
    """
    if name not in REDUCTIONS:
        raise ValueError(f"invalid reduction {name!r}: expected one of {list(REDUCTIONS)}")
    if name == "prod":
        warn_once("reduction='prod' multiplies log-densities, which is not a log-probability; prefer 'sum'")
    return REDUCTIONS[name]


# ---------------------------------------------------------------- diagonal Gaussian


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    """Element-wise log-density of ``x`` under ``Normal(mean, exp(log_std))``.

    Args:
        mean: (batch, A).
        log_std: (A,) or (batch, A).
        x: (batch, A).

    Returns:
        (batch, A): ``-(x - mean)^2 / (2 std^2) - log_std - log(2 pi) / 2``.
    """
    z = (x - mean) * jnp.exp(-log_std)
    return -0.5 * jnp.square(z) - log_std - HALF_LOG_TWO_PI


def gaussian_log_prob_of_noise(noise: jax.Array, log_std: jax.Array) -> jax.Array:
    """Element-wise log-density of the sample ``mean + std * noise`` (same value as :func:`gaussian_log_prob`).

    Args:
        noise: (batch, A) standard-normal draws.
        log_std: (A,) or (batch, A).
    """
    return -0.5 * jnp.square(noise) - log_std - HALF_LOG_TWO_PI


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Element-wise entropy ``1/2 + log(2 pi)/2 + log_std``, same shape as ``log_std``."""
    return log_std + (0.5 + HALF_LOG_TWO_PI)


def gaussian_sample(key: jax.Array, mean: jax.Array, std: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised sample ``mean + std * noise`` (differentiable in ``mean`` and ``std``).

    Args:
        key: PRNG key.
        mean: (batch, A).
        std: (A,) or (batch, A).

    Returns:
        ``(sample, noise)``, both (batch, A).
    """
    noise = jax.random.normal(key, jnp.shape(mean), dtype=jnp.result_type(mean))
    return mean + std * noise, noise


# ---------------------------------------------------------------- multivariate Gaussian (diagonal scale_tril)


def multivariate_gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    """Log-density (batch, 1) of ``x`` under ``MultivariateNormal(mean, scale_tril=diag(exp(log_std)))``.

    The scale is the standard deviation (not the variance), so this is the sum of the per-dimension
    Gaussian log-densities.

    Args:
        mean: (batch, A).
        log_std: (A,) or (batch, A).
        x: (batch, A).
    """
    return jnp.sum(gaussian_log_prob(mean, log_std, x), axis=-1, keepdims=True)


def multivariate_gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy ``A/2 (1 + log 2 pi) + sum(log_std)`` over the last axis: (batch,) for (batch, A), () for (A,)."""
    return jnp.sum(gaussian_entropy(log_std), axis=-1)


# ---------------------------------------------------------------- squashed (tanh) Gaussian

LOG_TWO = math.log(2.0)
SQUASH_LIMIT = 1.0 - 1e-6  # taken actions on a bound are read just inside it so atanh stays finite


def tanh_log_abs_det(u: jax.Array) -> jax.Array:
    """``log(1 - tanh(u)^2)`` computed stably as ``2 (log 2 - u - softplus(-2u))``: finite for saturated ``u``."""
    return 2.0 * (LOG_TWO - u - jax.nn.softplus(-2.0 * u))


def squash(u: jax.Array, center: ArrayLike, half_range: ArrayLike) -> jax.Array:
    """``center + half_range * tanh(u)``: maps the real line into ``(low, high)``."""
    return jnp.tanh(u) * half_range + center


def unsquash(actions: jax.Array, center: ArrayLike, half_range: ArrayLike) -> jax.Array:
    """Pre-squash value ``atanh((actions - center) / half_range)``; actions on a bound are moved just inside."""
    return jnp.arctanh(jnp.clip((actions - center) / half_range, -SQUASH_LIMIT, SQUASH_LIMIT))


def squashed_gaussian_correction(u: jax.Array, log_half_range: ArrayLike) -> jax.Array:
    """Per-dimension log-Jacobian of ``u -> center + half_range * tanh(u)``, to subtract from ``log N(u)``."""
    return tanh_log_abs_det(u) + log_half_range


# ---------------------------------------------------------------- categorical


def categorical_log_probs_from_logits(logits: jax.Array) -> jax.Array:
    """Normalised log-probabilities (batch, n) from unnormalised log-probabilities (any real)."""
    return jax.nn.log_softmax(logits, axis=-1)


def categorical_log_probs_from_probs(probs: jax.Array) -> jax.Array:
    """Normalised log-probabilities (batch, n) from non-negative weights with a non-zero row sum.

    The normalised probabilities are clipped to ``[eps, 1 - eps]`` before the log.
    """
    probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
    eps = jnp.finfo(jnp.result_type(probs)).eps
    return jnp.log(jnp.clip(probs, eps, 1.0 - eps))


def categorical_sample(key: jax.Array, log_probs: jax.Array) -> jax.Array:
    """One draw per row of normalised ``log_probs`` (batch, n): int32 indices (batch, 1)."""
    return jax.random.categorical(key, log_probs, axis=-1)[..., None].astype(jnp.int32)


def categorical_log_prob(log_probs: jax.Array, index: jax.Array) -> jax.Array:
    """Log-probability (batch, 1) of the integer ``index`` (batch, 1) under normalised ``log_probs`` (batch, n)."""
    return jnp.take_along_axis(log_probs, index, axis=-1)


def categorical_mode(log_probs: jax.Array) -> jax.Array:
    """Most likely index (batch, 1) int32 of normalised ``log_probs`` (batch, n)."""
    return jnp.argmax(log_probs, axis=-1, keepdims=True).astype(jnp.int32)


def categorical_entropy(log_probs: jax.Array) -> jax.Array:
    """Entropy ``-sum p log p`` over the last axis (batch,); zero-probability entries contribute 0."""
    log_probs = jnp.maximum(log_probs, jnp.finfo(jnp.result_type(log_probs)).min)
    return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def categorical_entropy_of_probs(probs: jax.Array) -> jax.Array:
    """Entropy ``-sum p log p`` (batch,) of non-negative weights (batch, n) normalised by their row sum.

    ``log p`` is clipped like :func:`categorical_log_probs_from_probs`, but each term is weighted by ``p``
    itself, so a zero weight (a masked action) contributes exactly 0.
    """
    probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
    eps = jnp.finfo(jnp.result_type(probs)).eps
    return -jnp.sum(probs * jnp.log(jnp.clip(probs, eps, 1.0 - eps)), axis=-1)


# ---------------------------------------------------------------- action masking (True = allowed)


def check_action_mask(mask: Any, width: int, chunks: Sequence[int] | None = None) -> None:
    """Check ``inputs["action_mask"]`` on the host, before the compiled act runs.

    Always: the shape is (batch, ``width``) and the dtype bool or integer (non-zero = allowed). For a
    concrete mask (NumPy: free; a JAX array: one device-to-host copy, only when a mask is given) also that
    no row, or no component's chunk of ``chunks``, masks every action. A traced mask (inside the caller's
    ``jax.jit``) is not read: see :func:`mask_log_probs` for a fully masked row.

    Raises:
        ValueError: wrong shape or dtype, or a row (a component's chunk) with no allowed action.
    """
    if not hasattr(mask, "shape"):
        raise ValueError(f"inputs['action_mask'] must be a (batch, {width}) bool array, got {type(mask).__name__}")
    shape = tuple(mask.shape)
    if len(shape) != 2 or shape[-1] != width:
        raise ValueError(f"inputs['action_mask'] must be (batch, {width}), got shape {shape}")
    dtype = np.dtype(mask.dtype)
    if dtype != np.bool_ and not np.issubdtype(dtype, np.integer):
        raise ValueError(
            f"inputs['action_mask'] must be bool (True = allowed) or integer (non-zero = allowed) of shape "
            f"(batch, {width}), got dtype {dtype} with shape {shape}"
        )
    if isinstance(mask, jax.core.Tracer):
        return
    allowed = np.asarray(mask).astype(bool)
    parts = np.split(allowed, np.cumsum(chunks)[:-1].tolist(), axis=-1) if chunks else [allowed]
    for k, part in enumerate(parts):
        empty = np.flatnonzero(~part.any(axis=-1)).tolist()
        if empty:
            where = f" in component {k}" if chunks else ""
            rows = f"{empty}" if len(empty) <= 10 else f"{empty[:10]} (and {len(empty) - 10} more)"
            raise ValueError(f"inputs['action_mask'] masks every action{where} of rows {rows}: nothing to sample")


def mask_output(net_output: jax.Array, mask: jax.Array, unnormalized_log_prob: bool) -> jax.Array:
    """``net_output`` with masked entries set to ``-inf`` (logits) or ``0`` (probabilities).

    Reading the result as logits (or probabilities) gives the masked distribution, so an entropy computed
    from it ignores the masked actions.
    """
    return jnp.where(mask, net_output, -jnp.inf if unnormalized_log_prob else 0.0)


def mask_log_probs(log_probs: jax.Array, mask: jax.Array) -> jax.Array:
    """Normalised ``log_probs`` (batch, n) renormalised over the allowed (``True``) actions; masked ones at ``-inf``.

    A row with every action masked (only possible unchecked, with a traced mask) is NaN: its log-probability
    and entropy are NaN, so a loss over it is too (nothing could have been sampled there).
    """
    renormalised = jax.nn.log_softmax(jnp.where(mask, log_probs, -jnp.inf), axis=-1)
    return jnp.where(jnp.any(mask, axis=-1, keepdims=True), renormalised, jnp.nan)


# ---------------------------------------------------------------- multi-categorical (one categorical per component)


def multicategorical_split(x: jax.Array, nvec: Sequence[int]) -> list[jax.Array]:
    """Split ``x`` (batch, sum(nvec)) into ``len(nvec)`` consecutive chunks (batch, nvec[k]).

    Raises:
        ValueError: the last dimension of ``x`` is not ``sum(nvec)``.
    """
    total = int(sum(nvec))
    if x.shape[-1] != total:
        raise ValueError(f"expected a last dimension of sum(nvec) = {total} for nvec {list(nvec)}, got shape {x.shape}")
    return jnp.split(x, np.cumsum(nvec)[:-1].tolist(), axis=-1)


def multicategorical_log_probs(
    net_output: jax.Array, nvec: Sequence[int], to_log_probs: Callable[[jax.Array], jax.Array]
) -> tuple[jax.Array, ...]:
    """Split ``net_output`` (batch, sum(nvec)) into one categorical per component and normalise each.

    Args:
        net_output: logits or probabilities, consecutive chunks per component.
        nvec: categories per component (Python ints).
        to_log_probs: :func:`categorical_log_probs_from_logits` or :func:`categorical_log_probs_from_probs`.

    Returns:
        K arrays (batch, nvec[k]) of normalised log-probabilities.

    Raises:
        ValueError: the last dimension of ``net_output`` is not ``sum(nvec)``.
    """
    return tuple(to_log_probs(chunk) for chunk in multicategorical_split(net_output, nvec))


def multicategorical_mask(log_probs: Sequence[jax.Array], mask: jax.Array) -> tuple[jax.Array, ...]:
    """Per-component :func:`mask_log_probs`, with ``mask`` (batch, sum(nvec)) split like the log-probabilities."""
    nvec = [lp.shape[-1] for lp in log_probs]
    parts = jnp.split(mask, np.cumsum(nvec)[:-1].tolist(), axis=-1)
    return tuple(mask_log_probs(lp, m) for lp, m in zip(log_probs, parts, strict=True))


def multicategorical_entropy_of_probs(probs: jax.Array, nvec: Sequence[int]) -> jax.Array:
    """Per-component :func:`categorical_entropy_of_probs` (batch, K) of weights (batch, sum(nvec))."""
    return jnp.stack([categorical_entropy_of_probs(chunk) for chunk in multicategorical_split(probs, nvec)], axis=-1)


def multicategorical_sample(key: jax.Array, log_probs: Sequence[jax.Array]) -> jax.Array:
    """One draw per component with an independent subkey each: int32 (batch, K) for ``K = len(log_probs)``.

    The components are padded with ``-inf`` to a common width and sampled in one vectorised call (one
    random-number kernel instead of ``K``).
    """
    width = max(lp.shape[-1] for lp in log_probs)
    padded = jnp.stack(
        [
            jnp.pad(lp, [(0, 0)] * (lp.ndim - 1) + [(0, width - lp.shape[-1])], constant_values=-jnp.inf)
            for lp in log_probs
        ]
    )
    keys = jax.random.split(key, len(log_probs))
    samples = jax.vmap(lambda k, lp: jax.random.categorical(k, lp, axis=-1))(keys, padded)  # (K, batch)
    return jnp.moveaxis(samples, 0, -1).astype(jnp.int32)


def multicategorical_log_prob(log_probs: Sequence[jax.Array], index: jax.Array) -> jax.Array:
    """Per-component log-probabilities (batch, K) of the integer ``index`` (batch, K)."""
    parts = [categorical_log_prob(lp, index[..., k : k + 1]) for k, lp in enumerate(log_probs)]
    return jnp.concatenate(parts, axis=-1)


def multicategorical_entropy(log_probs: Sequence[jax.Array]) -> jax.Array:
    """Per-component entropies (batch, K)."""
    return jnp.stack([categorical_entropy(lp) for lp in log_probs], axis=-1)


def multicategorical_mode(log_probs: Sequence[jax.Array]) -> jax.Array:
    """Most likely index of each component: int32 (batch, K)."""
    return jnp.stack([jnp.argmax(lp, axis=-1) for lp in log_probs], axis=-1).astype(jnp.int32)


# ---------------------------------------------------------------- Beta (on [0, 1]; the mixin adds the Box rescale)


def _log_beta_function(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """``log B(alpha, beta) = lgamma(alpha) + lgamma(beta) - lgamma(alpha + beta)``."""
    return jax.lax.lgamma(alpha) + jax.lax.lgamma(beta) - jax.lax.lgamma(alpha + beta)


@jax.custom_jvp
def _standard_gamma(key: jax.Array, concentration: jax.Array) -> jax.Array:
    """``jax.random.gamma`` with its implicit reparameterisation gradient computed element-wise in one vectorised
    op (JAX's own rule runs a sequential per-element loop on CPU, ~10x slower)."""
    return jax.random.gamma(key, concentration, dtype=concentration.dtype)


@_standard_gamma.defjvp
def _standard_gamma_jvp(primals: tuple, tangents: tuple) -> tuple[jax.Array, jax.Array]:
    key, concentration = primals
    sample = _standard_gamma(key, concentration)
    return sample, tangents[1] * jax.lax.random_gamma_grad(concentration, sample)


def _log_standard_gamma(key: jax.Array, concentration: jax.Array) -> jax.Array:
    """Reparameterised ``log g`` with ``g ~ Gamma(concentration, 1)``, finite even for tiny concentrations.

    Uses ``Gamma(c) = Gamma(c + 1) * U^(1/c)`` with ``U ~ Uniform(0, 1]``: a float32 draw of ``Gamma(c)`` itself
    underflows for ``c << 1``. Same construction as the torch backend.
    """
    key_gamma, key_uniform = jax.random.split(key)
    uniform = 1.0 - jax.random.uniform(key_uniform, concentration.shape, concentration.dtype)  # (0, 1]
    return jnp.log(_standard_gamma(key_gamma, concentration + 1.0)) + jnp.log(uniform) / concentration


def beta_sample(key: jax.Array, alpha: jax.Array, beta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised ``x ~ Beta(alpha, beta)`` on ``[0, 1]`` (differentiable in ``alpha`` and ``beta``).

    ``x = sigmoid(log g_a - log g_b)`` with ``g_a ~ Gamma(alpha)``, ``g_b ~ Gamma(beta)``, drawn in log space.

    Args:
        key: PRNG key.
        alpha: (batch, A) positive concentrations.
        beta: (batch, A) positive concentrations.

    Returns:
        ``(x, logit)``, both (batch, A); ``logit = log(x / (1 - x))`` is exact where ``x`` rounds to 0 or 1.
    """
    shape = jnp.broadcast_shapes(jnp.shape(alpha), jnp.shape(beta))
    dtype = jnp.result_type(alpha, beta, float)
    alpha, beta = jnp.broadcast_to(jnp.asarray(alpha, dtype), shape), jnp.broadcast_to(jnp.asarray(beta, dtype), shape)
    key_alpha, key_beta = jax.random.split(key)
    logit = _log_standard_gamma(key_alpha, alpha) - _log_standard_gamma(key_beta, beta)
    return jax.nn.sigmoid(logit), logit


def beta_log_prob(alpha: jax.Array, beta: jax.Array, x: jax.Array) -> jax.Array:
    """Element-wise log-density of ``x`` under ``Beta(alpha, beta)``.

    ``x`` is clipped into ``[eps, 1 - eps]`` (``eps`` of its dtype) so points on the bounds stay finite.

    Args:
        alpha: (batch, A).
        beta: (batch, A).
        x: (batch, A) in ``[0, 1]``.

    Returns:
        (batch, A): ``(alpha - 1) log x + (beta - 1) log(1 - x) - log B(alpha, beta)``.
    """
    x = jnp.asarray(x)
    eps = jnp.finfo(jnp.result_type(x, float)).eps
    x = jnp.clip(x, eps, 1.0 - eps)
    return (alpha - 1.0) * jnp.log(x) + (beta - 1.0) * jnp.log1p(-x) - _log_beta_function(alpha, beta)


def beta_log_prob_of_logit(alpha: jax.Array, beta: jax.Array, logit: jax.Array) -> jax.Array:
    """Element-wise log-density of ``x = sigmoid(logit)`` (the sample of :func:`beta_sample`), without rounding ``x``.

    Args:
        alpha, beta, logit: (batch, A).

    Returns:
        (batch, A): same value as :func:`beta_log_prob` at ``x``, finite for every finite ``logit``.
    """
    log_x = jax.nn.log_sigmoid(logit)
    log_one_minus_x = jax.nn.log_sigmoid(-logit)
    return (alpha - 1.0) * log_x + (beta - 1.0) * log_one_minus_x - _log_beta_function(alpha, beta)


def beta_entropy(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Element-wise entropy of ``Beta(alpha, beta)`` on ``[0, 1]``, shape of ``alpha``/``beta`` broadcast.

    ``log B(a, b) - (a - 1) digamma(a) - (b - 1) digamma(b) + (a + b - 2) digamma(a + b)``.
    """
    return (
        _log_beta_function(alpha, beta)
        - (alpha - 1.0) * jax.lax.digamma(alpha)
        - (beta - 1.0) * jax.lax.digamma(beta)
        + (alpha + beta - 2.0) * jax.lax.digamma(alpha + beta)
    )
