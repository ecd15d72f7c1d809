"""Recurrent models: run Flax GRU / LSTM / simple-RNN cells the way skrl-1.x recurrent agents call them.

Rollout (``training=False``) runs one step per call; training runs ``B`` sequences of length ``L``
and resets a sequence's state to zeros after each step where it terminated, exactly like the torch
helper :func:`mixrl.models.torch.rnn.sequence_forward`. A stack of cells plays the part of a torch
module with ``num_layers``: ``inputs["rnn"]`` holds ``[h]`` (``[h, c]`` for LSTM cells), each
``(num_layers, rows, H)``. Everything is jit-able: the checks only read shapes.

A hand-written model calls :func:`sequence_forward` on its cells::

    class GRUPolicy(GaussianMixin, Model):
        def get_specification(self):
            return rnn_specification(nn.GRUCell(64, parent=None), self.num_envs, self.sequence_length)

        @nn.compact
        def __call__(self, inputs, role):
            out, states = sequence_forward(nn.GRUCell(64), inputs["states"], inputs.get("rnn"),
                                           terminated=inputs.get("terminated"),
                                           sequence_length=self.sequence_length, training=self.training)
            log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
            return nn.Dense(self.num_actions)(out), log_std, {"rnn": states}

:class:`Recurrent` is such a stack as one module (``kind``, ``hidden_size``, ``num_layers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

Cell = nn.GRUCell | nn.LSTMCell | nn.OptimizedLSTMCell | nn.SimpleCell
Cells = Cell | Sequence[Cell]
RecurrentKind = Literal["gru", "lstm", "rnn"]

_ONE_STATE = (nn.GRUCell, nn.SimpleCell)  # carry h
_TWO_STATES = (nn.LSTMCell, nn.OptimizedLSTMCell)  # carry (c, h); inputs["rnn"] is [h, c]
_CELLS = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "rnn": nn.SimpleCell}
_NONLINEARITIES = {"tanh": nn.tanh, "relu": nn.relu}


def _as_cells(cells: Any) -> tuple[Cell, ...]:
    """``cells`` as a non-empty tuple of cells of one type and one ``features``.

    Raises:
        ValueError: another module type, an empty stack, or a stack of mixed types or sizes.
    """
    stack = tuple(cells) if isinstance(cells, (list, tuple)) else (cells,)
    supported = "flax.linen GRUCell, LSTMCell, OptimizedLSTMCell or SimpleCell"
    if not stack:
        raise ValueError(f"expected a {supported} (or a non-empty sequence of them), got an empty sequence")
    for cell in stack:
        if not isinstance(cell, _ONE_STATE + _TWO_STATES):
            raise ValueError(f"expected a {supported}, got {type(cell).__name__}")
    kinds = {(type(cell).__name__, cell.features) for cell in stack}
    if len(kinds) > 1:
        raise ValueError(f"stacked cells must share one type and features, got {sorted(kinds)}")
    return stack


def _describe(cells: tuple[Cell, ...]) -> str:
    """E.g. ``2 x GRUCell(8)`` for messages."""
    return f"{len(cells)} x {type(cells[0]).__name__}({cells[0].features})"


def _check_sequence_length(sequence_length: Any) -> None:
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1:
        raise ValueError(f"sequence_length must be a positive int, got {sequence_length!r}")


def state_shapes(cells: Cells | Recurrent, batch_size: int) -> list[tuple[int, int, int]]:
    """Shapes of the recurrent states of ``cells`` for ``batch_size`` rows, in the order of ``inputs["rnn"]``.

    Args:
        cells: a cell, a sequence of stacked cells, or a :class:`Recurrent` (bound or not: only the types
            and ``features`` are read, so equal unbound cells, e.g. ``nn.GRUCell(64, parent=None)``, do).
        batch_size: rows (``num_envs`` in rollout).

    Returns:
        ``[(num_layers, batch_size, H)]`` for GRU / simple-RNN cells; ``[h, c]`` shapes (twice that) for LSTM.

    Raises:
        ValueError: not a supported cell (or a stack of mixed cells).
    """
    if isinstance(cells, Recurrent):
        layers, hidden, two = cells.num_layers, cells.hidden_size, cells.kind == "lstm"
    else:
        stack = _as_cells(cells)
        layers, hidden, two = len(stack), stack[0].features, isinstance(stack[0], _TWO_STATES)
    return [(layers, batch_size, hidden)] * (2 if two else 1)


def rnn_specification(cells: Cells | Recurrent, num_envs: int, sequence_length: int) -> dict[str, Any]:
    """The ``get_specification()`` dict of a model whose recurrent part is ``cells``.

    Returns:
        ``{"rnn": {"sequence_length": L, "sizes": [(num_layers, num_envs, H), ...]}}`` (two sizes for LSTM).

    Raises:
        ValueError: ``sequence_length`` is not a positive int, or ``cells`` is not supported.
    """
    _check_sequence_length(sequence_length)
    return {"rnn": {"sequence_length": sequence_length, "sizes": state_shapes(cells, num_envs)}}


def _masked(carry: Any, done: jax.Array | None) -> Any:
    """The carry with the rows flagged in ``done`` (batch,) set to zeros."""
    if done is None:
        return carry
    return jax.tree_util.tree_map(lambda s: jnp.where(done[:, None], jnp.zeros_like(s), s), carry)


def _cell_step(cell: Cell, carry: Any, inputs: tuple[jax.Array, jax.Array | None]) -> tuple[Any, jax.Array]:
    """One step of one cell on (batch, F) inputs; then the reset of the rows that terminated at this step."""
    x, done = inputs
    carry, y = cell(carry, x)
    return _masked(carry, done), y


_scan = nn.scan(_cell_step, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)


def _validate(
    cells: tuple[Cell, ...], x: Any, states: Any, terminated: Any, rows: int, length: int, training: bool
) -> None:
    """Shape-only checks (nothing is read from traced values)."""
    name = _describe(cells)
    if jnp.ndim(x) != 2:
        raise ValueError(f"inputs['states'] must be (batch, features) for {name}, got shape {jnp.shape(x)}")
    expected = state_shapes(cells, rows)
    received = [tuple(jnp.shape(s)) for s in states] if isinstance(states, (list, tuple)) else type(states).__name__
    if received != expected:
        layout = "[h, c]" if isinstance(cells[0], _TWO_STATES) else "[h]"
        raise ValueError(f"inputs['rnn'] for {name} must be {layout} shaped {expected}, got {received}")
    if rows % length:
        raise ValueError(f"training needs B*L rows with L = sequence_length = {length}, got {rows} rows")
    if training and terminated is not None and (jnp.size(terminated) != rows or jnp.shape(terminated)[0] != rows):
        raise ValueError(f"inputs['terminated'] must be ({rows}, 1) bool, got {tuple(jnp.shape(terminated))}")


def sequence_forward(
    cells: Cells,
    x: jax.Array,
    states: Sequence[jax.Array] | None,
    *,
    terminated: jax.Array | None = None,
    sequence_length: int,
    training: bool,
) -> tuple[jax.Array, list[jax.Array]]:
    """Run ``cells`` (stacked: layer ``l`` reads layer ``l - 1``'s outputs) in rollout or training layout.

    Call it inside the model's ``__call__`` with its (bound) cells. Layer by layer, each cell runs
    over the time steps with ``nn.scan`` (one set of parameters for every step).

    Args:
        cells: a ``nn.GRUCell``, ``nn.LSTMCell``, ``nn.OptimizedLSTMCell`` or ``nn.SimpleCell``, or a sequence of
            cells of one type and ``features`` (the layers).
        x: rollout (num_envs, F); training (B*L, F), rows ``b*L .. b*L+L-1`` form sequence ``b``.
        states: ``inputs["rnn"]`` (``[h]``, or ``[h, c]`` for LSTM cells), each (num_layers, num_envs, H) in
            rollout and (num_layers, B*L, H) in training, where only step 0 of each sequence is read.
            ``None`` means zeros.
        terminated: training only, (B*L, 1) or (B*L,) bool; ``terminated[b, t]`` resets sequence ``b``'s state to
            zeros after step ``t``. Ignored in rollout (the agent resets the states it keeps).
        sequence_length: ``L``, as in ``get_specification()``.
        training: ``model.training``.

    Returns:
        ``out`` (num_envs or B*L, H) and the final states (num_layers, num_envs or B, H) in the order of
        ``states``. In training, a sequence that terminated at its last step returns zero final states.

    Raises:
        ValueError: unsupported cells, ``x`` not 2-D, wrong state count or shapes, ``terminated`` without one
            flag per row, or rows not divisible by ``sequence_length`` in training.
    """
    stack = _as_cells(cells)
    _check_sequence_length(sequence_length)
    rows = jnp.shape(x)[0] if jnp.ndim(x) else 0
    if states is None:
        states = [jnp.zeros(shape, jnp.result_type(x)) for shape in state_shapes(stack, rows)]
    length = sequence_length if training else 1
    _validate(stack, x, states, terminated, rows, length, training)

    batch = rows // length
    y = jnp.reshape(x, (batch, length, jnp.shape(x)[1]))
    initial = [jnp.reshape(s, (s.shape[0], batch, length, s.shape[2]))[:, :, 0] for s in states]
    done = None
    if training and terminated is not None:
        done = jnp.reshape(terminated, (batch, length)).astype(bool)
    lstm = isinstance(stack[0], _TWO_STATES)
    finals = []
    for layer, cell in enumerate(stack):
        carry = (initial[1][layer], initial[0][layer]) if lstm else initial[0][layer]  # Flax LSTM carry is (c, h)
        if length == 1:  # rollout (and initialisation): one step, no scan to trace and compile
            carry, out = _cell_step(cell, carry, (y[:, 0], None if done is None else done[:, 0]))
            y = out[:, None]
        else:
            carry, y = _scan(cell, carry, (y, done))
        finals.append(carry)
    if lstm:
        final = [jnp.stack([h for _, h in finals]), jnp.stack([c for c, _ in finals])]
    else:
        final = [jnp.stack(finals)]
    return jnp.reshape(y, (rows, y.shape[-1])), final


class Recurrent(nn.Module):
    """``num_layers`` stacked ``kind`` cells of ``hidden_size`` units: the Flax counterpart of ``torch.nn.GRU`` & co.

    ``kind``: ``"gru"`` (``nn.GRUCell``), ``"lstm"`` (``nn.LSTMCell``) or ``"rnn"`` (``nn.SimpleCell`` with
    ``nonlinearity`` ``"tanh"`` or ``"relu"``). Parameters: ``cells_<l>`` per layer (the cell's own Dense
    names, e.g. ``ir``, ``iz``, ``in``, ``hr``, ... for GRU). Flax cells always have biases.
    """

    kind: RecurrentKind
    hidden_size: int
    num_layers: int = 1
    nonlinearity: Literal["tanh", "relu"] = "tanh"

    def __post_init__(self) -> None:
        if self.kind not in _CELLS:
            raise ValueError(f"unknown recurrent kind {self.kind!r}: expected one of {list(_CELLS)}")
        if self.nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {self.nonlinearity!r}: expected one of {list(_NONLINEARITIES)}")
        super().__post_init__()

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
        """:func:`sequence_forward` on the cells: ``out`` (rows, H) and the final states."""
        return sequence_forward(
            self.cells, x, states, terminated=terminated, sequence_length=sequence_length, training=training
        )
