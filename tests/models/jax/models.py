"""Tiny Flax models of every head, layer for layer the same as ``tests/models/torch/models.py``.

Every extra constructor argument has a default and is kept as a plain attribute (Flax re-instantiates
modules). The networks are tiny: every test compiles its act once, so XLA compile time dominates.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from mixrl.models.jax import (
    CategoricalMixin,
    DeterministicMixin,
    GaussianMixin,
    Model,
    MultiCategoricalMixin,
    MultivariateGaussianMixin,
)
from mixrl.models.jax.beta import BetaMixin

HIDDEN = 8


class _Diagonal(Model):
    """Tanh MLP mean; a state-independent log-std parameter or a state-dependent ``log_std_head``."""

    initial_log_std = -0.5

    @nn.compact
    def __call__(self, inputs, role):
        hidden = nn.tanh(nn.Dense(HIDDEN, name="hidden")(inputs["states"]))
        mean = nn.Dense(self.num_actions, name="mean")(hidden)
        if self.state_dependent:
            return mean, nn.Dense(self.num_actions, name="log_std_head")(hidden), {}
        return mean, self.param("log_std", lambda _: jnp.full((self.num_actions,), self.initial_log_std)), {}


class GaussianPolicy(GaussianMixin, _Diagonal):
    def __init__(
        self,
        observation_space=None,
        action_space=None,
        device=None,
        parent=None,
        name=None,
        state_dependent=False,
        **kwargs,
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.state_dependent = state_dependent
        GaussianMixin.__init__(self, **kwargs)


class MultivariateGaussianPolicy(MultivariateGaussianMixin, _Diagonal):
    initial_log_std = math.log(2.0)

    def __init__(
        self,
        observation_space=None,
        action_space=None,
        device=None,
        parent=None,
        name=None,
        state_dependent=False,
        **kwargs,
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.state_dependent = state_dependent
        MultivariateGaussianMixin.__init__(self, **kwargs)


class SquashedPolicy(GaussianMixin, Model):
    """``squash=True`` Gaussian whose mean and log-std are parameters (A,), broadcast over the batch."""

    def __init__(
        self,
        observation_space=None,
        action_space=None,
        device=None,
        parent=None,
        name=None,
        mean=(0.3, -0.4),
        log_std=(-0.5, 0.2),
        **kwargs,
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.initial = (tuple(mean), tuple(log_std))
        GaussianMixin.__init__(self, **{"squash": True, **kwargs})

    @nn.compact
    def __call__(self, inputs, role):
        mean = self.param("mean", lambda _: jnp.asarray(self.initial[0], jnp.float32))
        log_std = self.param("log_std", lambda _: jnp.asarray(self.initial[1], jnp.float32))
        return jnp.broadcast_to(mean, (inputs["states"].shape[0], self.num_actions)), log_std, {}


class BetaPolicy(BetaMixin, Model):
    """Concentrations ``alpha`` and ``beta`` are parameters (A,), broadcast over the batch."""

    def __init__(
        self,
        observation_space=None,
        action_space=None,
        device=None,
        parent=None,
        name=None,
        alpha=(2.0, 0.5, 5.0),
        beta=(3.0, 0.7, 1.5),
        **kwargs,
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.initial = (tuple(alpha), tuple(beta))
        BetaMixin.__init__(self, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        shape = (inputs["states"].shape[0], self.num_actions)
        alpha = self.param("alpha", lambda _: jnp.asarray(self.initial[0], jnp.float32))
        beta = self.param("beta", lambda _: jnp.asarray(self.initial[1], jnp.float32))
        return jnp.broadcast_to(alpha, shape), jnp.broadcast_to(beta, shape), {}


class CategoricalPolicy(CategoricalMixin, Model):
    """Linear logits, or their softmax with ``probabilities=True``."""

    def __init__(
        self,
        observation_space=None,
        action_space=None,
        device=None,
        parent=None,
        name=None,
        probabilities=False,
        **kwargs,
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.probabilities = probabilities
        CategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        logits = nn.Dense(self.num_actions, name="logits")(inputs["states"])
        return (nn.softmax(logits) if self.probabilities else logits), {}


class MultiCategoricalPolicy(MultiCategoricalMixin, Model):
    """Linear logits (batch, sum(nvec)), or a softmax per component with ``probabilities=True``."""

    def __init__(
        self,
        observation_space=None,
        action_space=None,
        device=None,
        parent=None,
        name=None,
        probabilities=False,
        **kwargs,
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.probabilities = probabilities
        MultiCategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        logits = nn.Dense(self.num_actions, name="logits")(inputs["states"])
        if self.probabilities:
            splits = [int(n) for n in self.action_space.nvec[:-1].cumsum()]
            logits = jnp.concatenate([nn.softmax(c) for c in jnp.split(logits, splits, axis=-1)], axis=-1)
        return logits, {}


class DeterministicPolicy(DeterministicMixin, Model):
    """Output ``10 * out(states)`` (large, so clipping shows); with ``critic``, a Q-function of (states, actions)."""

    def __init__(
        self, observation_space=None, action_space=None, device=None, parent=None, name=None, critic=False, **kwargs
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.critic = critic
        DeterministicMixin.__init__(self, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        if self.critic:
            x = jnp.concatenate([inputs["states"], inputs["taken_actions"]], axis=-1)
            return nn.Dense(1, name="q")(x), {}
        return 10 * nn.Dense(self.num_actions, name="out")(inputs["states"]), {}


class SharedActorCritic(GaussianMixin, DeterministicMixin, Model):
    """One tanh trunk, a Gaussian "policy" head and a deterministic "value" head (automatic role dispatch)."""

    def __init__(
        self, observation_space=None, action_space=None, device=None, parent=None, name=None, clip_actions=False
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        GaussianMixin.__init__(self, clip_actions=clip_actions, role="policy")
        DeterministicMixin.__init__(self, role="value")

    @nn.compact
    def __call__(self, inputs, role):
        trunk = nn.tanh(nn.Dense(HIDDEN, name="trunk")(inputs["states"]))
        if role == "policy":
            log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
            return nn.Dense(self.num_actions, name="policy_layer")(trunk), log_std, {}
        return nn.Dense(1, name="value_layer")(trunk), {}


class ExplicitActorCritic(SharedActorCritic):
    """The documented skrl pattern: ``act`` overridden to call each mixin's ``act``."""

    def act(self, inputs, role="", params=None):
        if role == "policy":
            return GaussianMixin.act(self, inputs, role, params)
        return DeterministicMixin.act(self, inputs, role, params)


