"""PPO on Pendulum-v1 with one shared model: a Gaussian policy and a state value on the same trunk.

``SharedActorCritic`` combines ``GaussianMixin`` (role ``"policy"``) and ``DeterministicMixin`` (role
``"value"``) and overrides ``act`` to dispatch on the role (the documented skrl pattern). Its ``compute``
runs the trunk through ``Model.shared_cache``: the policy pass computes it and the value pass that follows
on the *same* states tensor reuses it, so one forward pass serves both heads, in the rollout and in every
minibatch. Training is one call of the reference PPO, :func:`mixrl.demo.ppo.learn`, with the model as
policy and value: one optimizer trains the single parameter set. Goal: a mean deterministic (mean action)
evaluation return of at least -250 (a random policy scores about -1200).

Run: ``python examples/ppo_pendulum_shared.py [--steps 100000] [--seed 0]``
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
from mixrl.models.torch import DeterministicMixin, GaussianMixin, Model

# rewards lie in [-16.3, 0]: scaled by 0.1, the value targets stay small
CONFIG = PPOConfig(rollout_steps=256, epochs=10, minibatches=32, gamma=0.9, gae_lambda=0.95, reward_scale=0.1)


class SharedActorCritic(GaussianMixin, DeterministicMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        GaussianMixin.__init__(self, clip_actions=False, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.trunk = nn.Sequential(nn.Linear(self.num_observations, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.mean_layer = nn.Linear(64, self.num_actions)
        self.log_std_parameter = nn.Parameter(torch.zeros(self.num_actions))
        self.value_layer = nn.Linear(64, 1)
        for layer, gain in ((self.trunk[0], np.sqrt(2)), (self.trunk[2], np.sqrt(2)), (self.mean_layer, 0.01)):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)

    def act(self, inputs: dict, role: str = "") -> tuple:
        if role == "policy":
            return GaussianMixin.act(self, inputs, role)
        return DeterministicMixin.act(self, inputs, role)

    def compute(self, inputs: dict, role: str) -> tuple:
        features = self.shared_cache(role, inputs["states"], self.trunk, producer="policy")
        if role == "policy":
            return self.mean_layer(features), self.log_std_parameter, {}
        return self.value_layer(features), {}


def main(steps: int = 100_000, seed: int = 0) -> float:
    """Train for ``steps`` environment steps; returns the mean deterministic return over 10 episodes."""
    seed_everything(seed)
    start = time.perf_counter()
    with single_thread():
        envs = make_envs("Pendulum-v1", CONFIG.num_envs, seed)
        model = SharedActorCritic(envs.single_observation_space, envs.single_action_space)
        learn(model, model, envs, steps, seed, CONFIG)
        mean_return = float(np.mean(evaluate("Pendulum-v1", greedy(model), seed=10_000)))  # the mean action
    elapsed = time.perf_counter() - start
    print(f"PPO Pendulum-v1: mean return {mean_return:.1f} after {steps} steps in {elapsed:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], steps=100_000)
    main(steps=args.steps, seed=args.seed)
