"""Recurrent PPO on a partially observed CartPole-v1: the velocities are hidden, a GRU has to infer them.

``HideVelocities`` keeps only the cart position and the pole angle. ``RecurrentActorCritic`` is a shared
model (``CategoricalMixin`` role ``"policy"``, ``DeterministicMixin`` role ``"value"``) whose trunk is a GRU
run by :func:`mixrl.models.torch.rnn.sequence_forward`; ``get_specification`` comes from
:func:`~mixrl.models.torch.rnn.rnn_specification`. Training is one call of the reference PPO,
:func:`mixrl.demo.ppo.learn`, which follows the recurrent contract of :mod:`mixrl.models.torch.rnn`:

* rollout (``model.training`` False): one step per call with ``inputs["rnn"] = [h]`` (1, num_envs, H); the
  returned ``outputs["rnn"]`` is kept and zeroed for the environments whose episode ended;
* update (``model.training`` True): minibatches of whole sequences of ``SEQUENCE_LENGTH`` steps, rows
  ``b*L .. b*L+L-1`` forming sequence ``b``, with the state stored at every step in ``inputs["rnn"]`` (only
  the first of each sequence is used) and ``inputs["terminated"]`` so the GRU restarts inside a sequence
  where an episode ended.

Goal: a mean deterministic evaluation return of at least 400 (the maximum is 500).

Run: ``python examples/ppo_rnn_cartpole.py [--steps 150000] [--seed 0]``
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
from mixrl.models.torch.rnn import rnn_specification, sequence_forward

SEQUENCE_LENGTH, HIDDEN = 16, 64
# rewards scaled by 0.1: value targets up to 10 instead of 100, so the value loss does not swamp the shared GRU
# fmt: off
CONFIG = PPOConfig(
    rollout_steps=128, epochs=4, minibatches=4, learning_rate=2e-3, gamma=0.99, gae_lambda=0.95,
    entropy_coef=0.01, reward_scale=0.1,
)
# fmt: on


class HideVelocities(gym.ObservationWrapper):
    """CartPole observations without the two velocities: (cart position, pole angle)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        low, high = env.observation_space.low[[0, 2]], env.observation_space.high[[0, 2]]
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[[0, 2]]


def make_env() -> gym.Env:
    return HideVelocities(gym.make("CartPole-v1"))


class RecurrentActorCritic(CategoricalMixin, DeterministicMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space, num_envs: int = 1) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        CategoricalMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.num_envs = num_envs
        self.gru = nn.GRU(self.num_observations, HIDDEN, batch_first=True)
        self.policy_layer = nn.Sequential(nn.Linear(HIDDEN, 64), nn.Tanh(), nn.Linear(64, self.num_actions))
        self.value_layer = nn.Sequential(nn.Linear(HIDDEN, 64), nn.Tanh(), nn.Linear(64, 1))
        nn.init.orthogonal_(self.policy_layer[2].weight, 0.01)

    def get_specification(self) -> dict:
        return rnn_specification(self.gru, self.num_envs, SEQUENCE_LENGTH)

    def act(self, inputs: dict, role: str = "") -> tuple:
        if role == "policy":
            return CategoricalMixin.act(self, inputs, role)
        return DeterministicMixin.act(self, inputs, role)

    def compute(self, inputs: dict, role: str) -> tuple:
        def trunk(states: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            terminated = inputs.get("terminated")
            length, training = SEQUENCE_LENGTH, self.training
            return sequence_forward(
                self.gru, states, inputs["rnn"], terminated=terminated, sequence_length=length, training=training
            )

        # the value pass reuses the policy pass's GRU run when called with the same inputs (same tensors)
        features, rnn_states = self.shared_cache(role, inputs["states"], trunk, producer="policy")
        head = self.policy_layer if role == "policy" else self.value_layer
        return head(features), {"rnn": rnn_states}


def main(steps: int = 150_000, seed: int = 0) -> float:
    """Train for ``steps`` environment steps; returns the mean deterministic return over 10 episodes."""
    seed_everything(seed)
    start = time.perf_counter()
    with single_thread():
        envs = make_envs(make_env, CONFIG.num_envs, seed)
        model = RecurrentActorCritic(envs.single_observation_space, envs.single_action_space, CONFIG.num_envs)
        learn(model, model, envs, steps, seed, CONFIG)
        mean_return = float(np.mean(evaluate(make_env, greedy(model, num_envs=10), seed=10_000)))
    elapsed = time.perf_counter() - start
    print(f"PPO GRU CartPole-v1: mean return {mean_return:.1f} after {steps} steps in {elapsed:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], steps=150_000)
    main(steps=args.steps, seed=args.seed)
