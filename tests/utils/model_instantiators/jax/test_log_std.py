"""log_std_parameter (JAX) of the Gaussian-type models."""

import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.utils.model_instantiators.jax import gaussian_model, multivariate_gaussian_model, shared_model

from .conftest import params, random_inputs

FUNCTIONS = [gaussian_model, multivariate_gaussian_model]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_initial_log_std_fills_the_parameter(function, obs, act):
    """initial_log_std=-0.5: params["log_std_parameter"] == [-0.5] * num_actions (a trainable parameter)."""
    model = function(obs, act, hiddens=[8], initial_log_std=-0.5)
    np.testing.assert_array_equal(params(model)["log_std_parameter"], np.full(3, -0.5, np.float32))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_fixed_log_std_is_a_constant_outside_params(function, obs, act):
    """fixed_log_std=True: no log_std_parameter in params; __call__ returns the constant (and act uses it)."""
    model = function(obs, act, hiddens=[8], initial_log_std=-1.0, fixed_log_std=True)
    assert sorted(params(model)) == ["net_container"]
    _, log_std, _ = model.apply(model.state_dict.params, {"states": jnp.ones((2, 5))}, "policy")
    np.testing.assert_array_equal(log_std, np.full(3, -1.0, np.float32))
    if function is gaussian_model:
        _, _, outputs = model.act({"states": random_inputs()["states"]}, role="policy")
        expected = np.broadcast_to(np.exp(np.full(3, -1.0)), outputs["stddev"].shape)
        assert outputs["stddev"].shape[-1] == 3
        np.testing.assert_allclose(outputs["stddev"], expected, rtol=1e-6)


def test_log_std_size_is_the_output_token_units(obs, act):
    """Output size = the token's units (ONE -> 1), else num_actions."""
    network = [{"name": "n", "input": "STATES", "layers": [8]}]
    assert params(gaussian_model(obs, act, network=network, output="ONE"))["log_std_parameter"].shape == (1,)
    network = [{"name": "n", "input": "STATES", "layers": [8, 3]}]
    assert params(gaussian_model(obs, act, network=network, output="n"))["log_std_parameter"].shape == (3,)


def test_shared_gaussian_role_owns_the_log_std(obs, act):
    """In a shared model the Gaussian role's initial/fixed settings apply; the value role returns no log-std."""
    model = shared_model(
        obs,
        act,
        roles=["policy", "value"],
        parameters=[{"hiddens": [8], "initial_log_std": 0.25, "fixed_log_std": True}, {"output_shape": 1}],
    )
    assert "log_std_parameter" not in params(model)
    variables, states = model.state_dict.params, jnp.ones((2, 5))
    np.testing.assert_array_equal(model.apply(variables, {"states": states}, "policy")[1], np.full(3, 0.25, np.float32))
    assert len(model.apply(variables, {"states": states}, "value")) == 2


@pytest.mark.parametrize("function", FUNCTIONS)
def test_log_std_without_an_output_width_is_a_value_error(function, obs):
    """No action space and an output without token: the log-std length is unknown, a ValueError says so."""
    network = [{"name": "net", "input": "STATES", "layers": [4]}]
    with pytest.raises(ValueError, match="needs an action space for the size of log_std_parameter"):
        function(obs, None, network=network, output="")
