"""PPO on Pendulum-v1 with one shared model: a Gaussian policy and a state value on the same trunk.

``SharedActorCritic`` combines ``GaussianMixin`` (role ``"policy"``) and ``DeterministicMixin`` (role
``"value"``) and overrides ``act`` to dispatch on the role (the documented skrl pattern). Its ``compute``
runs the trunk through ``Model.shared_cache``: the policy pass computes it and the value pass that follows
on the *same* states tensor reuses it, so one forward pass serves both heads, in the rollout and in every
minibatch. One optimizer trains the single parameter set. Goal: a mean deterministic (mean action)
evaluation return of at least -250 (a random policy scores about -1200).

Run: ``python examples/ppo_pendulum_shared.py [--steps 100000] [--seed 0]``
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from _common import seed_everything, single_thread
from _ppo_common import EpisodeReturns, evaluate, gae, make_envs, minibatches, ppo_loss, run
from torch import nn

from mixrl.models.torch import DeterministicMixin, GaussianMixin, Model

NUM_ENVS, ROLLOUT, EPOCHS, MINIBATCHES = 8, 256, 10, 32
GAMMA, GAE_LAMBDA, LEARNING_RATE, MAX_GRAD_NORM = 0.9, 0.95, 1e-3, 0.5
REWARD_SCALE = 0.1  # rewards lie in [-16.3, 0]: scaled, the value targets stay small


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
    with single_thread():
        envs = make_envs(lambda: gym.make("Pendulum-v1"), NUM_ENVS, seed)
        low, high = envs.single_action_space.low, envs.single_action_space.high
        model = SharedActorCritic(envs.single_observation_space, envs.single_action_space)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=1e-5)
        episodes = EpisodeReturns(NUM_ENVS)
        obs = torch.as_tensor(envs.reset(seed=seed)[0])
        updates = max(1, steps // (NUM_ENVS * ROLLOUT))

        for update in range(updates):
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * (1 - update / updates)
            # ---- rollout: the value call reuses the trunk of the policy call on the same `obs` tensor
            states, actions, log_probs, values, rewards, dones = [], [], [], [], [], []
            with torch.no_grad():
                for _ in range(ROLLOUT):
                    action, log_prob, _ = model.act({"states": obs}, role="policy")
                    values.append(model.act({"states": obs}, role="value")[0].flatten())
                    states.append(obs)
                    actions.append(action)
                    log_probs.append(log_prob.flatten())
                    next_obs, reward, terminated, truncated, info = envs.step(np.clip(action.numpy(), low, high))
                    episodes.add(reward, terminated | truncated)
                    reward = torch.as_tensor(reward * REWARD_SCALE, dtype=torch.float32)
                    cut = truncated & ~terminated  # Pendulum only ends by its 200-step limit: bootstrap
                    if cut.any():
                        final = torch.as_tensor(np.stack(info["final_obs"][cut]))
                        reward[cut] += GAMMA * model.act({"states": final}, role="value")[0].flatten()
                    rewards.append(reward)
                    dones.append(torch.as_tensor(terminated | truncated, dtype=torch.float32))
                    obs = torch.as_tensor(next_obs)
                last_values = model.act({"states": obs}, role="value")[0].flatten()
            advantages, returns = gae(
                torch.stack(rewards), torch.stack(values), torch.stack(dones), last_values, GAMMA, GAE_LAMBDA
            )

            # ---- update: shuffled minibatches; again one trunk pass per minibatch for both heads
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
                    _, log_prob, _ = model.act({"states": mb["states"], "taken_actions": mb["actions"]}, role="policy")
                    new_values = model.act({"states": mb["states"]}, role="value")[0].flatten()
                    entropy = model.get_entropy(role="policy").sum(dim=-1)
                    loss = ppo_loss(
                        log_prob.flatten(), mb["log_probs"], mb["advantages"], new_values, mb["returns"], entropy
                    )
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                    optimizer.step()
        envs.close()

        def mean_action(states: torch.Tensor) -> np.ndarray:
            return np.clip(model.act({"states": states}, role="policy")[2]["mean_actions"][0].numpy(), low, high)

        print(f"training: mean return of the last 20 episodes {episodes.mean():.1f}")
        return evaluate(lambda: gym.make("Pendulum-v1"), mean_action)


if __name__ == "__main__":
    run(main, 100_000, __doc__.splitlines()[0], "Pendulum-v1 mean deterministic return (10 episodes)")
