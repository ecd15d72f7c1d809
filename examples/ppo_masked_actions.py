"""PPO with invalid-action masking (``CategoricalMixin`` and ``inputs["action_mask"]``) on a small toy task.

``PickTheLargest`` shows 8 items, each with a value drawn uniformly from [0, 1), and only some of them may be
picked this step (each item independently with probability 1/2, at least one). The agent picks one item and
is paid its value; picking an unavailable item is an error (the environment raises). An episode has 16 steps.
The observation is the 8 values followed by the 8 availability flags; the same flags, as booleans, are the
``action_mask`` the policy gets with the states, in the rollout, in the update (log-probabilities and
entropy of the masked distribution) and in the greedy evaluation (``outputs["mode_actions"]``).

Scores per episode: picking uniformly among the available items gets 16 * 1/2 = 8, always picking the
largest available value 16 * E[K / (K + 1)] = 12.50 (K available items, K ~ Binomial(8, 1/2) given K >= 1);
on the 10 evaluation episodes (reset seeds 10000-10009) it scores 12.91. Goal: at least 12 with the greedy
policy.

Run: ``python examples/ppo_masked_actions.py [--steps 100000] [--seed 0]``
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from _common import seed_everything, single_thread
from _ppo_common import EpisodeReturns, evaluate, gae, make_envs, minibatches, ppo_loss, run
from torch import nn

from mixrl.models.torch import CategoricalMixin, DeterministicMixin, Model

NUM_ENVS, ROLLOUT, EPOCHS, MINIBATCHES = 16, 16, 4, 4
GAMMA, GAE_LAMBDA, LEARNING_RATE, MAX_GRAD_NORM, ENTROPY_COEF = 0.9, 0.95, 3e-3, 0.5, 0.0


class PickTheLargest(gym.Env):
    """Pick an available item: reward = its value; an unavailable pick raises ``ValueError``; 16 steps."""

    ITEMS = 8
    LENGTH = 16

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2 * self.ITEMS,), np.float32)
        self.action_space = gym.spaces.Discrete(self.ITEMS)
        self.values, self.available, self.t = np.zeros(self.ITEMS), np.ones(self.ITEMS, bool), 0

    def _draw(self) -> tuple[np.ndarray, dict]:
        self.values = self.np_random.random(self.ITEMS)
        self.available = self.np_random.random(self.ITEMS) < 0.5
        if not self.available.any():
            self.available[self.np_random.integers(self.ITEMS)] = True
        obs = np.concatenate([self.values, self.available]).astype(np.float32)
        return obs, {"action_mask": self.available.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._draw()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = int(action)
        if not self.available[action]:
            raise ValueError(f"item {action} is not available (available: {np.flatnonzero(self.available)})")
        reward = float(self.values[action])
        self.t += 1
        obs, info = self._draw()
        return obs, reward, self.t >= self.LENGTH, False, info


def action_mask(states: torch.Tensor) -> torch.Tensor:
    """The (batch, 8) bool mask of available items: the last 8 entries of the observation."""
    return states[:, PickTheLargest.ITEMS :] > 0.5


def mlp(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, outputs))


class Policy(CategoricalMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        CategoricalMixin.__init__(self, unnormalized_log_prob=True)
        self.net = mlp(self.num_observations, self.num_actions)

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(inputs["states"]), {}


class Value(DeterministicMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self)
        self.net = mlp(self.num_observations, 1)

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(inputs["states"]), {}


def main(steps: int = 100_000, seed: int = 0) -> float:
    """Train for ``steps`` environment steps; returns the mean greedy return over 10 episodes."""
    seed_everything(seed)
    with single_thread():
        envs = make_envs(PickTheLargest, NUM_ENVS, seed)
        policy = Policy(envs.single_observation_space, envs.single_action_space)
        value = Value(envs.single_observation_space, envs.single_action_space)
        parameters = [*policy.parameters(), *value.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE, eps=1e-5)
        episodes = EpisodeReturns(NUM_ENVS)
        obs = torch.as_tensor(envs.reset(seed=seed)[0])
        updates = max(1, steps // (NUM_ENVS * ROLLOUT))

        for update in range(updates):
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * (1 - update / updates)
            # ---- rollout: masked actions are never sampled, so the environment never raises
            states, actions, log_probs, values, rewards, dones = [], [], [], [], [], []
            with torch.no_grad():
                for _ in range(ROLLOUT):
                    inputs = {"states": obs, "action_mask": action_mask(obs)}
                    action, log_prob, _ = policy.act(inputs, role="policy")
                    states.append(obs)
                    actions.append(action)
                    log_probs.append(log_prob.flatten())
                    values.append(value.act({"states": obs}, role="value")[0].flatten())
                    next_obs, reward, terminated, truncated, _ = envs.step(action.flatten().numpy())
                    episodes.add(reward, terminated | truncated)
                    rewards.append(torch.as_tensor(reward, dtype=torch.float32))
                    dones.append(torch.as_tensor(terminated | truncated, dtype=torch.float32))
                    obs = torch.as_tensor(next_obs)
                last_values = value.act({"states": obs}, role="value")[0].flatten()
            advantages, returns = gae(
                torch.stack(rewards), torch.stack(values), torch.stack(dones), last_values, GAMMA, GAE_LAMBDA
            )

            # ---- update: log-probabilities and entropy of the same masked distribution
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
                    inputs = {
                        "states": mb["states"],
                        "taken_actions": mb["actions"],
                        "action_mask": action_mask(mb["states"]),
                    }
                    _, log_prob, _ = policy.act(inputs, role="policy")
                    entropy = policy.get_entropy(role="policy").flatten()  # over the available items only
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

        policy.set_mode("eval")  # outputs["mode_actions"]: the most likely available item

        def greedy(states: torch.Tensor) -> int:
            outputs = policy.act({"states": states, "action_mask": action_mask(states)}, role="policy")[2]
            return int(outputs["mode_actions"][0, 0])

        print(f"training: mean return of the last 20 episodes {episodes.mean():.2f} (random 8, optimal 12.50)")
        return evaluate(PickTheLargest, greedy)


if __name__ == "__main__":
    run(main, 100_000, __doc__.splitlines()[0], "PickTheLargest mean greedy return (10 episodes, optimal 12.50)")
