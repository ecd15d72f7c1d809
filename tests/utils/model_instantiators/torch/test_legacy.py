"""The legacy ``hiddens`` style keeps the legacy-era defaults."""

import inspect
import logging

import gymnasium
import pytest
import torch

from mixrl.utils.model_instantiators import _description
from mixrl.utils.model_instantiators.torch import (
    Shape,
    categorical_model,
    deterministic_model,
    gaussian_model,
    multicategorical_model,
    multivariate_gaussian_model,
)

from .conftest import copy_into, linear_shapes

nn = torch.nn


class TestLegacyDefaults:
    def test_no_description_builds_two_256_relu_layers_and_a_tanh_output(self, obs, act):
        """gaussian_model(obs, act): Linear 5-256, ReLU, 256-256, ReLU, 256-3; mean = tanh(net)."""
        model = gaussian_model(obs, act, device="cpu")
        modules = list(model.net_container)
        assert [type(m) for m in modules] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
        assert linear_shapes(model) == [(5, 256), (256, 256), (256, 3)]
        reference = copy_into(
            nn.Sequential(nn.Linear(5, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 3)),
            model.net_container,
        )
        x = torch.randn(7, 5)
        mean, log_std, outputs = model.compute({"states": x})
        torch.testing.assert_close(mean, torch.tanh(reference(x)))
        assert log_std is model.log_std_parameter and outputs == {}

    def test_hiddens_alone_keeps_relu_and_tanh(self, obs, act):
        """Only hiddens=[64, 64]: still ReLU hidden activations and a tanh output (skrl builds a linear net)."""
        model = gaussian_model(obs, act, device="cpu", hiddens=[64, 64])
        assert [type(m).__name__ for m in model.net_container] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
        assert [name for name, _ in model.named_parameters()] == [
            "log_std_parameter",
            "net_container.0.weight",
            "net_container.0.bias",
            "net_container.2.weight",
            "net_container.2.bias",
            "net_container.4.weight",
            "net_container.4.bias",
        ]
        x = torch.randn(4, 5)
        reference = copy_into(
            nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3)),
            model.net_container,
        )
        torch.testing.assert_close(model.compute({"states": x})[0], torch.tanh(reference(x)))

    def test_categorical_default_has_no_output_activation(self):
        """Categorical outputs raw logits (legacy default output_activation=None) and unnormalized_log_prob=True."""
        model = categorical_model(4, gymnasium.spaces.Discrete(3), device="cpu", hiddens=8)
        assert inspect.signature(categorical_model).parameters["unnormalized_log_prob"].default is True
        x = torch.randn(2, 4)
        torch.testing.assert_close(model.compute({"states": x})[0], model.net_container(x))

    def test_signatures_show_the_legacy_defaults(self):
        """help() shows the legacy default values (markers tell 'not given' apart)."""
        parameters = inspect.signature(gaussian_model).parameters
        shown = {name: repr(parameters[name].default) for name in _description.LEGACY_KEYS}
        assert shown == {
            "input_shape": "Shape.STATES",
            "hiddens": "[256, 256]",
            "hidden_activation": "['relu', 'relu']",
            "output_shape": "Shape.ACTIONS",
            "output_activation": "'tanh'",
            "output_scale": "1.0",
        }


class TestLegacyKeywords:
    def test_states_actions_critic_reads_the_concatenation(self, obs, act):
        """The legacy-style critic: input concat(states, taken_actions), output 1 unit, no activation."""
        critic = deterministic_model(
            obs,
            act,
            device="cpu",
            input_shape=Shape.STATES_ACTIONS,
            hiddens=[400, 300],
            hidden_activation=["relu", "relu"],
            output_shape=Shape.ONE,
            output_activation=None,
        )
        assert linear_shapes(critic) == [(8, 400), (400, 300), (300, 1)]
        states, actions = torch.randn(6, 5), torch.randn(6, 3)
        reference = copy_into(
            nn.Sequential(nn.Linear(8, 400), nn.ReLU(), nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 1)),
            critic.net_container,
        )
        values, none, _ = critic.act({"states": states, "taken_actions": actions})
        torch.testing.assert_close(values, reference(torch.cat([states, actions], dim=1)))
        assert none is None

    def test_output_scale_int_output_shape_and_single_activation_string(self, obs, act):
        """output_scale multiplies the activated output; an int output_shape is used as-is."""
        model = deterministic_model(
            obs,
            act,
            device="cpu",
            hiddens=16,
            hidden_activation="elu",
            output_shape=7,
            output_activation="sigmoid",
            output_scale=2.5,
        )
        assert [type(m) for m in model.net_container] == [nn.Linear, nn.ELU, nn.Linear]
        x = torch.randn(3, 5)
        torch.testing.assert_close(model.compute({"states": x})[0], 2.5 * torch.sigmoid(model.net_container(x)))
        assert model.compute({"states": x})[0].shape == (3, 7)

    def test_positional_legacy_order(self, obs, act):
        """Legacy keywords also work positionally in skrl 1.x's order after the mixin parameters."""
        model = gaussian_model(
            obs, act, "cpu", False, True, -20, 2, Shape.STATES, [32], ["tanh"], Shape.ACTIONS, None, 1.0
        )
        assert [type(m) for m in model.net_container] == [nn.Linear, nn.Tanh, nn.Linear]
        x = torch.randn(2, 5)
        torch.testing.assert_close(model.compute({"states": x})[0], model.net_container(x))
        critic = deterministic_model(obs, act, "cpu", False, Shape.STATES_ACTIONS, [8], ["relu"], Shape.ONE, None)
        assert linear_shapes(critic) == [(8, 8), (8, 1)]

    @pytest.mark.parametrize(
        "function",
        [categorical_model, multicategorical_model, deterministic_model, gaussian_model, multivariate_gaussian_model],
    )
    def test_unknown_keyword_is_a_type_error(self, function):
        """Every instantiator rejects keywords it does not know (skrl turns them into a definition)."""
        with pytest.raises(TypeError, match="hidden_activations"):
            function(4, 2, device="cpu", hidden_activations=["relu"])

    def test_legacy_use_logs_at_debug_level_only(self, obs, act, caplog):
        """Legacy calls log one DEBUG record each (nothing at INFO); definition-style and default calls log nothing."""
        with caplog.at_level(logging.INFO, logger="mixrl"):
            gaussian_model(obs, act, device="cpu", hiddens=[8])
        assert not caplog.records
        with caplog.at_level(logging.DEBUG, logger="mixrl"):
            gaussian_model(obs, act, device="cpu")
            gaussian_model(
                obs, act, device="cpu", network=[{"name": "n", "input": "STATES", "layers": [4]}], output="ACTIONS"
            )
            assert not caplog.records
            gaussian_model(obs, act, device="cpu", hiddens=[8])
            deterministic_model(obs, act, device="cpu", hiddens=[8])
        assert [record.levelno for record in caplog.records] == [logging.DEBUG] * 2
