"""Recurrent models: run ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` the way skrl-1.x recurrent agents call them.

Rollout (``training=False``) runs one step per call; training runs ``B`` sequences of length ``L``
and resets a sequence's state to zeros after each step where it terminated (what skrl 1.x recurrent agents expect).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

RecurrentModule = nn.RNN | nn.GRU | nn.LSTM


def _check_module(rnn: nn.Module) -> None:
    if not isinstance(rnn, (nn.RNN, nn.GRU, nn.LSTM)):
        raise ValueError(f"expected a torch.nn.RNN, torch.nn.GRU or torch.nn.LSTM module, got {type(rnn).__name__}")


def state_shapes(rnn: RecurrentModule, batch_size: int) -> list[tuple[int, int, int]]:
    """Shapes of the recurrent states of ``rnn`` for ``batch_size`` rows, in the order of ``inputs["rnn"]``.

    Returns:
        ``[(D*num_layers, batch_size, H)]`` for RNN/GRU; ``[h, c]`` shapes for LSTM, where ``h`` has
        ``proj_size`` features when the LSTM has a projection.

    Raises:
        ValueError: ``rnn`` is not an RNN, GRU or LSTM module.
    """
    _check_module(rnn)
    layers = (2 if rnn.bidirectional else 1) * rnn.num_layers
    if isinstance(rnn, nn.LSTM):
        return [(layers, batch_size, rnn.proj_size or rnn.hidden_size), (layers, batch_size, rnn.hidden_size)]
    return [(layers, batch_size, rnn.hidden_size)]


def rnn_specification(rnn: RecurrentModule, num_envs: int, sequence_length: int) -> dict:
    """The ``get_specification()`` dict of a model whose recurrent part is ``rnn``.

    Returns:
        ``{"rnn": {"sequence_length": L, "sizes": [(D*num_layers, num_envs, H), ...]}}`` (two sizes for LSTM).
    """
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1:
        raise ValueError(f"sequence_length must be a positive int, got {sequence_length!r}")
    return {"rnn": {"sequence_length": sequence_length, "sizes": state_shapes(rnn, num_envs)}}


def _call(rnn: RecurrentModule, x: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list]:
    """One module call on batch-first ``x`` (batch, time, F); states and returned states as lists."""
    if isinstance(rnn, nn.LSTM):
        out, (h, c) = rnn(x, (states[0], states[1]))
        return out, [h, c]
    out, h = rnn(x, states[0])
    return out, [h]


def _validate(rnn: RecurrentModule, x: torch.Tensor, states: list[torch.Tensor], rows: int) -> None:
    """Shape-only checks (no host synchronisation)."""
    _check_module(rnn)
    name = type(rnn).__name__
    if not rnn.batch_first:
        raise ValueError(f"sequence_forward needs a {name} built with batch_first=True, got batch_first=False")
    if rnn.bidirectional:
        raise ValueError(
            f"sequence_forward needs a unidirectional {name} (bidirectional=False): rollout runs one step at a "
            "time, so a backward direction would see future steps in training that it never sees in rollout"
        )
    if x.dim() != 2 or x.shape[1] != rnn.input_size:
        raise ValueError(f"inputs['states'] must be (batch, {rnn.input_size}) for this {name}, got {tuple(x.shape)}")
    expected = state_shapes(rnn, rows)
    received = [tuple(s.shape) for s in states] if isinstance(states, (list, tuple)) else type(states).__name__
    if received != expected:
        kind = "[h, c]" if isinstance(rnn, nn.LSTM) else "[h]"
        raise ValueError(f"inputs['rnn'] for this {name} must be {kind} shaped {expected}, got {received}")


def sequence_forward(
    rnn: RecurrentModule,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    *,
    terminated: torch.Tensor | None = None,
    sequence_length: int,
    training: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``rnn`` (``batch_first=True``, unidirectional) in rollout or training layout.

    Args:
        rnn: ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``.
        x: rollout (num_envs, F); training (B*L, F), rows ``b*L .. b*L+L-1`` form sequence ``b``.
        states: ``inputs["rnn"]`` (``[h]`` or ``[h, c]`` for LSTM), each (num_layers, num_envs, H) in rollout and
            (num_layers, B*L, H) in training, where only step 0 of each sequence is read. ``None`` means zeros.
        terminated: training only, (B*L, 1) or (B*L,) bool; ``terminated[b, t]`` resets sequence ``b``'s state to
            zeros after step ``t``. Ignored in rollout (the agent resets the states it keeps).
        sequence_length: ``L``, as in ``get_specification()``.
        training: ``model.training``.

    Returns:
        ``out`` (num_envs or B*L, H_out) and the final states (num_layers, num_envs or B, H) in the order of
        ``states``. In training, a sequence that terminated at its last step returns zero final states.

    Raises:
        ValueError: wrong module (type, ``batch_first=False``, bidirectional), state count or shapes, or
            rows not divisible by ``sequence_length``.
    """
    rows = x.shape[0] if x.dim() else 0
    if states is None:
        states = [x.new_zeros(shape) for shape in state_shapes(rnn, rows)]
    _validate(rnn, x, states, rows)

    if not training:
        out, final = _call(rnn, x.unsqueeze(1), list(states))
        return out.reshape(rows, out.shape[-1]), final

    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1:
        raise ValueError(f"sequence_length must be a positive int, got {sequence_length!r}")
    length = sequence_length
    if rows % length:
        raise ValueError(f"training needs B*L rows with L = sequence_length = {length}, got {rows} rows")
    batch = rows // length
    sequences = x.reshape(batch, length, x.shape[1])
    hx = [s.reshape(s.shape[0], batch, length, s.shape[2])[:, :, 0].contiguous() for s in states]

    if terminated is None:
        out, hx = _call(rnn, sequences, hx)
        return out.reshape(rows, out.shape[-1]), hx

    if terminated.numel() != rows or terminated.shape[0] != rows:
        raise ValueError(f"inputs['terminated'] must be ({rows}, 1) bool, got {tuple(terminated.shape)}")
    done = terminated.reshape(batch, length).bool()
    keep = (~done).to(hx[0].dtype)
    # one host synchronisation: a step after which some sequence terminated ends a segment
    ends = done[:, :-1].any(dim=0).tolist()
    bounds = [0, *(t + 1 for t, flagged in enumerate(ends) if flagged), length]
    outs = []
    for begin, end in pairwise(bounds):
        out, hx = _call(rnn, sequences[:, begin:end], hx)
        mask = keep[:, end - 1].view(1, batch, 1)
        hx = [h * mask for h in hx]  # out of place: autograd still needs the unmasked states
        outs.append(out)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
    return out.reshape(rows, out.shape[-1]), hx
