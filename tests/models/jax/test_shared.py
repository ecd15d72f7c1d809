import flax.linen as nn
import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import DeterministicMixin, GaussianMixin, Model

from .conftest import N, params_of


class Shared(GaussianMixin, DeterministicMixin, Model):
    """One trunk, a Gaussian "policy" head and a deterministic "value" head (automatic role dispatch)."""

    def __init__(self, observation_space=5, action_space=None, device=None, **kwargs):
        Model.__init__(self, observation_space, action_space or gymnasium.spaces.Box(-1, 1, (3,)), device, **kwargs)
        GaussianMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")

    @nn.compact
    def __call__(self, inputs, role):
        trunk = nn.tanh(nn.Dense(8, name="trunk")(inputs["states"]))
        if role == "policy":
            return nn.Dense(self.num_actions, name="policy_layer")(trunk), jnp.zeros(self.num_actions), {}
        return nn.Dense(1, name="value_layer")(trunk), {}


class ExplicitAct(Shared):
    """The documented skrl pattern: act overridden to call each mixin's act."""

    def act(self, inputs, role="", params=None):
        if role == "policy":
            return GaussianMixin.act(self, inputs, role, params)
        return DeterministicMixin.act(self, inputs, role, params)


class TwoGaussians(GaussianMixin, Model):
    """Two Gaussian roles with different clip settings in one model (mean fixed at 50)."""

    def __init__(self, observation_space=2, action_space=None, device=None, **kwargs):
        Model.__init__(self, observation_space, action_space or gymnasium.spaces.Box(-1, 1, (2,)), device, **kwargs)
        GaussianMixin.__init__(self, clip_actions=True, role="clipped")
        GaussianMixin.__init__(self, clip_actions=False, role="free")

    @nn.compact
    def __call__(self, inputs, role):
        return jnp.full((inputs["states"].shape[0], 2), 50.0), self.param("log_std", nn.initializers.zeros, (2,)), {}


@pytest.fixture(scope="module")
def shared():
    model = Shared()
    model.init_state_dict("policy")
    return model


class TestSharedModel:
    def test_init_state_dict_materialises_every_role(self, shared):
        """init_state_dict("policy") also creates the value head."""
        assert set(shared.state_dict.params["params"]) == {"trunk", "policy_layer", "value_layer"}

    def test_roles_dispatch_to_their_mixin(self, shared, states):
        """act(role="policy") is Gaussian, act(role="value") deterministic on the same trunk."""
        actions, log_prob, outputs = shared.act({"states": states}, role="policy")
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1) and "stddev" in outputs
        value, none, _ = shared.act({"states": states}, role="value")
        trunk = np.tanh(np.asarray(states) @ params_of(shared, "trunk", "kernel") + params_of(shared, "trunk", "bias"))
        expected = trunk @ params_of(shared, "value_layer", "kernel") + params_of(shared, "value_layer", "bias")
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
        assert none is None

    def test_unknown_role_lists_the_registered_ones(self, shared, states):
        """skrl returns None for an unknown role; mixrl raises ValueError."""
        with pytest.raises(ValueError, match=r"unknown role 'critic'.*\['policy', 'value'\]"):
            shared.act({"states": states}, role="critic")

    def test_entropy_of_the_value_role_is_an_error(self, shared, states):
        """get_entropy on a role served by DeterministicMixin names the problem."""
        _, _, outputs = shared.act({"states": states}, role="policy")
        with pytest.raises(ValueError, match="served by DeterministicMixin"):
            shared.get_entropy(outputs, role="value")
        assert shared.get_entropy(outputs, role="policy").shape == (3,)

    def test_explicit_act_override_keeps_working(self, shared, states):
        """Overriding act to call GaussianMixin.act / DeterministicMixin.act gives the same results."""
        model = ExplicitAct()
        model.init_state_dict("policy")
        model.state_dict = shared.state_dict
        value = model.act({"states": states}, role="value")[0]
        np.testing.assert_allclose(value, shared.act({"states": states}, role="value")[0], rtol=1e-6)


class TestTwoRolesOfOneMixin:
    def test_each_role_keeps_its_own_settings(self):
        """Registering a second Gaussian role does not overwrite the first one's clip_actions."""
        model = TwoGaussians()
        model.init_state_dict("clipped")
        states = jnp.zeros((8, 2))
        assert model.act({"states": states}, role="clipped")[0].max() <= 1.0
        assert model.act({"states": states}, role="free")[0].min() > 40.0
