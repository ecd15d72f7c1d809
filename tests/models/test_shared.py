"""Shared models (one network, several roles) on both backends: dispatch, per-role settings, role resolution."""

import gymnasium
import numpy as np
import pytest

from .conftest import N

ACTIONS = gymnasium.spaces.Box(-1.0, 1.0, (3,))


def trunk_value(backend, model, states):
    """The value head on the tanh trunk, computed with NumPy from the weights."""
    w = backend.weights(model)
    trunk = np.tanh(states @ w["trunk.kernel"] + w["trunk.bias"])
    return trunk @ w["value_layer.kernel"] + w["value_layer.bias"]


class TestRoleDispatch:
    @pytest.mark.parametrize("name", ["SharedActorCritic", "ExplicitActorCritic"])
    def test_policy_and_value_roles_use_their_own_mixin(self, backend, states, name):
        """role='policy' samples Gaussian actions with a log-prob; role='value' returns the value head and None,
        with automatic dispatch and with the documented act override alike."""
        model = backend.build(name, 5, ACTIONS)
        actions, log_prob, outputs = backend.act(model, {"states": states}, role="policy")
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1) and "mean_actions" in outputs
        values, none, _ = backend.act(model, {"states": states}, role="value")
        assert none is None
        np.testing.assert_allclose(values, trunk_value(backend, model, states), rtol=1e-5, atol=1e-6)

    def test_init_state_dict_materialises_every_role(self, backend):
        """One init_state_dict('policy') creates the trunk and both heads."""
        model = backend.build("SharedActorCritic", 5, ACTIONS)
        assert {"trunk.kernel", "policy_layer.kernel", "value_layer.kernel", "log_std"} <= set(backend.weights(model))

    def test_clip_settings_stay_with_their_role(self, backend, states):
        """The Gaussian role clips; the deterministic role of the same model does not."""
        model = backend.build("SharedActorCritic", 5, ACTIONS, clip_actions=True)
        backend.set_weights(model, **{"policy_layer.bias": np.full(3, 100.0), "value_layer.bias": [100.0]})
        assert backend.act(model, {"states": states}, role="policy")[0].max() <= 1.0
        assert backend.act(model, {"states": states}, role="value")[0].min() > 50.0

    def test_categorical_policy_and_deterministic_value(self, backend):
        """A categorical policy + value pair dispatches like the Gaussian one."""
        model = backend.build("CategoricalActorCritic", 4, gymnasium.spaces.Discrete(3))
        states = np.zeros((5, 4), np.float32)
        assert backend.act(model, {"states": states}, role="policy")[0].dtype == backend.int_dtype
        assert backend.act(model, {"states": states}, role="value")[0].shape == (5, 1)


class TestRoleResolution:
    def test_unknown_role_names_the_registered_roles(self, backend, states):
        """skrl returns None for an unknown role; mixrl raises ValueError listing the known ones."""
        model = backend.build("SharedActorCritic", 5, ACTIONS)
        with pytest.raises(ValueError, match="unknown role 'critic'.*'policy', 'value'"):
            backend.act(model, {"states": states}, role="critic")

    def test_act_without_a_role_on_a_two_role_model_is_ambiguous(self, backend, states):
        """act(inputs) could mean the policy or the value: ValueError naming both roles."""
        model = backend.build("SharedActorCritic", 5, ACTIONS)
        with pytest.raises(ValueError, match="'policy'.*'value'"):
            backend.act(model, {"states": states}, role="")

    def test_entropy_of_the_value_role_is_a_clear_error(self, backend, states):
        """An accessor routed to a mixin without it says so."""
        model = backend.build("SharedActorCritic", 5, ACTIONS)
        _, _, outputs = backend.act(model, {"states": states}, role="policy")
        assert backend.entropy(model, outputs, role="policy").shape == (N, 3)
        with pytest.raises(ValueError, match="served by DeterministicMixin"):
            backend.entropy(model, outputs, role="value")

    def test_entropy_without_a_role_resolves_to_the_one_role_that_has_it(self, backend, states):
        """get_entropy() on Gaussian('policy') + Deterministic('value') is the policy's entropy (skrl 1.x)."""
        model = backend.build("SharedActorCritic", 5, ACTIONS)
        _, _, outputs = backend.act(model, {"states": states}, role="policy")
        np.testing.assert_array_equal(
            backend.entropy(model, outputs, role=""), backend.entropy(model, outputs, role="policy")
        )

    def test_entropy_without_a_role_on_two_gaussian_roles_is_ambiguous(self, backend):
        """Two roles provide get_entropy: ValueError naming both."""
        model = backend.build("TwoGaussians", 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)))
        _, _, outputs = backend.act(model, {"states": np.zeros((8, 2))}, role="free")
        with pytest.raises(ValueError, match="'clipped'.*'free'"):
            backend.entropy(model, outputs, role="")
