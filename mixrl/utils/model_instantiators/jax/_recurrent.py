"""Recurrent layers of generated JAX models (``gru``, ``lstm``, ``rnn``) with the recurrent-model contract.

:class:`Recurrent` stacks ``num_layers`` Flax cells (``nn.GRUCell``, ``nn.LSTMCell``, ``nn.SimpleCell``) and
runs them over time with ``nn.scan`` (one set of parameters for every step). It reads the rollout layout
(``training=False``: one step per call) and the training layout (``B`` sequences of ``L`` steps, the
state of a sequence reset to zeros after each step where it terminated), like the torch helper
``sequence_forward``. :class:`RecurrentSequential` is the container of a recurrent layer: an
``nn.Sequential`` (same ``layers_<i>`` names) whose first entry is the recurrent layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

_CELLS = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "rnn": nn.SimpleCell}
_NONLINEARITIES = {"tanh": nn.tanh, "relu": nn.relu}


def state_sizes(kind: str, num_layers: int, hidden_size: int, rows: int) -> list[tuple[int, int, int]]:
    """Shapes of ``inputs["rnn"]`` for ``rows`` rows: ``[(num_layers, rows, H)]``, twice (``[h, c]``) for LSTM."""
    return [(num_layers, rows, hidden_size)] * (2 if kind == "lstm" else 1)


def _step(module: Recurrent, carry: tuple, inputs: tuple[jax.Array, jax.Array]) -> tuple[tuple, jax.Array]:
    """One time step through every layer; then the carries of the rows whose ``keep`` is 0 become zeros."""
    x, keep = inputs  # (batch, F), (batch, 1)
    new = []
    for cell, state in zip(module.cells, carry, strict=True):
        state, x = cell(state, x)
        new.append(jax.tree_util.tree_map(lambda s: s * keep, state))
    return tuple(new), x


class Recurrent(nn.Module):
    """``num_layers`` stacked ``kind`` cells of ``hidden_size`` units; ``nonlinearity`` (tanh/relu) for ``rnn``.

    Parameters: ``cells_<l>`` per layer (the cell's own Dense names, e.g. ``ir``, ``iz``, ``in``, ``hr``, ...
    for GRU). Flax cells always have biases.
    """

    kind: str
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"

    def setup(self) -> None:
        options = {"activation_fn": _NONLINEARITIES[self.nonlinearity]} if self.kind == "rnn" else {}
        self.cells = [_CELLS[self.kind](self.hidden_size, **options) for _ in range(self.num_layers)]

    def __call__(
        self,
        x: jax.Array,
        states: Sequence[jax.Array] | None,
        terminated: jax.Array | None = None,
        sequence_length: int = 1,
        training: bool = False,
    ) -> tuple[jax.Array, list[jax.Array]]:
        """Run the cells in the rollout or the training layout.

        Args:
            x: rollout (num_envs, F); training (B*L, F), rows ``b*L .. b*L+L-1`` form sequence ``b``.
            states: ``inputs["rnn"]``: ``[h]`` (``[h, c]`` for LSTM), each (num_layers, rows, H), where training
                reads step 0 of each sequence only; None means zeros.
            terminated: training only, (B*L, 1) or (B*L,) bool: ``terminated[b, t]`` resets sequence ``b`` to zeros
                after step ``t``. Ignored in rollout (the agent resets the states it keeps).
            sequence_length: ``L``.
            training: the layout (``model.training``).

        Returns:
            ``out`` (rows, H) and the final states (num_layers, num_envs or B, H) in the order of ``states``.

        Raises:
            ValueError: ``x`` is not 2-D, the states or ``terminated`` have other shapes, or the rows are not a
                multiple of ``sequence_length`` in training.
        """
        if x.ndim != 2:
            raise ValueError(f"a {self.kind} layer needs a (batch, features) input, got shape {tuple(x.shape)}")
        rows = x.shape[0]
        expected = state_sizes(self.kind, self.num_layers, self.hidden_size, rows)
        if states is None:
            states = [jnp.zeros(size, x.dtype) for size in expected]
        received = [tuple(s.shape) for s in states] if isinstance(states, (list, tuple)) else type(states).__name__
        if received != expected:
            layout = "[h, c]" if self.kind == "lstm" else "[h]"
            raise ValueError(
                f"inputs['rnn'] for this {self.kind} layer must be {layout} shaped {expected}, got {received}"
            )
        length = sequence_length if training else 1
        if rows % length:
            raise ValueError(f"training needs B*L rows with L = sequence_length = {length}, got {rows} rows")
        batch = rows // length
        sequences = jnp.reshape(x, (batch, length, x.shape[1]))
        initial = [jnp.reshape(s, (s.shape[0], batch, length, s.shape[2]))[:, :, 0] for s in states]
        keep = jnp.ones((batch, length, 1), x.dtype)
        if training and terminated is not None:
            if terminated.size != rows:
                raise ValueError(f"inputs['terminated'] must be ({rows}, 1) bool, got {tuple(terminated.shape)}")
            keep = 1 - jnp.reshape(terminated, (batch, length, 1)).astype(x.dtype)
        # Flax carries: h per layer; LSTM (c, h) per layer (inputs["rnn"] is [h, c])
        carry: tuple[Any, ...]
        if self.kind == "lstm":
            carry = tuple((initial[1][layer], initial[0][layer]) for layer in range(self.num_layers))
        else:
            carry = tuple(initial[0][layer] for layer in range(self.num_layers))
        if length == 1:  # rollout (and initialisation): one step, no scan to trace and compile
            carry, out = _step(self, carry, (sequences[:, 0], keep[:, 0]))
        else:
            scan = nn.scan(_step, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)
            carry, out = scan(self, carry, (sequences, keep))
        if self.kind == "lstm":
            final = [jnp.stack([h for _, h in carry]), jnp.stack([c for c, _ in carry])]
        else:
            final = [jnp.stack(carry)]
        return jnp.reshape(out, (rows, out.shape[-1])), final


class RecurrentSequential(nn.Sequential):
    """A container whose first entry is a :class:`Recurrent` layer: ``(x, states, ...) -> (out, final states)``."""

    def __call__(
        self, x: jax.Array, states: Any, terminated: Any, sequence_length: int, training: bool
    ) -> tuple[jax.Array, list[jax.Array]]:
        """The recurrent layer (see :meth:`Recurrent.__call__`), then the other entries on its output (rows, H)."""
        out, final = self.layers[0](x, states, terminated, sequence_length, training)
        for layer in self.layers[1:]:
            out = layer(out)
        return out, final
