"""Small models shared by the torch model tests."""

import gymnasium
import pytest
import torch

from mixrl.models.torch import CategoricalMixin, DeterministicMixin, GaussianMixin, Model


class GaussianPolicy(GaussianMixin, Model):
    """MLP mean, state-independent log-std parameter (or a state-dependent head)."""

    def __init__(self, observation_space, action_space, device="cpu", state_dependent=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        GaussianMixin.__init__(self, **kwargs)
        self.net = torch.nn.Sequential(torch.nn.Linear(self.num_observations, 16), torch.nn.Tanh())
        self.mean = torch.nn.Linear(16, self.num_actions)
        self.state_dependent = state_dependent
        if state_dependent:
            self.log_std_head = torch.nn.Linear(16, self.num_actions)
        else:
            self.log_std = torch.nn.Parameter(torch.full((self.num_actions,), -0.5))

    def compute(self, inputs, role):
        hidden = self.net(inputs["states"])
        log_std = self.log_std_head(hidden) if self.state_dependent else self.log_std
        return self.mean(hidden), log_std, {}


class CategoricalPolicy(CategoricalMixin, Model):
    def __init__(self, observation_space, action_space, device="cpu", probabilities=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        CategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities, **kwargs)
        self.probabilities = probabilities
        self.net = torch.nn.Linear(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        out = self.net(inputs["states"])
        return (torch.softmax(out, dim=-1) if self.probabilities else out), {}


class DeterministicPolicy(DeterministicMixin, Model):
    def __init__(self, observation_space, action_space, device="cpu", **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        DeterministicMixin.__init__(self, **kwargs)
        self.net = torch.nn.Linear(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        return 10 * self.net(inputs["states"]), {}


@pytest.fixture
def box_obs():
    return gymnasium.spaces.Box(-1.0, 1.0, (5,))


@pytest.fixture
def box_act():
    return gymnasium.spaces.Box(low=torch.tensor([-1.0, 0.0, 5.0]).numpy(), high=torch.tensor([1.0, 1.0, 6.0]).numpy())
