"""The container of a recurrent layer in generated JAX models, and the state sizes of a layer description.

The recurrent layer itself (``gru``, ``lstm``, ``rnn``) is :class:`mixrl.models.jax.rnn.Recurrent`, which
follows the rollout and training layouts of :func:`mixrl.models.jax.rnn.sequence_forward`.
:class:`RecurrentSequential` is the ``nn.Sequential`` (same ``layers_<i>`` names) whose first entry is it.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from mixrl.models.jax.rnn import Recurrent, RecurrentKind, state_shapes


def state_sizes(kind: RecurrentKind, num_layers: int, hidden_size: int, rows: int) -> list[tuple[int, int, int]]:
    """Shapes of ``inputs["rnn"]`` for ``rows`` rows: ``[(num_layers, rows, H)]``, twice (``[h, c]``) for LSTM."""
    return state_shapes(Recurrent(kind, hidden_size, num_layers, parent=None), rows)


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
