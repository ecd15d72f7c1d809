"""Plumbing shared by the PyTorch examples: seeding, threads, replay of the off-policy loops, CLI.

The PPO examples call the reference PPO (:mod:`mixrl.demo.ppo`); every example evaluates with
:func:`mixrl.demo.common.evaluate`. Nothing here touches a mixrl model: the examples show every model call.
"""

from __future__ import annotations

import argparse
import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (``random_act`` and the buffers draw from torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread, then restore the previous setting.

    The examples' networks are tiny: one thread is faster than several (no synchronisation per small
    matrix product) and does not fight other processes for the cores.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def final_observations(next_obs: np.ndarray, done: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """The true next observations of a SAME_STEP vector step: ``info["final_obs"]`` where a sub-env finished.

    Args:
        next_obs: (num_envs, ...) observations returned by ``step`` (reset ones for finished sub-envs).
        done: (num_envs,) ``terminated | truncated``.
        info: the step's info dict.
    """
    if not done.any():
        return next_obs
    real = next_obs.copy()
    for index in np.flatnonzero(info["_final_obs"]):
        real[index] = info["final_obs"][index]
    return real


class ReplayBuffer:
    """A fixed-size ring buffer of transitions stored as float32 tensors (actions keep their dtype).

    Args:
        capacity: number of transitions kept.
        state_size: flat size of an observation.
        action_size: flat size of a stored action.
        action_dtype: ``torch.float32`` (continuous) or ``torch.int64`` (discrete indices).
    """

    def __init__(self, capacity: int, state_size: int, action_size: int, action_dtype: torch.dtype) -> None:
        self.capacity, self.size, self.position = capacity, 0, 0
        self.states = torch.zeros(capacity, state_size)
        self.actions = torch.zeros(capacity, action_size, dtype=action_dtype)
        self.rewards = torch.zeros(capacity, 1)
        self.next_states = torch.zeros(capacity, state_size)
        self.terminated = torch.zeros(capacity, 1)

    def add(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        rewards: np.ndarray,
        next_states: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Store a batch of N transitions.

        Args:
            states: (N, S) tensor.
            actions: (N, A) tensor, in the space the critics read (e.g. squashed to [-1, 1]).
            rewards: (N,).
            next_states: (N, S), the real next observations (see :func:`final_observations`).
            terminated: (N,) ``terminated`` only, not ``truncated``: a time limit is not a terminal state, so
                the value after it is bootstrapped.
        """
        index = (self.position + torch.arange(states.shape[0])) % self.capacity
        self.states[index] = states
        self.actions[index] = actions
        self.rewards[index] = torch.as_tensor(rewards, dtype=torch.float32).view(-1, 1)
        self.next_states[index] = torch.as_tensor(next_states, dtype=torch.float32)
        self.terminated[index] = torch.as_tensor(terminated, dtype=torch.float32).view(-1, 1)
        self.position = (self.position + states.shape[0]) % self.capacity
        self.size = min(self.size + states.shape[0], self.capacity)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """A uniform batch ``(states, actions, rewards (B, 1), next_states, terminated (B, 1))``, ``B = batch_size``."""
        index = torch.randint(self.size, (batch_size,))
        tensors = (self.states, self.actions, self.rewards, self.next_states, self.terminated)
        return tuple(tensor[index] for tensor in tensors)


def parse_args(description: str, steps: int | None, seed: int = 0, **extra: Any) -> argparse.Namespace:
    """``--steps`` and ``--seed`` flags (plus ``extra``: name -> ``add_argument`` keywords) for an example's CLI.

    ``steps=None`` leaves the default budget to the example (e.g. one per environment).
    """
    parser = argparse.ArgumentParser(description=description)
    default = "the example's choice" if steps is None else steps
    parser.add_argument("--steps", type=int, default=steps, help=f"environment steps (default {default})")
    parser.add_argument("--seed", type=int, default=seed, help=f"seed of every generator (default {seed})")
    for name, options in extra.items():
        parser.add_argument(f"--{name}", **options)
    return parser.parse_args()
