"""Tiny torch models of every head, layer for layer the same as ``tests/models/jax/models.py``.

Layer names match the Flax ones (``hidden``, ``mean``, ``log_std_head``, ``logits``, ...), so the shared tests
read both backends' weights under one set of names.
"""

import math

import torch

from mixrl.models.torch import (
    CategoricalMixin,
    DeterministicMixin,
    GaussianMixin,
    Model,
    MultiCategoricalMixin,
    MultivariateGaussianMixin,
)
from mixrl.models.torch.beta import BetaMixin

HIDDEN = 8


class _Diagonal(Model):
    """Tanh MLP mean; a state-independent log-std parameter or a state-dependent ``log_std_head``."""

    def _build(self, state_dependent, initial_log_std):
        self.state_dependent = state_dependent
        self.hidden = torch.nn.Linear(self.num_observations, HIDDEN)
        self.mean = torch.nn.Linear(HIDDEN, self.num_actions)
        if state_dependent:
            self.log_std_head = torch.nn.Linear(HIDDEN, self.num_actions)
        else:
            self.log_std = torch.nn.Parameter(torch.full((self.num_actions,), float(initial_log_std)))

    def compute(self, inputs, role):
        hidden = torch.tanh(self.hidden(inputs["states"]))
        log_std = self.log_std_head(hidden) if self.state_dependent else self.log_std
        return self.mean(hidden), log_std, {}


