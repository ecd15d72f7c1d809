"""Build each PyTorch model kind on a gymnasium environment and show what ``act`` returns.

Run: ``python examples/quickstart.py``
"""

import gymnasium as gym
import torch
from torch import nn

from mixrl.models.torch import CategoricalMixin, DeterministicMixin, GaussianMixin, Model


class GaussianPolicy(GaussianMixin, Model):
    def __init__(self, observation_space, action_space, device=None):
        Model.__init__(self, observation_space, action_space, device)
        GaussianMixin.__init__(self, clip_actions=True, reduction="sum")
        self.net = nn.Sequential(nn.Linear(self.num_observations, 64), nn.ELU(), nn.Linear(64, self.num_actions))
        self.log_std_parameter = nn.Parameter(torch.zeros(self.num_actions))

    def compute(self, inputs, role):
        return self.net(inputs["states"]), self.log_std_parameter, {}


class CategoricalPolicy(CategoricalMixin, Model):
    def __init__(self, observation_space, action_space, device=None):
        Model.__init__(self, observation_space, action_space, device)
        CategoricalMixin.__init__(self, unnormalized_log_prob=True)
        self.net = nn.Sequential(nn.Linear(self.num_observations, 64), nn.Tanh(), nn.Linear(64, self.num_actions))

    def compute(self, inputs, role):
        return self.net(inputs["states"]), {}


class Critic(DeterministicMixin, Model):
    """Q(s, a): takes the concatenation of states and taken actions."""

    def __init__(self, observation_space, action_space, device=None):
        Model.__init__(self, observation_space, action_space, device)
        DeterministicMixin.__init__(self)
        self.net = nn.Sequential(nn.Linear(self.num_observations + self.num_actions, 64), nn.ReLU(), nn.Linear(64, 1))

    def compute(self, inputs, role):
        return self.net(torch.cat([inputs["states"], inputs["taken_actions"]], dim=1)), {}


def describe(name, result):
    actions, log_prob, outputs = result
    shapes = {key: tuple(value.shape) for key, value in outputs.items()}
    log_prob_shape = None if log_prob is None else tuple(log_prob.shape)
    print(f"{name:<28} actions {tuple(actions.shape)}  log_prob {log_prob_shape}  outputs {shapes}")


def main():
    torch.manual_seed(0)
    pendulum, cartpole = gym.make("Pendulum-v1"), gym.make("CartPole-v1")
    obs, _ = pendulum.reset(seed=0)
    states = torch.as_tensor(obs).reshape(1, -1)

    policy = GaussianPolicy(pendulum.observation_space, pendulum.action_space, device="cpu")
    describe("Gaussian policy (Pendulum)", policy.act({"states": states}, role="policy"))
    critic = Critic(pendulum.observation_space, pendulum.action_space, device="cpu")
    actions = policy.act({"states": states}, role="policy")[0]
    describe("Q critic (Pendulum)", critic.act({"states": states, "taken_actions": actions}, role="critic_1"))

    obs, _ = cartpole.reset(seed=0)
    categorical = CategoricalPolicy(cartpole.observation_space, cartpole.action_space, device="cpu")
    describe("Categorical policy (CartPole)", categorical.act({"states": torch.as_tensor(obs)[None]}, role="policy"))

    # one short episode with the untrained categorical policy
    total, done = 0.0, False
    while not done:
        with torch.no_grad():
            action = categorical.act({"states": torch.as_tensor(obs)[None]}, role="policy")[0]
        obs, reward, terminated, truncated, _ = cartpole.step(action.item())
        total, done = total + reward, terminated or truncated
    print(f"untrained categorical policy: CartPole episode return {total:.0f}")


if __name__ == "__main__":
    main()
