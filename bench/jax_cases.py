"""Benchmark cases for ``act_latency_jax.py``: a mixrl model and a hand-written ``jax.jit`` floor per case.

Both sides use the same Flax network (``Net``) and the same parameters, and compute the same outputs
(actions, log-probability, the mixin's ``outputs`` dict, the next PRNG key), so the ratio measures
mixrl's overhead per ``act`` call and nothing else. skrl 1.4.3's JAX models, when importable, are a
third side with the same network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp

from mixrl.models.jax import CategoricalMixin, GaussianMixin, Model


class Net(nn.Module):
    """MLP (ReLU, or the ``flax.linen`` activation named ``activation``); with ``log_std=True`` also a
    state-independent log-std parameter."""

    hidden: tuple[int, ...]
    outputs: int
    log_std: bool = False
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> Any:
        activation = getattr(nn, self.activation)
        for width in self.hidden:
            x = activation(nn.Dense(width)(x))
        x = nn.Dense(self.outputs)(x)
        if self.log_std:
            return x, self.param("log_std", nn.initializers.zeros, (self.outputs,))
        return x


class GaussianPolicy(GaussianMixin, Model):
    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None, hidden=()):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.hidden = tuple(hidden)
        GaussianMixin.__init__(self)

    @nn.compact
    def __call__(self, inputs, role):
        mean, log_std = Net(self.hidden, self.num_actions, log_std=True, name="net")(inputs["states"])
        return mean, log_std, {}


class CategoricalPolicy(CategoricalMixin, Model):
    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None, hidden=()):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.hidden = tuple(hidden)
        CategoricalMixin.__init__(self)

    @nn.compact
    def __call__(self, inputs, role):
        return Net(self.hidden, self.num_actions, name="net")(inputs["states"]), {}


def gaussian_floor(net: Net) -> Callable:
    """Hand-written jitted Gaussian act: split key, network, clamp log-std, sample, log-prob."""

    def act(params: Any, states: jax.Array, key: jax.Array) -> tuple:
        key, subkey = jax.random.split(key)
        mean, log_std = net.apply({"params": params["params"]["net"]}, states)
        log_std = jnp.clip(log_std, -20.0, 2.0)
        std = jnp.exp(log_std)
        noise = jax.random.normal(subkey, mean.shape)
        log_prob = jnp.sum(-0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1, keepdims=True)
        outputs = {
            "mean_actions": mean,
            "log_std": jnp.broadcast_to(log_std, mean.shape),
            "stddev": jnp.broadcast_to(std, mean.shape),
        }
        return mean + std * noise, log_prob, outputs, key

    return jax.jit(act)


def categorical_floor(net: Net) -> Callable:
    """Hand-written jitted categorical act: split key, network, log-softmax, sample, log-prob."""

    def act(params: Any, states: jax.Array, key: jax.Array) -> tuple:
        key, subkey = jax.random.split(key)
        logits = net.apply({"params": params["params"]["net"]}, states)
        log_probs = jax.nn.log_softmax(logits)
        actions = jax.random.categorical(subkey, log_probs)[:, None].astype(jnp.int32)
        log_prob = jnp.take_along_axis(log_probs, actions, axis=-1)
        stddev = jnp.full((states.shape[0], 1), jnp.nan)
        return actions, log_prob, {"net_output": logits, "stddev": stddev}, key

    return jax.jit(act)


@dataclass
class Case:
    """One benchmarked policy: its spaces, network widths, mixrl class and floor."""

    name: str
    observations: int
    action_space: gymnasium.Space
    hidden: tuple[int, ...]
    policy: type
    floor: Callable[[Net], Callable]
    log_std: bool

    @property
    def observation_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(-1.0, 1.0, (self.observations,))

    def build(self) -> tuple[Model, Callable]:
        """The initialised mixrl model (eval mode) and the jitted floor."""
        model = self.policy(self.observation_space, self.action_space, hidden=self.hidden)
        model.init_state_dict("policy")
        model.set_mode("eval")
        return model, self.floor(Net(self.hidden, _size(self.action_space), log_std=self.log_std))

    def build_skrl(self, params: Any) -> Any:
        """skrl 1.4.3's JAX model with the same network and parameters, jitted like skrl's agents do.

        Raises:
            ImportError: skrl is not installed.
        """
        from skrl.models.jax import CategoricalMixin as SkrlCategorical
        from skrl.models.jax import GaussianMixin as SkrlGaussian
        from skrl.models.jax import Model as SkrlModel

        hidden, outputs, gaussian = self.hidden, _size(self.action_space), self.log_std
        mixin = SkrlGaussian if gaussian else SkrlCategorical

        class SkrlPolicy(mixin, SkrlModel):
            def __init__(self, observation_space, action_space, device=None, **kwargs):
                SkrlModel.__init__(self, observation_space, action_space, device, **kwargs)
                mixin.__init__(self)

            @nn.compact
            def __call__(self, inputs, role):
                out = Net(hidden, outputs, log_std=gaussian, name="net")(inputs["states"])
                return (*out, {}) if gaussian else (out, {})

        model = SkrlPolicy(self.observation_space, self.action_space, device="cpu")
        model.init_state_dict("policy")
        model.state_dict = model.state_dict.replace(params=params)
        model.apply = jax.jit(model.apply, static_argnums=2)
        return model


def _size(space: gymnasium.Space) -> int:
    return int(space.n) if isinstance(space, gymnasium.spaces.Discrete) else int(space.shape[0])


CASES = [
    Case(
        name="gaussian 17-256-256-6",
        observations=17,
        action_space=gymnasium.spaces.Box(-1.0, 1.0, (6,)),
        hidden=(256, 256),
        policy=GaussianPolicy,
        floor=gaussian_floor,
        log_std=True,
    ),
    Case(
        name="categorical 4-64-64-2",
        observations=4,
        action_space=gymnasium.spaces.Discrete(2),
        hidden=(64, 64),
        policy=CategoricalPolicy,
        floor=categorical_floor,
        log_std=False,
    ),
]
