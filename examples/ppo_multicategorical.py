"""PPO with a multi-categorical policy (``MultiCategoricalMixin``) on a small MultiDiscrete task.

Gymnasium has no suitable MultiDiscrete environment, so this example brings one: ``CombinationLock``, a
lock with three dials of 3, 4 and 5 positions (``MultiDiscrete([3, 4, 5])`` actions). Every step it shows
a random code (one one-hot block per dial, 12 features) and pays 1 per dial set to the shown digit; an
episode has 10 steps. The three dials are learned jointly by one policy whose ``net_output`` holds 3 + 4 + 5
logits; ``act`` returns (batch, 3) actions and the summed log-probability of the three components, and
``get_entropy`` their summed entropy.

Scores: a random policy gets 10 * (1/3 + 1/4 + 1/5) = 7.83 per episode, the optimal policy 30. Goal: at
least 29 with the greedy policy (``distribution(role).mode``, the most likely position of every dial).

Run: ``python examples/ppo_multicategorical.py [--steps 40000] [--seed 0]``
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from _common import seed_everything, single_thread
from _ppo_common import EpisodeReturns, evaluate, gae, make_envs, minibatches, ppo_loss, run
from torch import nn

from mixrl.models.torch import DeterministicMixin, Model, MultiCategoricalMixin

NUM_ENVS, ROLLOUT, EPOCHS, MINIBATCHES = 16, 16, 4, 4
GAMMA, GAE_LAMBDA, LEARNING_RATE, MAX_GRAD_NORM, ENTROPY_COEF = 0.9, 0.95, 3e-3, 0.5, 0.01


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
    with single_thread():
        envs = make_envs(CombinationLock, NUM_ENVS, seed)
        policy = Policy(envs.single_observation_space, envs.single_action_space)
        value = Value(envs.single_observation_space, envs.single_action_space)
        parameters = [*policy.parameters(), *value.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE, eps=1e-5)
        episodes = EpisodeReturns(NUM_ENVS)
        obs = torch.as_tensor(envs.reset(seed=seed)[0])
        updates = max(1, steps // (NUM_ENVS * ROLLOUT))

        for update in range(updates):
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * (1 - update / updates)
            # ---- rollout (episodes end by termination only: no bootstrapping needed)
            states, actions, log_probs, values, rewards, dones = [], [], [], [], [], []
            with torch.no_grad():
                for _ in range(ROLLOUT):
                    action, log_prob, _ = policy.act({"states": obs}, role="policy")  # (envs, 3), (envs, 1)
                    states.append(obs)
                    actions.append(action)
                    log_probs.append(log_prob.flatten())
                    values.append(value.act({"states": obs}, role="value")[0].flatten())
                    next_obs, reward, terminated, truncated, _ = envs.step(action.numpy())
                    episodes.add(reward, terminated | truncated)
                    rewards.append(torch.as_tensor(reward, dtype=torch.float32))
                    dones.append(torch.as_tensor(terminated | truncated, dtype=torch.float32))
                    obs = torch.as_tensor(next_obs)
                last_values = value.act({"states": obs}, role="value")[0].flatten()
            advantages, returns = gae(
                torch.stack(rewards), torch.stack(values), torch.stack(dones), last_values, GAMMA, GAE_LAMBDA
            )

            # ---- update
            batch = {
                "states": torch.cat(states),
                "actions": torch.cat(actions),
                "log_probs": torch.cat(log_probs),
                "advantages": advantages.flatten(),
                "returns": returns.flatten(),
            }
            for _ in range(EPOCHS):
                for index in minibatches(NUM_ENVS * ROLLOUT, MINIBATCHES):
                    mb = {name: tensor[index] for name, tensor in batch.items()}
                    _, log_prob, _ = policy.act({"states": mb["states"], "taken_actions": mb["actions"]}, "policy")
                    entropy = policy.get_entropy(role="policy").flatten()  # summed over the dials: (batch,)
                    new_values = value.act({"states": mb["states"]}, role="value")[0].flatten()
                    loss = ppo_loss(
                        log_prob.flatten(),
                        mb["log_probs"],
                        mb["advantages"],
                        new_values,
                        mb["returns"],
                        entropy,
                        entropy_coef=ENTROPY_COEF,
                    )
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
                    optimizer.step()
        envs.close()

        def greedy(states: torch.Tensor) -> np.ndarray:
            policy.act({"states": states}, role="policy")
            return policy.distribution(role="policy").mode[0].numpy()

        print(f"training: mean return of the last 20 episodes {episodes.mean():.1f} (random 7.8, optimal 30)")
        return evaluate(CombinationLock, greedy)


if __name__ == "__main__":
    run(main, 40_000, __doc__.splitlines()[0], "CombinationLock mean greedy return (10 episodes, optimal 30)")
