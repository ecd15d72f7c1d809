"""The legacy ``hiddens`` style (JAX) keeps the legacy-era defaults."""

import inspect

import numpy as np
import pytest

from mixrl.utils.model_instantiators import _description
from mixrl.utils.model_instantiators.jax import (
    Shape,
    categorical_model,
    deterministic_model,
    gaussian_model,
    multicategorical_model,
    multivariate_gaussian_model,
)

from .conftest import close, dense, params, random_inputs, relu, shapes


def mlp_shapes(*widths: int) -> dict[str, tuple]:
    """Expected ``net_container`` shapes of Dense layers ``widths[0] -> widths[1] -> ...``, entries 0, 2, 4, ..."""
    expected = {}
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:], strict=False)):
        expected |= {f"layers_{2 * i}/kernel": (n_in, n_out), f"layers_{2 * i}/bias": (n_out,)}
    return expected


class TestLegacyDefaults:
    def test_no_description_builds_two_256_relu_layers_and_a_tanh_output(self, obs, act):
        """gaussian_model(obs, act): Dense 5-256, relu, 256-256, relu, 256-3; mean = tanh(net); params exist at once."""
        model = gaussian_model(obs, act)
        p = params(model)
        assert shapes(p["net_container"]) == mlp_shapes(5, 256, 256, 3)
        x = random_inputs(7)["states"]
        mean = model.apply(model.state_dict.params, {"states": x}, "policy")[0]
        hidden = relu(dense(relu(dense(x, p["net_container"]["layers_0"])), p["net_container"]["layers_2"]))
        expected = np.tanh(dense(hidden, p["net_container"]["layers_4"]))
        close(mean, expected)
        np.testing.assert_array_equal(p["log_std_parameter"], np.zeros(3))

    def test_hiddens_alone_keeps_relu_and_tanh(self, obs, act):
        """Only hiddens=[8, 8]: still relu hidden activations and a tanh output (skrl builds a linear network)."""
        model = gaussian_model(obs, act, hiddens=[8, 8])
        p = params(model)
        assert shapes(p) == {
            "log_std_parameter": (3,),
            **{f"net_container/{k}": v for k, v in mlp_shapes(5, 8, 8, 3).items()},
        }
        x = random_inputs()["states"]
        mean, log_std, outputs = model.apply(model.state_dict.params, {"states": x}, "policy")
        net = p["net_container"]
        expected = np.tanh(dense(relu(dense(relu(dense(x, net["layers_0"])), net["layers_2"])), net["layers_4"]))
        close(mean, expected)
        assert log_std.shape == (3,) and outputs == {}

    def test_categorical_default_has_no_output_activation(self):
        """Categorical outputs raw logits (legacy default output_activation=None) and unnormalized_log_prob=True."""
        model = categorical_model(5, 3, hiddens=8)
        assert inspect.signature(categorical_model).parameters["unnormalized_log_prob"].default is True
        x = random_inputs()["states"]
        net = params(model)["net_container"]
        logits = model.apply(model.state_dict.params, {"states": x}, "policy")[0]
        close(logits, dense(relu(dense(x, net["layers_0"])), net["layers_2"]))

    def test_signatures_show_the_legacy_defaults(self):
        """help() shows the legacy default values, as for torch."""
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
            input_shape=Shape.STATES_ACTIONS,
            hiddens=[8, 8],
            hidden_activation=["relu", "relu"],
            output_shape=Shape.ONE,
            output_activation=None,
        )
        net = params(critic)["net_container"]
        assert shapes(net) == mlp_shapes(8, 8, 8, 1)
        inputs = random_inputs()
        values, none, _ = critic.act(inputs, role="critic_1")
        x = np.concatenate([inputs["states"], inputs["taken_actions"]], axis=1)
        expected = dense(relu(dense(relu(dense(x, net["layers_0"])), net["layers_2"])), net["layers_4"])
        close(values, expected)
        assert none is None

    def test_output_scale_int_output_shape_and_single_activation_string(self, obs, act):
        """output_scale multiplies the activated output; an int output_shape is used as-is."""
        model = deterministic_model(
            obs, act, hiddens=8, hidden_activation="elu", output_shape=7, output_activation="sigmoid", output_scale=2.5
        )
        net = params(model)["net_container"]
        assert shapes(net) == mlp_shapes(5, 8, 7)
        x = random_inputs()["states"]
        hidden = dense(x, net["layers_0"])
        hidden = np.where(hidden > 0, hidden, np.expm1(hidden))  # elu
        expected = 2.5 / (1 + np.exp(-dense(hidden, net["layers_2"])))
        close(model.apply(model.state_dict.params, {"states": x})[0], expected)

    def test_positional_legacy_order(self, obs, act):
        """Legacy keywords also work positionally in skrl 1.x's order after the mixin parameters."""
        model = gaussian_model(
            obs, act, None, False, True, -20, 2, Shape.STATES, [8], ["tanh"], Shape.ACTIONS, None, 1.0
        )
        assert shapes(params(model)["net_container"]) == mlp_shapes(5, 8, 3)
        critic = deterministic_model(obs, act, None, False, Shape.STATES_ACTIONS, [8], ["relu"], Shape.ONE, None)
        assert shapes(params(critic)["net_container"]) == mlp_shapes(8, 8, 1)

    @pytest.mark.parametrize(
        "function",
        [categorical_model, multicategorical_model, deterministic_model, gaussian_model, multivariate_gaussian_model],
    )
    def test_unknown_keyword_is_a_type_error(self, function):
        """Every instantiator rejects keywords it does not know (skrl turns them into a definition)."""
        with pytest.raises(TypeError, match="hidden_activations"):
            function(4, 2, hidden_activations=["relu"])

    def test_empty_hiddens_is_a_linear_policy(self, obs, act):
        """hiddens=[]: the head alone, Dense(5 -> 3), then the legacy default tanh."""
        model = gaussian_model(obs, act, hiddens=[])
        net = params(model)["net_container"]
        assert shapes(net) == mlp_shapes(5, 3)
        x = random_inputs()["states"]
        close(model.apply(model.state_dict.params, {"states": x})[0], np.tanh(dense(x, net["layers_0"])))
