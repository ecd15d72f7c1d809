"""The log-std parameter of the Gaussian-type models."""

import pytest
import torch

from mixrl.utils.model_instantiators.torch import gaussian_model, multivariate_gaussian_model, shared_model

FUNCTIONS = [gaussian_model, multivariate_gaussian_model]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_initial_log_std_fills_the_parameter(function, obs, act):
    """initial_log_std=-0.5: log_std_parameter == [-0.5] * num_actions, trainable by default."""
    model = function(obs, act, device="cpu", hiddens=[8], initial_log_std=-0.5)
    torch.testing.assert_close(model.log_std_parameter.detach(), torch.full((3,), -0.5))
    assert model.log_std_parameter.requires_grad


@pytest.mark.parametrize("function", FUNCTIONS)
def test_fixed_log_std_is_saved_but_not_trained(function, obs, act):
    """fixed_log_std=True: requires_grad False, still in the state dict, and unfreezing keeps it fixed."""
    model = function(obs, act, device="cpu", hiddens=[8], fixed_log_std=True)
    assert model.log_std_parameter.requires_grad is False
    assert "log_std_parameter" in model.state_dict()
    model.freeze_parameters(True)
    model.freeze_parameters(False)
    assert model.log_std_parameter.requires_grad is False
    assert model.net_container[0].weight.requires_grad is True


def test_log_std_size_is_the_output_token_units(obs, act):
    """Output size = the token's units (ONE -> 1), else num_actions."""
    network = [{"name": "n", "input": "STATES", "layers": [8]}]
    assert gaussian_model(obs, act, device="cpu", network=network, output="ONE").log_std_parameter.shape == (1,)
    network = [{"name": "n", "input": "STATES", "layers": [3]}]
    assert gaussian_model(obs, act, device="cpu", network=network, output="n").log_std_parameter.shape == (3,)


def test_log_std_is_what_compute_returns(obs, act):
    """compute returns (mean, log_std_parameter, {}) and act reads it (clamped) as the log std."""
    model = gaussian_model(obs, act, device="cpu", hiddens=[8], initial_log_std=-1.0, reduction="none")
    mean, log_std, outputs = model.compute({"states": torch.randn(2, 5)})
    assert log_std is model.log_std_parameter and outputs == {}
    model.act({"states": torch.randn(2, 5)})
    torch.testing.assert_close(model.get_log_std(), torch.full((2, 3), -1.0))


def test_shared_gaussian_role_owns_the_log_std(obs, act):
    """In a shared model the Gaussian role's initial/fixed settings apply to log_std_parameter."""
    model = shared_model(
        obs,
        act,
        device="cpu",
        roles=["policy", "value"],
        parameters=[{"hiddens": [8], "initial_log_std": 0.25, "fixed_log_std": True}, {}],
    )
    torch.testing.assert_close(model.log_std_parameter.detach(), torch.full((3,), 0.25))
    assert model.log_std_parameter.requires_grad is False


@pytest.mark.parametrize("function", FUNCTIONS)
def test_log_std_without_an_output_width_is_a_value_error(function, obs):
    """No action space and an output without token: the log-std length is unknown, a ValueError says so."""
    network = [{"name": "net", "input": "STATES", "layers": [4]}]
    with pytest.raises(ValueError, match="needs an action space for the size of log_std_parameter"):
        function(obs, None, device="cpu", network=network, output="")
