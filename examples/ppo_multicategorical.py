"""PPO with a multi-categorical policy (``MultiCategoricalMixin``) on a small MultiDiscrete task.

Gymnasium has no suitable MultiDiscrete environment, so this example brings one: ``CombinationLock``, a
lock with three dials of 3, 4 and 5 positions (``MultiDiscrete([3, 4, 5])`` actions). Every step it shows
a random code (one one-hot block per dial, 12 features) and pays 1 per dial set to the shown digit; an
episode has 10 steps. The three dials are learned jointly by one policy whose ``net_output`` holds 3 + 4 + 5
logits; ``act`` returns (batch, 3) actions and the summed log-probability of the three components, and
``get_entropy`` their summed entropy. Training is one call of the reference PPO, :func:`mixrl.demo.ppo.learn`.

Scores: a random policy gets 10 * (1/3 + 1/4 + 1/5) = 7.83 per episode, the optimal policy 30. Goal: at
least 29 with the greedy policy (``outputs["mode_actions"]``, the most likely position of every dial).

Run: ``python examples/ppo_multicategorical.py [--steps 40000] [--seed 0]``
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from _common import parse_args, seed_everything, single_thread
from torch import nn

from mixrl.demo.common import PPOConfig, evaluate, make_envs
from mixrl.demo.ppo import greedy, learn
from mixrl.models.torch import DeterministicMixin, Model, MultiCategoricalMixin

# episodes end by termination only (no bootstrapping); a small entropy bonus keeps every dial exploring
# fmt: off
CONFIG = PPOConfig(
    num_envs=16, rollout_steps=16, epochs=4, minibatches=4, learning_rate=3e-3, gamma=0.9,
    gae_lambda=0.95, entropy_coef=0.01, reward_scale=1.0,
)
# fmt: on


class CombinationLock(gym.Env):
    """Set every dial to the digit shown: reward = number of dials right, 10 steps per episode."""

    DIALS = (3, 4, 5)
    LENGTH = 10

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (sum(self.DIALS),), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(self.DIALS)
        self.code, self.t = np.zeros(len(self.DIALS), np.int64), 0

    def _observation(self) -> np.ndarray:
        offsets = np.cumsum((0, *self.DIALS[:-1]))
        obs = np.zeros(self.observation_space.shape, np.float32)
        obs[offsets + self.code] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.code, self.t = self.np_random.integers(self.DIALS), 0
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(np.sum(np.asarray(action) == self.code))
        self.code, self.t = self.np_random.integers(self.DIALS), self.t + 1
        return self._observation(), reward, self.t >= self.LENGTH, False, {}


def mlp(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, outputs))


class Policy(MultiCategoricalMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        MultiCategoricalMixin.__init__(self, unnormalized_log_prob=True, reduction="sum")
        self.net = mlp(self.num_observations, self.num_actions)  # num_actions = 3 + 4 + 5 logits

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(inputs["states"]), {}


class Value(DeterministicMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self)
        self.net = mlp(self.num_observations, 1)

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(inputs["states"]), {}


def main(steps: int = 40_000, seed: int = 0) -> float:
    """Train for ``steps`` environment steps; returns the mean greedy return over 10 episodes."""
    seed_everything(seed)
    start = time.perf_counter()
    with single_thread():
        envs = make_envs(CombinationLock, CONFIG.num_envs, seed)
        policy = Policy(envs.single_observation_space, envs.single_action_space)
        value = Value(envs.single_observation_space, envs.single_action_space)
        learn(policy, value, envs, steps, seed, CONFIG)
        mean_return = float(np.mean(evaluate(CombinationLock, greedy(policy), seed=10_000)))
    elapsed = time.perf_counter() - start
    print(f"PPO CombinationLock: mean return {mean_return:.1f} after {steps} steps in {elapsed:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], steps=40_000)
    main(steps=args.steps, seed=args.seed)
