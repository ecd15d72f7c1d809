"""Role routing of the JAX heads through ``mixrl.models._roles`` (the ``Head`` base): one rule for every head."""

import copy
import dataclasses

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models import _roles
from mixrl.models.jax import CategoricalMixin, DeterministicMixin, GaussianMixin, Model, MultiCategoricalMixin
from mixrl.models.jax._head import Head, register
from mixrl.models.jax.beta import BetaMixin, BetaSettings
from mixrl.models.jax.categorical import CategoricalSettings
from mixrl.models.jax.deterministic import DeterministicSettings
from mixrl.models.jax.gaussian import GaussianSettings
from mixrl.models.jax.multicategorical import MultiCategoricalSettings
from mixrl.models.jax.multivariate_gaussian import MultivariateGaussianMixin
from mixrl.models.jax.tabular import TabularMixin, TabularSettings

BOX = gymnasium.spaces.Box(-1.0, 1.0, (2,))


class ActorCritic(GaussianMixin, DeterministicMixin, Model):
    """Gaussian "policy" + deterministic "value" on one trunk."""

    def __init__(self, observation_space=3, action_space=BOX, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        GaussianMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")

    @nn.compact
    def __call__(self, inputs, role):
        trunk = nn.Dense(4, name="trunk")(inputs["states"])
        if role == "policy":
            return nn.Dense(2, name="mean")(trunk), self.param("log_std", nn.initializers.zeros, (2,)), {}
        return nn.Dense(1, name="value")(trunk), {}


class TwoPolicies(GaussianMixin, MultivariateGaussianMixin, Model):
    """Two stochastic heads: get_entropy without a role is ambiguous."""

    def __init__(self, observation_space=3, action_space=BOX, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        GaussianMixin.__init__(self, role="diagonal")
        MultivariateGaussianMixin.__init__(self, role="joint")

    @nn.compact
    def __call__(self, inputs, role):
        return nn.Dense(2, name=role)(inputs["states"]), jnp.full((2,), 0.5), {}


@pytest.fixture(scope="module")
def actor_critic():
    model = ActorCritic()
    model.init_state_dict()
    return model


@pytest.fixture(scope="module")
def outputs(actor_critic):
    return actor_critic.act({"states": np.zeros((4, 3), np.float32)}, "policy")[2]


class TestEntropyRouting:
    def test_entropy_without_role_resolves_to_the_one_head_that_has_one(self, actor_critic, outputs):
        """Gaussian + Deterministic: get_entropy(x) with no role is the policy's (value has no entropy)."""
        np.testing.assert_array_equal(actor_critic.get_entropy(outputs), actor_critic.get_entropy(outputs, "policy"))
        assert actor_critic.get_entropy(outputs).shape == (4, 2)

    def test_entropy_of_a_role_without_entropy_names_its_head(self, actor_critic, outputs):
        """The value role is served by DeterministicMixin."""
        with pytest.raises(
            ValueError, match=r"role 'value' of ActorCritic is served by DeterministicMixin.*get_entropy"
        ):
            actor_critic.get_entropy(outputs, "value")

    def test_entropy_without_role_on_two_stochastic_heads_is_ambiguous(self):
        """Two roles provide get_entropy: the error names both."""
        model = TwoPolicies()
        model.init_state_dict()
        outputs = model.act({"states": np.zeros((4, 3), np.float32)}, "joint")[2]
        with pytest.raises(ValueError, match=r"get_entropy\(role=''\) is ambiguous.*\['diagonal', 'joint'\]"):
            model.get_entropy(outputs)
        assert model.get_entropy(outputs, "joint").shape == (4,)
        assert model.get_entropy(outputs, "diagonal").shape == (4, 2)


class TestActRouting:
    def test_each_role_is_acted_by_its_head(self, actor_critic):
        """policy -> Gaussian (log-prob, stddev), value -> Deterministic (no log-prob, outputs untouched)."""
        states = np.zeros((4, 3), np.float32)
        _, log_prob, outputs = actor_critic.act({"states": states}, "policy")
        assert log_prob.shape == (4, 1) and outputs["stddev"].shape == (4, 2)
        value, none, outputs = actor_critic.act({"states": states}, "value")
        assert value.shape == (4, 1) and none is None and outputs == {}

    def test_act_without_role_on_a_shared_model_is_ambiguous(self, actor_critic):
        """Both heads act: the default role must be named."""
        with pytest.raises(ValueError, match=r"act\(role=''\) is ambiguous.*\['policy', 'value'\]"):
            actor_critic.act({"states": np.zeros((1, 3), np.float32)})

    def test_calling_a_heads_act_directly_still_routes_by_role(self, actor_critic):
        """The documented override pattern calls GaussianMixin.act(self, ...): the role decides, not the class."""
        states = {"states": np.zeros((2, 3), np.float32)}
        assert DeterministicMixin.act(actor_critic, states, "policy")[1].shape == (2, 1)

    def test_one_compiled_act_per_settings_role_mode_and_key_source(self, actor_critic):
        """Repeated calls reuse the cached function; a new mode or a caller key adds one entry each."""
        states = np.zeros((2, 3), np.float32)
        compiled = actor_critic.__dict__["_mixrl_compiled"]
        compiled.clear()
        for _ in range(3):
            actor_critic.act({"states": states}, "policy")
        assert len(compiled) == 1
        actor_critic.act({"states": states, "key": jax.random.key(0)}, "policy")
        actor_critic.set_mode("train")
        actor_critic.act({"states": states}, "policy")
        actor_critic.set_mode("eval")
        settings = _roles.route(actor_critic, "policy", "act")[0]
        assert set(compiled) == {
            (settings, "policy", mode, own) for mode, own in ((False, True), (False, False), (True, True))
        }


class TestTypedSettings:
    @pytest.mark.parametrize(
        "head, settings_type, action_space",
        [
            (GaussianMixin, GaussianSettings, BOX),
            (MultivariateGaussianMixin, GaussianSettings, BOX),
            (BetaMixin, BetaSettings, BOX),
            (DeterministicMixin, DeterministicSettings, BOX),
            (CategoricalMixin, CategoricalSettings, gymnasium.spaces.Discrete(3)),
            (MultiCategoricalMixin, MultiCategoricalSettings, gymnasium.spaces.MultiDiscrete([2, 3])),
            (TabularMixin, TabularSettings, gymnasium.spaces.Discrete(3)),
        ],
    )
    def test_every_head_registers_its_typed_settings(self, head, settings_type, action_space):
        """A Head subclass whose registered settings are its own dataclass, keyed by identity (eq=False)."""

        class Policy(head, Model):
            def __init__(self, observation_space=3, action_space=action_space, device=None, parent=None, name=None):
                Model.__init__(self, observation_space, action_space, device, parent, name)
                head.__init__(self, role="policy")

        model = Policy()
        (settings,) = _roles.all_settings(model)
        assert issubclass(head, Head) and type(settings) is settings_type and settings.head is head
        assert settings.role == "policy" and hash(settings) == object.__hash__(settings)
        assert settings != copy.copy(settings)  # equal fields, another cache key
        assert isinstance(head.stochastic, bool) and head.stochastic is (head is not DeterministicMixin)

    def test_registering_again_drops_the_compiled_acts(self):
        """New settings for a role (a mixin __init__ again) drop the compiled functions keyed by the old ones."""
        model = ActorCritic()
        model.init_state_dict()
        inputs = {"states": np.zeros((64, 3), np.float32), "key": jax.random.key(0)}
        assert np.abs(model.act(inputs, "policy")[0]).max() > 1.0  # std 1, unclipped
        assert model.__dict__["_mixrl_compiled"]
        previous = _roles.route(model, "policy", "act")[0]
        bounds = (-np.ones(2, np.float32), np.ones(2, np.float32))
        register(model, dataclasses.replace(previous, clip_actions=True, bounds=bounds))
        assert not model.__dict__["_mixrl_compiled"]
        assert np.abs(model.act(inputs, "policy")[0]).max() <= 1.0
