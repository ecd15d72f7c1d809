"""Distribution math as small pure functions (no ``torch.distributions`` objects, no global state).

Every function takes the distribution *parameters* and returns tensors, so the mixins only wire
network outputs onto them and the hot path builds nothing but the result. The same functions
exist for JAX in ``mixrl.models.jax.distributions`` and are checked against one NumPy/SciPy
reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mixrl._logging import warn_once

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)

Reduction = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- reductions


def _sum(x: torch.Tensor) -> torch.Tensor:
    return x.sum(dim=-1, keepdim=True)


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=-1, keepdim=True)


def _prod(x: torch.Tensor) -> torch.Tensor:
    return x.prod(dim=-1, keepdim=True)


def _none(x: torch.Tensor) -> torch.Tensor:
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


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Element-wise log-density of ``x`` under ``Normal(mean, exp(log_std))``.

    Args:
        mean: (batch, A).
        log_std: (A,) or (batch, A).
        x: (batch, A).

    Returns:
        (batch, A): ``-(x - mean)^2 / (2 std^2) - log_std - log(2 pi) / 2``.
    """
    z = (x - mean) * torch.exp(-log_std)
    return torch.addcmul(torch.rsub(log_std, -HALF_LOG_TWO_PI), z, z, value=-0.5)


def gaussian_log_prob_of_noise(noise: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Element-wise log-density of the sample ``mean + std * noise`` (same value as :func:`gaussian_log_prob`).

    Args:
        noise: (batch, A) standard-normal draws.
        log_std: (A,) or (batch, A).
    """
    # two kernels, one Python scalar: (-log(2 pi)/2 - log_std) - noise^2 / 2
    return torch.addcmul(torch.rsub(log_std, -HALF_LOG_TWO_PI), noise, noise, value=-0.5)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Element-wise entropy ``1/2 + log(2 pi)/2 + log_std``, same shape as ``log_std``."""
    return log_std + (0.5 + HALF_LOG_TWO_PI)


def gaussian_sample(mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterised sample ``mean + std * noise`` (gradients flow to ``mean`` and ``std``).

    Returns:
        ``(sample, noise)``, both (batch, A).
    """
    noise = torch.randn_like(mean)
    return torch.addcmul(mean, std, noise), noise


# ---------------------------------------------------------------- squashed (tanh) Gaussian

LOG_TWO = math.log(2.0)
SQUASH_LIMIT = 1.0 - 1e-6  # taken actions on a bound are read just inside it so atanh stays finite


def tanh_log_abs_det(u: torch.Tensor) -> torch.Tensor:
    """``log(1 - tanh(u)^2)`` computed stably as ``2 (log 2 - u - softplus(-2u))``: finite for saturated ``u``."""
    return 2.0 * (LOG_TWO - u - torch.nn.functional.softplus(-2.0 * u))


def squash(u: torch.Tensor, center: torch.Tensor, half_range: torch.Tensor) -> torch.Tensor:
    """``center + half_range * tanh(u)``: maps the real line into ``(low, high)``."""
    return torch.addcmul(center, half_range, torch.tanh(u))


def unsquash(actions: torch.Tensor, center: torch.Tensor, half_range: torch.Tensor) -> torch.Tensor:
    """Pre-squash value ``atanh((actions - center) / half_range)``; actions on a bound are moved just inside."""
    return torch.atanh(((actions - center) / half_range).clamp(-SQUASH_LIMIT, SQUASH_LIMIT))


def squashed_gaussian_correction(u: torch.Tensor, log_half_range: torch.Tensor) -> torch.Tensor:
    """Per-dimension log-Jacobian of ``u -> center + half_range * tanh(u)``, to subtract from ``log N(u)``."""
    return tanh_log_abs_det(u) + log_half_range


# ---------------------------------------------------------------- categorical


def categorical_log_probs_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Normalised log-probabilities (batch, n) from unnormalised log-probabilities (any real)."""
    return torch.log_softmax(logits, dim=-1)


def categorical_log_probs_from_probs(probs: torch.Tensor) -> torch.Tensor:
    """Normalised log-probabilities (batch, n) from non-negative weights with a non-zero row sum."""
    probs = probs / probs.sum(dim=-1, keepdim=True)
    eps = torch.finfo(probs.dtype).eps
    return probs.clamp(eps, 1.0 - eps).log()


def categorical_sample(log_probs: torch.Tensor) -> torch.Tensor:
    """One draw per row of normalised ``log_probs`` (batch, n): int64 indices (batch, 1).

    ``argmax(p / q)`` with ``q ~ Exponential(1)`` (the exponential race): exactly what
    ``torch.multinomial(p, 1)`` computes, draw for draw from the same generator, without its validity checks,
    which read the probabilities back to the host (a device synchronisation, not capturable in a CUDA graph,
    and a graph break under ``torch.compile``). The noise is drawn by torch's RNG on every call, so a CUDA-graph
    replay samples afresh.
    """
    probs = log_probs.detach().exp()
    return probs.div_(torch.empty_like(probs).exponential_()).argmax(dim=-1, keepdim=True)


def categorical_log_prob(log_probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Log-probability (batch, 1) of the int64 ``index`` (batch, 1) under normalised ``log_probs`` (batch, n)."""
    return log_probs.gather(-1, index)


def check_action_mask(mask: torch.Tensor, width: int, chunks: tuple[int, ...] | None = None) -> torch.Tensor:
    """``mask`` as bool (batch, width), after checking its shape and that no row (or chunk) masks everything.

    The dtype is bool or integer (non-zero = allowed, as gymnasium's int8 masks). Reading the "every action
    masked" condition synchronises with the device: it runs only when a mask is given, and not while
    ``torch.compile`` traces (as under JAX's ``jit``, a fully masked row then has NaN log-probabilities).

    Raises:
        ValueError: wrong shape or dtype (a float mask such as 0.5 has no clear meaning), or a row (a component's
            chunk, for ``chunks``) with no allowed action.
    """
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"inputs['action_mask'] must be a (batch, {width}) bool tensor, got {type(mask).__name__}")
    if mask.ndim != 2 or mask.shape[-1] != width:
        raise ValueError(f"inputs['action_mask'] must be (batch, {width}), got shape {tuple(mask.shape)}")
    if mask.dtype.is_floating_point or mask.dtype.is_complex:
        raise ValueError(
            f"inputs['action_mask'] must be bool (True = allowed) or integer (non-zero = allowed) of shape "
            f"(batch, {width}), got dtype {mask.dtype} with shape {tuple(mask.shape)}"
        )
    mask = mask.bool()
    if torch.compiler.is_compiling():
        return mask  # a data-dependent check breaks the graph: a fully masked row gets NaN log-probabilities
    parts = mask.split(list(chunks), dim=-1) if chunks else (mask,)
    for k, part in enumerate(parts):
        empty = (~part.any(dim=-1)).nonzero().flatten().tolist()
        if empty:
            where = f" in component {k}" if chunks else ""
            raise ValueError(f"inputs['action_mask'] masks every action{where} of rows {empty}: nothing to sample")
    return mask


def mask_output(net_output: torch.Tensor, mask: torch.Tensor, logits: bool) -> torch.Tensor:
    """``net_output`` with masked (``False``) entries at ``-inf`` (``logits``) or ``0`` (probabilities).

    Read as logits (or probabilities) it is the masked distribution, as ``outputs["net_output"]`` of a masked act.
    """
    return net_output.masked_fill(~mask, -torch.inf if logits else 0.0)


def mask_log_probs(log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Renormalised log-probabilities (batch, n) with masked (``False``) actions at ``-inf``."""
    return torch.log_softmax(log_probs.masked_fill(~mask, -torch.inf), dim=-1)


def categorical_mode(log_probs: torch.Tensor) -> torch.Tensor:
    """Most likely index (batch, 1) int64 of normalised ``log_probs`` (batch, n)."""
    return log_probs.argmax(dim=-1, keepdim=True)


def categorical_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy ``-sum p log p`` over the last axis (batch,); zero-probability entries contribute 0."""
    log_probs = log_probs.clamp(min=torch.finfo(log_probs.dtype).min)  # -inf (masked) would give NaN gradients
    return -(log_probs.exp() * log_probs).sum(dim=-1)


# ---------------------------------------------------------------- multi-categorical

# normalised log-probabilities of K categoricals: (batch, K, n) when every component has n categories,
# else a tuple of K tensors (batch, n_k)
MultiLogProbs = torch.Tensor | tuple[torch.Tensor, ...]


def multicategorical_split(x: torch.Tensor, nvec: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    """Split ``x`` (batch, sum(nvec)) into ``len(nvec)`` consecutive chunks (batch, nvec[k]) (views, no copy).

    Raises:
        ValueError: the last dimension of ``x`` is not ``sum(nvec)``.
    """
    _check_width(x, nvec)
    return torch.split(x, list(nvec), dim=-1)


def multicategorical_log_probs(
    net_output: torch.Tensor, nvec: tuple[int, ...], to_log_probs: Callable[[torch.Tensor], torch.Tensor]
) -> MultiLogProbs:
    """Split ``net_output`` (batch, sum(nvec)) into one categorical per component and normalise each.

    Args:
        net_output: (batch, sum(nvec)) logits or probabilities, consecutive chunks per component.
        nvec: categories per component (Python ints).
        to_log_probs: :func:`categorical_log_probs_from_logits` or :func:`categorical_log_probs_from_probs`.

    Returns:
        (batch, K, n) when all ``nvec`` are equal (one reshape), else a tuple of K tensors (batch, n_k).

    Raises:
        ValueError: the last dimension of ``net_output`` is not ``sum(nvec)``.
    """
    if min(nvec) != max(nvec):
        return tuple(to_log_probs(chunk) for chunk in multicategorical_split(net_output, nvec))
    _check_width(net_output, nvec)
    return to_log_probs(net_output.unflatten(-1, (len(nvec), nvec[0])))


def _check_width(x: torch.Tensor, nvec: tuple[int, ...]) -> None:
    total = sum(nvec)
    if x.shape[-1] != total:
        raise ValueError(f"expected a last dimension of sum(nvec) = {total} for nvec {list(nvec)}, got shape {x.shape}")


def multicategorical_sample(log_probs: MultiLogProbs) -> torch.Tensor:
    """One draw per component: int64 indices (batch, K)."""
    if isinstance(log_probs, torch.Tensor):
        return categorical_sample(log_probs.flatten(0, -2)).view(log_probs.shape[:-1])
    return torch.cat([categorical_sample(component) for component in log_probs], dim=-1)


def multicategorical_log_prob(log_probs: MultiLogProbs, index: torch.Tensor) -> torch.Tensor:
    """Per-component log-probabilities (batch, K) of the int64 ``index`` (batch, K)."""
    if isinstance(log_probs, torch.Tensor):
        return categorical_log_prob(log_probs, index.unsqueeze(-1)).squeeze(-1)
    return torch.cat(
        [categorical_log_prob(component, index[..., k : k + 1]) for k, component in enumerate(log_probs)], dim=-1
    )


def multicategorical_entropy(log_probs: MultiLogProbs) -> torch.Tensor:
    """Per-component entropies (batch, K)."""
    if isinstance(log_probs, torch.Tensor):
        return categorical_entropy(log_probs)
    return torch.stack([categorical_entropy(component) for component in log_probs], dim=-1)


def multicategorical_mask(log_probs: MultiLogProbs, mask: torch.Tensor, nvec: tuple[int, ...]) -> MultiLogProbs:
    """Per-component :func:`mask_log_probs` with ``mask`` (batch, sum(nvec)) split like the log-probabilities."""
    if isinstance(log_probs, torch.Tensor):
        return mask_log_probs(log_probs, mask.unflatten(-1, log_probs.shape[-2:]))
    return tuple(mask_log_probs(c, m) for c, m in zip(log_probs, mask.split(list(nvec), dim=-1), strict=True))


def multicategorical_mode(log_probs: MultiLogProbs) -> torch.Tensor:
    """Most likely index of each component: int64 (batch, K)."""
    if isinstance(log_probs, torch.Tensor):
        return log_probs.argmax(dim=-1)
    return torch.stack([component.argmax(dim=-1) for component in log_probs], dim=-1)


# ---------------------------------------------------------------- multivariate Gaussian (diagonal covariance)


def multivariate_gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Log-density of ``x`` under ``MultivariateNormal(mean, scale_tril=diag(exp(log_std)))``.

    The covariance is diagonal, so this is the sum of the per-dimension normal log-densities (no Cholesky).

    Args:
        mean: (batch, A).
        log_std: (A,) or (batch, A).
        x: (batch, A).

    Returns:
        (batch, 1).
    """
    return gaussian_log_prob(mean, log_std, x).sum(dim=-1, keepdim=True)


def multivariate_gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy ``A (1/2 + log(2 pi)/2) + sum(log_std)`` of a diagonal Gaussian: shape ``log_std.shape[:-1]``."""
    return gaussian_entropy(log_std).sum(dim=-1)


# ---------------------------------------------------------------- Beta (on [0, 1]; the mixin adds the Box rescale)


def _log_beta_function(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``log B(alpha, beta) = lgamma(alpha) + lgamma(beta) - lgamma(alpha + beta)``."""
    return torch.lgamma(alpha) + torch.lgamma(beta) - torch.lgamma(alpha + beta)


def _log_standard_gamma(concentration: torch.Tensor) -> torch.Tensor:
    """Reparameterised ``log g`` with ``g ~ Gamma(concentration, 1)``, finite even for tiny concentrations.

    Uses ``Gamma(c) = Gamma(c + 1) * U^(1/c)`` with ``U ~ Uniform(0, 1]``: a float32 draw of ``Gamma(c)`` itself
    underflows for ``c << 1``. Differentiable in ``concentration`` (``torch._standard_gamma`` has an implicit
    reparameterisation gradient).
    """
    uniform = 1.0 - torch.rand_like(concentration)  # (0, 1]: the log stays finite
    return torch._standard_gamma(concentration + 1.0).log() + uniform.log() / concentration


def beta_sample(alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterised ``x ~ Beta(alpha, beta)`` on ``[0, 1]`` (gradients flow to ``alpha`` and ``beta``).

    ``x = sigmoid(log g_a - log g_b)`` with ``g_a ~ Gamma(alpha)``, ``g_b ~ Gamma(beta)``, drawn in log space.

    Args:
        alpha: (batch, A) positive concentrations.
        beta: (batch, A) positive concentrations.

    Returns:
        ``(x, logit)``, both (batch, A); ``logit = log(x / (1 - x))`` is exact where ``x`` rounds to 0 or 1.
    """
    logit = _log_standard_gamma(alpha) - _log_standard_gamma(beta)
    return torch.sigmoid(logit), logit


def beta_log_prob(alpha: torch.Tensor, beta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Element-wise log-density of ``x`` under ``Beta(alpha, beta)``.

    ``x`` is clamped into ``[eps, 1 - eps]`` (``eps`` of its dtype) so points on the bounds stay finite.

    Args:
        alpha: (batch, A).
        beta: (batch, A).
        x: (batch, A) in ``[0, 1]``.

    Returns:
        (batch, A): ``(alpha - 1) log x + (beta - 1) log(1 - x) - log B(alpha, beta)``.
    """
    eps = torch.finfo(x.dtype).eps
    x = x.clamp(eps, 1.0 - eps)
    return (alpha - 1.0) * x.log() + (beta - 1.0) * torch.log1p(-x) - _log_beta_function(alpha, beta)


def beta_log_prob_of_logit(alpha: torch.Tensor, beta: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    """Element-wise log-density of ``x = sigmoid(logit)`` (the sample of :func:`beta_sample`), without rounding ``x``.

    Args:
        alpha, beta, logit: (batch, A).

    Returns:
        (batch, A): same value as :func:`beta_log_prob` at ``x``, finite for every finite ``logit``.
    """
    log_x = torch.nn.functional.logsigmoid(logit)
    log_one_minus_x = torch.nn.functional.logsigmoid(-logit)
    return (alpha - 1.0) * log_x + (beta - 1.0) * log_one_minus_x - _log_beta_function(alpha, beta)


def beta_entropy(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Element-wise entropy of ``Beta(alpha, beta)`` on ``[0, 1]``, shape of ``alpha``/``beta`` broadcast.

    ``log B(a, b) - (a - 1) digamma(a) - (b - 1) digamma(b) + (a + b - 2) digamma(a + b)``.
    """
    return (
        _log_beta_function(alpha, beta)
        - (alpha - 1.0) * torch.digamma(alpha)
        - (beta - 1.0) * torch.digamma(beta)
        + (alpha + beta - 2.0) * torch.digamma(alpha + beta)
    )
