"""Small Flax models shared by the JAX model tests (tiny networks: every test compiles its act once)."""

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import (
    CategoricalMixin,
    DeterministicMixin,
    GaussianMixin,
    Model,
    MultiCategoricalMixin,
    MultivariateGaussianMixin,
)

N = 16


class GaussianPolicy(GaussianMixin, Model):
    """Tanh MLP mean; state-independent log-std parameter (-0.5) or a state-dependent head."""

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

    @nn.compact
    def __call__(self, inputs, role):
        hidden = nn.tanh(nn.Dense(8, name="hidden")(inputs["states"]))
        mean = nn.Dense(self.num_actions, name="mean")(hidden)
        if self.state_dependent:
            return mean, nn.Dense(self.num_actions, name="log_std_head")(hidden), {}
        return mean, self.param("log_std", lambda _: jnp.full((self.num_actions,), -0.5)), {}


class MultivariateGaussianPolicy(MultivariateGaussianMixin, Model):
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

    @nn.compact
    def __call__(self, inputs, role):
        hidden = nn.tanh(nn.Dense(8, name="hidden")(inputs["states"]))
        mean = nn.Dense(self.num_actions, name="mean")(hidden)
        if self.state_dependent:
            return mean, nn.Dense(self.num_actions, name="log_std_head")(hidden), {}
        return mean, self.param("log_std", lambda _: jnp.full((self.num_actions,), np.log(2.0))), {}


class CategoricalPolicy(CategoricalMixin, Model):
    """Linear logits, or softmax probabilities with ``probabilities=True``."""

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
    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None, **kwargs):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        MultiCategoricalMixin.__init__(self, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        return nn.Dense(self.num_actions, name="logits")(inputs["states"]), {}


class DeterministicPolicy(DeterministicMixin, Model):
    """Output ``10 * Dense(states)`` (large, so clipping is visible); a Q-function when ``critic=True``."""

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


@pytest.fixture(scope="package", autouse=True)
def _compilation_cache(tmp_path_factory):
    """Deduplicate identical compilations (many tests build the same small model) through a per-run cache."""
    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    before = {name: getattr(jax.config, name) for name in names}
    for name, value in zip(names, (str(tmp_path_factory.mktemp("jax_cache")), 0, 0), strict=True):
        jax.config.update(name, value)
    yield
    for name, value in before.items():
        jax.config.update(name, value)


def build(cls, *args, **kwargs):
    """Construct and initialise a model."""
    model = cls(*args, **kwargs)
    model.init_state_dict("policy")
    return model


def params_of(model, *path):
    """A leaf of ``model.state_dict.params["params"]`` as a NumPy array."""
    tree = model.state_dict.params["params"]
    for name in path:
        tree = tree[name]
    return np.asarray(tree)


@pytest.fixture
def box_obs():
    return gymnasium.spaces.Box(-1.0, 1.0, (5,))


@pytest.fixture
def box_act():
    return gymnasium.spaces.Box(low=np.array([-1.0, 0.0, 5.0], np.float32), high=np.array([1.0, 1.0, 6.0], np.float32))


@pytest.fixture
def states():
    return jax.random.normal(jax.random.PRNGKey(0), (N, 5))
