"""``ObservationNormalizer``: running observation statistics that live inside a model.

A model owns the normaliser as a sub-module and calls it at the start of ``compute``::

    class Policy(GaussianMixin, Model):
        def __init__(self, observation_space, action_space, device=None):
            Model.__init__(self, observation_space, action_space, device)
            GaussianMixin.__init__(self)
            self.normalizer = ObservationNormalizer(self.num_observations)
            self.net = torch.nn.Linear(self.num_observations, self.num_actions)
            self.log_std = torch.nn.Parameter(torch.zeros(self.num_actions))

        def compute(self, inputs, role):
            return self.net(self.normalizer(inputs["states"])), self.log_std, {}

The statistics are persistent buffers: they are in ``state_dict()`` (so ``save``/``load`` keep them),
move with ``.to()``, are copied by ``update_parameters(..., include_buffers=True)`` and are part of
an exported policy (``model.export``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch


class ObservationNormalizer(torch.nn.Module):
    """Standardise observations with running statistics: ``clamp((x - mean) / sqrt(var + epsilon), -clip, clip)``.

    In train mode (``model.train()`` / ``set_mode("train")``) every call first folds its batch into the
    running mean and (population) variance with the parallel Welford update of Chan et al., then
    normalises with the updated statistics. In eval mode the statistics are only read. Neither mode
    synchronises with the device.

    Args:
        size_or_shape: shape of one observation: an ``int`` (flat observations, e.g. ``num_observations``)
            or a shape such as ``(3, 64, 64)``.
        epsilon: added to the variance under the square root.
        clip: clamp the normalised values to ``[-clip, clip]``; ``None`` disables clamping.
        dtype: dtype of the statistics (float64 keeps long runs exact; use ``torch.float32`` on devices
            without float64, such as MPS). The output has the input's dtype.

    Buffers: ``mean`` and ``var`` (``*shape``) and ``count`` (a scalar: observations seen so far).

    Raises:
        ValueError: a non-positive size, a negative ``epsilon``, a non-positive ``clip`` or a
            non-floating ``dtype``.
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(
        self,
        size_or_shape: int | Sequence[int],
        epsilon: float = 1e-8,
        clip: float | None = 5.0,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.shape = _as_shape(size_or_shape)
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be > 0 or None, got {clip!r}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        self.epsilon = float(epsilon)
        self.clip = None if clip is None else float(clip)
        self.register_buffer("mean", torch.zeros(self.shape, dtype=dtype))
        self.register_buffer("var", torch.ones(self.shape, dtype=dtype))
        self.register_buffer("count", torch.zeros((), dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x``, after updating the statistics with it in train mode.

        Args:
            x: (batch, *shape) observations (any number of leading dimensions).

        Returns:
            (batch, *shape) normalised observations, with the dtype of ``x`` (float32 for integer ``x``).

        Raises:
            ValueError: the trailing dimensions of ``x`` are not ``shape``.
        """
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        if self.training:
            self.update(x)
        return self.normalize(x)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``clamp((x - mean) / sqrt(var + epsilon), -clip, clip)`` without touching the statistics.

        Args:
            x: (batch, *shape) floating-point observations.

        Returns:
            (batch, *shape), with the dtype of ``x``.
        """
        self._check(x)
        scale = torch.rsqrt(self.var + self.epsilon).to(x.dtype)
        out = (x - self.mean.to(x.dtype)) * scale
        return out if self.clip is None else out.clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold the batch ``x`` into the running statistics (in any mode; ``forward`` calls it in train mode).

        With ``n`` observations seen so far (mean ``m``, variance ``v``) and a batch of ``k`` (mean ``m_b``,
        variance ``v_b``), ``d = m_b - m``: ``m' = m + d k / (n + k)`` and
        ``v' = (v n + v_b k + d^2 n k / (n + k)) / (n + k)``, exactly the statistics of all ``n + k``.

        Args:
            x: (batch, *shape) observations; an empty batch changes nothing.
        """
        self._check(x)
        batch = x.detach().reshape(-1, *self.shape).to(self.mean.dtype)
        k = batch.shape[0]
        if k == 0:
            return
        batch_var, batch_mean = torch.var_mean(batch, dim=0, correction=0)
        total = self.count + k
        delta = batch_mean - self.mean
        weight = k / total
        self.var.mul_(1 - weight).add_(batch_var * weight + delta.square() * (weight * (1 - weight)))
        self.mean.add_(delta * weight)
        self.count.copy_(total)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.shape)}, epsilon={self.epsilon}, clip={self.clip}, dtype={self.mean.dtype}"

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() < len(self.shape) or tuple(x.shape[x.dim() - len(self.shape) :]) != self.shape:
            raise ValueError(
                f"ObservationNormalizer expects observations (batch, {', '.join(map(str, self.shape))}), "
                f"got shape {tuple(x.shape)}"
            )


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
