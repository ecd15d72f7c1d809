"""PPO on CartPole-v1 with two separate mixrl models: a categorical policy and a deterministic state value.

The policy (``CategoricalMixin``) returns logits; ``act`` samples actions and gives their log-probability,
or that of ``taken_actions`` during the update, and ``get_entropy`` the entropy of the same distribution.
The value (``DeterministicMixin``) returns V(s) (batch, 1). The hyper-parameters follow the rl-zoo CartPole
setting: 8 environments, rollouts of 32 steps, 20 full-batch epochs per rollout, a linearly annealed
learning rate. Training is one call of the reference PPO, :func:`mixrl.demo.ppo.learn`, with the two models.
Goal: a deterministic (mode) evaluation return of at least 475 (the maximum is 500).

Run: ``python examples/ppo_cartpole.py [--steps 120000] [--seed 0]``
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch
from _common import parse_args, seed_everything, single_thread
from torch import nn

from mixrl.demo.common import PPOConfig, evaluate, make_envs
from mixrl.demo.ppo import greedy, learn
from mixrl.models.torch import CategoricalMixin, DeterministicMixin, Model

#: 8 envs x 32 steps, 20 full-batch epochs; unscaled rewards (separate models: the value loss has its own net)
CONFIG = PPOConfig(reward_scale=1.0)


def mlp(inputs: int, outputs: int, gain: float) -> nn.Sequential:
    """64-64 tanh MLP with orthogonal weights (gain sqrt(2), ``gain`` for the output layer)."""
    layers = [nn.Linear(inputs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, outputs)]
    for layer, layer_gain in zip(layers[::2], (np.sqrt(2), np.sqrt(2), gain), strict=True):
        nn.init.orthogonal_(layer.weight, layer_gain)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class Policy(CategoricalMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        CategoricalMixin.__init__(self, unnormalized_log_prob=True)
        self.net = mlp(self.num_observations, self.num_actions, gain=0.01)  # starts close to uniform

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(inputs["states"]), {}


class Value(DeterministicMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self)
        self.net = mlp(self.num_observations, 1, gain=1.0)

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(inputs["states"]), {}


def main(steps: int = 120_000, seed: int = 0) -> float:
    """Train for ``steps`` environment steps; returns the mean deterministic return over 10 episodes."""
    seed_everything(seed)
    start = time.perf_counter()
    with single_thread():
        envs = make_envs("CartPole-v1", CONFIG.num_envs, seed)
        policy = Policy(envs.single_observation_space, envs.single_action_space)
        value = Value(envs.single_observation_space, envs.single_action_space)
        learn(policy, value, envs, steps, seed, CONFIG)
        mean_return = float(np.mean(evaluate("CartPole-v1", greedy(policy), seed=10_000)))
    elapsed = time.perf_counter() - start
    print(f"PPO CartPole-v1: mean return {mean_return:.1f} after {steps} steps in {elapsed:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], steps=120_000)
    main(steps=args.steps, seed=args.seed)