class CategoricalActorCritic(CategoricalMixin, DeterministicMixin, Model):
    """A categorical "policy" and a deterministic "value" on one linear layer."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        CategoricalMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")

    @nn.compact
    def __call__(self, inputs, role):
        out = nn.Dense(self.num_actions + 1, name="head")(inputs["states"])
        return (out[:, :-1], {}) if role == "policy" else (out[:, -1:], {})


class BetaActorCritic(BetaMixin, DeterministicMixin, Model):
    """A Beta "policy" (softplus + 1 concentrations) and a deterministic "value" on one linear layer."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        BetaMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")

    @nn.compact
    def __call__(self, inputs, role):
        out = nn.Dense(2 * self.num_actions + 1, name="head")(inputs["states"])
        if role == "policy":
            concentrations = nn.softplus(out[:, :-1]) + 1.0
            return concentrations[:, : self.num_actions], concentrations[:, self.num_actions :], {}
        return out[:, -1:], {}


def _fixed_mean(model, inputs):
    return jnp.full((inputs["states"].shape[0], model.num_actions), 50.0)


class TwoGaussians(GaussianMixin, Model):
    """Gaussian roles "clipped" (clip_actions) and "free" on one model; the mean is 50 everywhere."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        GaussianMixin.__init__(self, clip_actions=True, role="clipped")
        GaussianMixin.__init__(self, clip_actions=False, role="free")

    @nn.compact
    def __call__(self, inputs, role):
        return _fixed_mean(self, inputs), self.param("log_std", nn.initializers.zeros, (self.num_actions,)), {}


class TwoMultivariateGaussians(MultivariateGaussianMixin, Model):
    """Multivariate Gaussian roles "clipped" and "free" on one model; the mean is 50 everywhere."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        MultivariateGaussianMixin.__init__(self, clip_actions=True, role="clipped")
        MultivariateGaussianMixin.__init__(self, clip_actions=False, role="free")

    @nn.compact
    def __call__(self, inputs, role):
        return _fixed_mean(self, inputs), self.param("log_std", nn.initializers.zeros, (self.num_actions,)), {}


class TwoMultiCategoricals(MultiCategoricalMixin, Model):
    """Multi-categorical roles "summed" (reduction sum) and "separate" (reduction none) on one model."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        MultiCategoricalMixin.__init__(self, reduction="sum", role="summed")
        MultiCategoricalMixin.__init__(self, reduction="none", role="separate")

    @nn.compact
    def __call__(self, inputs, role):
        return nn.Dense(self.num_actions, name="logits")(inputs["states"]), {}
