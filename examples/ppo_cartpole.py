"""PPO on CartPole-v1 with two separate mixrl models: a categorical policy and a deterministic state value.

The policy (``CategoricalMixin``) returns logits; ``act`` samples actions and gives their log-probability,
or that of ``taken_actions`` during the update, and ``get_entropy`` the entropy of the same distribution.
The value (``DeterministicMixin``) returns V(s) (batch, 1). The hyper-parameters follow the rl-zoo CartPole
setting: 8 environments, rollouts of 32 steps, 20 full-batch epochs per rollout, a linearly annealed
learning rate. Goal: a deterministic (argmax) evaluation return of at least 475 (the maximum is 500).

Run: ``python examples/ppo_cartpole.py [--steps 120000] [--seed 0]``
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from _common import seed_everything, single_thread
from _ppo_common import EpisodeReturns, evaluate, gae, make_envs, ppo_loss, run
from torch import nn

from mixrl.models.torch import CategoricalMixin, DeterministicMixin, Model

NUM_ENVS, ROLLOUT, EPOCHS = 8, 32, 20
GAMMA, GAE_LAMBDA, LEARNING_RATE, MAX_GRAD_NORM = 0.98, 0.8, 1e-3, 0.5


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
    with single_thread():
        envs = make_envs(lambda: gym.make("CartPole-v1"), NUM_ENVS, seed)
        policy = Policy(envs.single_observation_space, envs.single_action_space)
        value = Value(envs.single_observation_space, envs.single_action_space)
        optimizer = torch.optim.Adam([*policy.parameters(), *value.parameters()], lr=LEARNING_RATE, eps=1e-5)
        episodes = EpisodeReturns(NUM_ENVS)
        obs = torch.as_tensor(envs.reset(seed=seed)[0])
        updates = max(1, steps // (NUM_ENVS * ROLLOUT))

        for update in range(updates):
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * (1 - update / updates)
            # ---- rollout: act with the stochastic policy, record log-probabilities and values
            states, actions, log_probs, values, rewards, dones = [], [], [], [], [], []
            with torch.no_grad():
                for _ in range(ROLLOUT):
                    action, log_prob, _ = policy.act({"states": obs}, role="policy")
                    states.append(obs)
                    actions.append(action)
                    log_probs.append(log_prob.flatten())
                    values.append(value.act({"states": obs}, role="value")[0].flatten())
                    next_obs, reward, terminated, truncated, info = envs.step(action.flatten().numpy())
                    episodes.add(reward, terminated | truncated)
                    reward = torch.as_tensor(reward, dtype=torch.float32)
                    cut = truncated & ~terminated  # a time limit is not a failure: bootstrap from the last obs
                    if cut.any():
                        final = torch.as_tensor(np.stack(info["final_obs"][cut]))
                        reward[cut] += GAMMA * value.act({"states": final}, role="value")[0].flatten()
                    rewards.append(reward)
                    dones.append(torch.as_tensor(terminated | truncated, dtype=torch.float32))
                    obs = torch.as_tensor(next_obs)
                last_values = value.act({"states": obs}, role="value")[0].flatten()
            advantages, returns = gae(
                torch.stack(rewards), torch.stack(values), torch.stack(dones), last_values, GAMMA, GAE_LAMBDA
            )

            # ---- update: 20 epochs on the whole rollout (256 transitions)
            batch_states, batch_actions = torch.cat(states), torch.cat(actions)
            old_log_probs = torch.cat(log_probs)
            for _ in range(EPOCHS):
                _, log_prob, _ = policy.act({"states": batch_states, "taken_actions": batch_actions}, role="policy")
                new_values = value.act({"states": batch_states}, role="value")[0].flatten()
                entropy = policy.get_entropy(role="policy")
                loss = ppo_loss(
                    log_prob.flatten(), old_log_probs, advantages.flatten(), new_values, returns.flatten(), entropy
                )
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_([*policy.parameters(), *value.parameters()], MAX_GRAD_NORM)
                optimizer.step()
        envs.close()

        def greedy(states: torch.Tensor) -> int:
            return int(policy.act({"states": states}, role="policy")[2]["net_output"].argmax())

        print(f"training: mean return of the last 20 episodes {episodes.mean():.1f}")
        return evaluate(lambda: gym.make("CartPole-v1"), greedy)


if __name__ == "__main__":
    run(main, 120_000, __doc__.splitlines()[0], "CartPole-v1 mean deterministic return (10 episodes)")