class GaussianPolicy(GaussianMixin, _Diagonal):
    def __init__(self, observation_space, action_space, device="cpu", state_dependent=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        GaussianMixin.__init__(self, **kwargs)
        self._build(state_dependent, -0.5)


class MultivariateGaussianPolicy(MultivariateGaussianMixin, _Diagonal):
    def __init__(self, observation_space, action_space, device="cpu", state_dependent=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        MultivariateGaussianMixin.__init__(self, **kwargs)
        self._build(state_dependent, math.log(2.0))


class SquashedPolicy(GaussianMixin, Model):
    """``squash=True`` Gaussian whose mean and log-std are parameters (A,), broadcast over the batch."""

    def __init__(self, observation_space, action_space, device="cpu", mean=(0.3, -0.4), log_std=(-0.5, 0.2), **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        GaussianMixin.__init__(self, **{"squash": True, **kwargs})
        self.mean = torch.nn.Parameter(torch.tensor(mean, dtype=torch.float32))
        self.log_std = torch.nn.Parameter(torch.tensor(log_std, dtype=torch.float32))

    def compute(self, inputs, role):
        return self.mean.expand(inputs["states"].shape[0], -1), self.log_std, {}


class BetaPolicy(BetaMixin, Model):
    """Concentrations ``alpha`` and ``beta`` are parameters (A,), broadcast over the batch."""

    def __init__(
        self, observation_space, action_space, device="cpu", alpha=(2.0, 0.5, 5.0), beta=(3.0, 0.7, 1.5), **kwargs
    ):
        Model.__init__(self, observation_space, action_space, device)
        BetaMixin.__init__(self, **kwargs)
        self.alpha = torch.nn.Parameter(torch.tensor(alpha, dtype=torch.float32))
        self.beta = torch.nn.Parameter(torch.tensor(beta, dtype=torch.float32))

    def compute(self, inputs, role):
        batch = inputs["states"].shape[0]
        return self.alpha.expand(batch, -1), self.beta.expand(batch, -1), {}


class CategoricalPolicy(CategoricalMixin, Model):
    """Linear logits, or their softmax with ``probabilities=True``."""

    def __init__(self, observation_space, action_space, device="cpu", probabilities=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        CategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities, **kwargs)
        self.probabilities = probabilities
        self.logits = torch.nn.Linear(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        logits = self.logits(inputs["states"])
        return (torch.softmax(logits, -1) if self.probabilities else logits), {}


class MultiCategoricalPolicy(MultiCategoricalMixin, Model):
    """Linear logits (batch, sum(nvec)), or a softmax per component with ``probabilities=True``."""

    def __init__(self, observation_space, action_space, device="cpu", probabilities=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        MultiCategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities, **kwargs)
        self.probabilities = probabilities
        self.logits = torch.nn.Linear(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        logits = self.logits(inputs["states"])
        if self.probabilities:
            nvec = self.action_space.nvec.tolist()
            logits = torch.cat([torch.softmax(c, -1) for c in torch.split(logits, nvec, -1)], -1)
        return logits, {}


class DeterministicPolicy(DeterministicMixin, Model):
    """Output ``10 * out(states)`` (large, so clipping shows); with ``critic``, a Q-function of (states, actions)."""

    def __init__(self, observation_space, action_space, device="cpu", critic=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        DeterministicMixin.__init__(self, **kwargs)
        self.critic = critic
        if critic:
            self.q = torch.nn.Linear(self.num_observations + self.num_actions, 1)
        else:
            self.out = torch.nn.Linear(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        if self.critic:
            return self.q(torch.cat([inputs["states"], inputs["taken_actions"]], -1)), {}
        return 10 * self.out(inputs["states"]), {}


class SharedActorCritic(GaussianMixin, DeterministicMixin, Model):
    """One tanh trunk, a Gaussian "policy" head and a deterministic "value" head (automatic role dispatch)."""

    def __init__(self, observation_space, action_space, device="cpu", clip_actions=False):
        Model.__init__(self, observation_space, action_space, device)
        GaussianMixin.__init__(self, clip_actions=clip_actions, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.trunk = torch.nn.Linear(self.num_observations, HIDDEN)
        self.policy_layer = torch.nn.Linear(HIDDEN, self.num_actions)
        self.value_layer = torch.nn.Linear(HIDDEN, 1)
        self.log_std = torch.nn.Parameter(torch.zeros(self.num_actions))

    def compute(self, inputs, role):
        trunk = torch.tanh(self.trunk(inputs["states"]))
        if role == "policy":
            return self.policy_layer(trunk), self.log_std, {}
        return self.value_layer(trunk), {}


class ExplicitActorCritic(SharedActorCritic):
    """The documented skrl pattern: ``act`` overridden to call each mixin's ``act``."""

    def act(self, inputs, role=""):
        if role == "policy":
            return GaussianMixin.act(self, inputs, role)
        return DeterministicMixin.act(self, inputs, role)


class CategoricalActorCritic(CategoricalMixin, DeterministicMixin, Model):
    """A categorical "policy" and a deterministic "value" on one linear layer."""

    def __init__(self, observation_space, action_space, device="cpu"):
        Model.__init__(self, observation_space, action_space, device)
        CategoricalMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.head = torch.nn.Linear(self.num_observations, self.num_actions + 1)

    def compute(self, inputs, role):
        out = self.head(inputs["states"])
        return (out[:, :-1], {}) if role == "policy" else (out[:, -1:], {})


class BetaActorCritic(BetaMixin, DeterministicMixin, Model):
    """A Beta "policy" (softplus + 1 concentrations) and a deterministic "value" on one linear layer."""

    def __init__(self, observation_space, action_space, device="cpu"):
        Model.__init__(self, observation_space, action_space, device)
        BetaMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.head = torch.nn.Linear(self.num_observations, 2 * self.num_actions + 1)

    def compute(self, inputs, role):
        out = self.head(inputs["states"])
        if role == "policy":
            concentrations = torch.nn.functional.softplus(out[:, :-1]) + 1.0
            return concentrations[:, : self.num_actions], concentrations[:, self.num_actions :], {}
        return out[:, -1:], {}


def _fixed_mean(model, inputs):
    return torch.full((inputs["states"].shape[0], model.num_actions), 50.0)


class TwoGaussians(GaussianMixin, Model):
    """Gaussian roles "clipped" (clip_actions) and "free" on one model; the mean is 50 everywhere."""

    def __init__(self, observation_space, action_space, device="cpu"):
        Model.__init__(self, observation_space, action_space, device)
        GaussianMixin.__init__(self, clip_actions=True, role="clipped")
        GaussianMixin.__init__(self, clip_actions=False, role="free")
        self.log_std = torch.nn.Parameter(torch.zeros(self.num_actions))

    def compute(self, inputs, role):
        return _fixed_mean(self, inputs), self.log_std, {}


class TwoMultivariateGaussians(MultivariateGaussianMixin, Model):
    """Multivariate Gaussian roles "clipped" and "free" on one model; the mean is 50 everywhere."""

    def __init__(self, observation_space, action_space, device="cpu"):
        Model.__init__(self, observation_space, action_space, device)
        MultivariateGaussianMixin.__init__(self, clip_actions=True, role="clipped")
        MultivariateGaussianMixin.__init__(self, clip_actions=False, role="free")
        self.log_std = torch.nn.Parameter(torch.zeros(self.num_actions))

    def compute(self, inputs, role):
        return _fixed_mean(self, inputs), self.log_std, {}


class TwoMultiCategoricals(MultiCategoricalMixin, Model):
    """Multi-categorical roles "summed" (reduction sum) and "separate" (reduction none) on one model."""

    def __init__(self, observation_space, action_space, device="cpu"):
        Model.__init__(self, observation_space, action_space, device)
        MultiCategoricalMixin.__init__(self, reduction="sum", role="summed")
        MultiCategoricalMixin.__init__(self, reduction="none", role="separate")
        self.logits = torch.nn.Linear(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        return self.logits(inputs["states"]), {}
