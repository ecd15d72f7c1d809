"""shared_model (JAX): roles, heads, one trunk per call."""

import logging

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.utils.model_instantiators.jax import Shape, shared_model

from .conftest import close, dense, params, random_inputs, relu, shapes

TRUNK = [{"name": "net", "input": "STATES", "layers": [8, 8], "activations": "relu"}]
PPO = [{"network": TRUNK, "output": "ACTIONS"}, {"output": "ONE"}]


def module_calls(model, role: str) -> list[str]:
    """Names of the containers and heads whose ``__call__`` runs in one ``apply`` for ``role`` (traced only)."""
    calls = []

    def count(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and str(context.module.name).endswith(("_container", "_layer")):
            calls.append(context.module.name)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(count):
        jax.eval_shape(lambda p: model.apply(p, {"states": jnp.ones((2, 5))}, role), model.state_dict.params)
    return calls


@pytest.fixture(scope="module")
def model():
    return shared_model(
        gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,)), roles=["policy", "value"], parameters=PPO
    )


class TestRoles:
    def test_heads_are_role_layers_on_the_trunk(self, model):
        """Parameters: net_container/layers_{0,2}, policy_layer, value_layer, log_std_parameter (skrl 1.4 names)."""
        assert shapes(params(model)) == {
            "log_std_parameter": (3,),
            "net_container/layers_0/bias": (8,),
            "net_container/layers_0/kernel": (5, 8),
            "net_container/layers_2/bias": (8,),
            "net_container/layers_2/kernel": (8, 8),
            "policy_layer/bias": (3,),
            "policy_layer/kernel": (8, 3),
            "value_layer/bias": (1,),
            "value_layer/kernel": (8, 1),
        }

    def test_act_dispatches_by_role_like_a_numpy_network(self, model):
        """role='policy' -> Gaussian (actions, log_prob, mean_actions); role='value' -> (N, 1) values and None."""
        p, states = params(model), random_inputs(6)["states"]
        trunk = relu(dense(relu(dense(states, p["net_container"]["layers_0"])), p["net_container"]["layers_2"]))
        actions, log_prob, outputs = model.act({"states": states}, role="policy")
        assert actions.shape == (6, 3) and log_prob.shape == (6, 1)
        close(outputs["mean_actions"], dense(trunk, p["policy_layer"]))
        values, none, _ = model.act({"states": states}, role="value")
        close(values, dense(trunk, p["value_layer"]))
        assert none is None

    def test_one_trunk_and_only_the_called_head_per_call(self, model):
        """JAX has no cache across calls: each apply runs the trunk once, then its own head only."""
        assert module_calls(model, "policy") == ["net_container", "policy_layer"]
        assert module_calls(model, "value") == ["net_container", "value_layer"]

    def test_unknown_role_is_a_value_error(self, model):
        """skrl returns None for an unknown role."""
        with pytest.raises(ValueError, match="unknown role 'critic'"):
            model.act({"states": jnp.ones((1, 5))}, role="critic")
        with pytest.raises(ValueError, match="unknown role 'critic'"):
            model.apply(model.state_dict.params, {"states": jnp.ones((1, 5))}, "critic")

    def test_init_state_dict_covers_every_role_and_is_harmless(self, model):
        """Built initialised for all roles; a runner's init_state_dict(role) per role changes nothing."""
        before = model.state_dict.params
        for role in ("policy", "value"):
            model.init_state_dict(role)
        assert model.state_dict.params is before
        _, _, outputs = model.act({"states": jnp.ones((2, 5))}, role="policy")
        assert model.get_entropy(outputs["stddev"], role="policy").shape == (2, 3)

    def test_single_forward_pass_false_builds_the_same_model(self, obs, act):
        """single_forward_pass is recorded in the description; parameters and outputs are those of the default."""
        model = shared_model(obs, act, roles=["policy", "value"], parameters=PPO, single_forward_pass=False)
        assert model.description["single_forward_pass"] is False
        assert module_calls(model, "value") == ["net_container", "value_layer"]


class TestStructure:
    def test_three_roles_and_two_mixins_of_one_type(self, obs):
        """N >= 2 roles; two Deterministic roles keep their own settings (clip_actions on one only)."""
        act = gymnasium.spaces.Box(-0.1, 0.1, (3,))
        parameters = [
            {"network": TRUNK, "output": "5 * ACTIONS"},
            {"output": "ONE"},
            {"output": "5 * ACTIONS", "clip_actions": True},
        ]
        model = shared_model(
            obs,
            act,
            structure="gaussianmixin, DeterministicMixin, deterministicmixin",
            roles=["policy", "value", "target"],
            parameters=parameters,
        )
        assert sorted(params(model)) == [
            "log_std_parameter",
            "net_container",
            "policy_layer",
            "target_layer",
            "value_layer",
        ]
        states = random_inputs(8)["states"] * 10
        assert model.apply(model.state_dict.params, {"states": states}, "value")[0].shape == (8, 1)
        assert np.abs(model.act({"states": states}, role="target")[0]).max() <= 0.1 + 1e-7
        assert np.abs(model.apply(model.state_dict.params, {"states": states}, "target")[0]).max() > 0.1

    def test_default_structure_is_gaussian_then_deterministic(self, obs, act):
        """structure '' (skrl 1.x's string type) is the default pair."""
        model = shared_model(obs, act, structure="", roles=["policy", "value"], parameters=PPO, return_source=True)
        assert "class SharedModel(GaussianMixin, DeterministicMixin, Model):" in model

    def test_categorical_policy_with_legacy_parameters(self, obs):
        """Legacy: trunk = hiddens of parameters[0] with activations; heads sized by each output_shape."""
        model = shared_model(
            obs,
            gymnasium.spaces.Discrete(3),
            structure=["CategoricalMixin", "DeterministicMixin"],
            roles=["policy", "value"],
            parameters=[
                {"hiddens": [8, 8], "hidden_activation": "tanh"},
                {"output_shape": Shape.ONE, "output_activation": None, "output_scale": 3},
            ],
        )
        p, states = params(model), random_inputs()["states"]
        trunk = np.tanh(dense(np.tanh(dense(states, p["net_container"]["layers_0"])), p["net_container"]["layers_2"]))
        variables = model.state_dict.params
        close(model.apply(variables, {"states": states}, "value")[0], 3 * dense(trunk, p["value_layer"]))
        close(model.apply(variables, {"states": states}, "policy")[0], dense(trunk, p["policy_layer"]))

    def test_legacy_value_role_keeps_the_tanh_default(self, obs, act):
        """Legacy defaults per role: a Deterministic head without output_activation gets tanh (legacy default)."""
        model = shared_model(
            obs, act, roles=["policy", "value"], parameters=[{"hiddens": [8]}, {"output_shape": Shape.ONE}]
        )
        p, states = params(model), random_inputs()["states"]
        expected = np.tanh(dense(relu(dense(states, p["net_container"]["layers_0"])), p["value_layer"]))
        close(model.apply(model.state_dict.params, {"states": states}, "value")[0], expected)

    def test_output_without_token_reads_the_trunk(self, obs, act):
        """A role with output "" uses the last container directly (no <role>_layer)."""
        parameters = [
            {"network": TRUNK + [{"name": "v", "input": "net", "layers": [1]}], "output": "ACTIONS"},
            {"output": ""},
        ]
        model = shared_model(obs, act, roles=["policy", "value"], parameters=parameters)
        assert "value_layer" not in params(model) and params(model)["policy_layer"]["kernel"].shape == (1, 3)

    def test_other_role_network_logs_a_warning(self, obs, act, caplog):
        """The trunk comes from parameters[0]; a different network elsewhere is reported, not used."""
        other = [{"name": "net", "input": "STATES", "layers": [4]}]
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            source = shared_model(
                obs,
                act,
                roles=["policy", "value"],
                parameters=[PPO[0], {"network": other, "output": "ONE"}],
                return_source=True,
            )
        assert "role 'value' describes its own trunk" in caplog.text
        assert "nn.Dense(features=4" not in source

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"roles": ["policy"], "parameters": PPO}, ValueError, "as many structure entries"),
            ({"structure": ["GaussianMixin"], "roles": ["policy"], "parameters": PPO[:1]}, ValueError, "at least 2"),
            (
                {"structure": ["GaussianMixin", "MultivariateGaussianMixin"], "roles": ["a", "b"], "parameters": PPO},
                ValueError,
                "one Gaussian-type role",
            ),
            (
                {"structure": ["GaussianMixin", "BetaMixin"], "roles": ["a", "b"], "parameters": PPO},
                ValueError,
                "unknown mixin 'BetaMixin'",
            ),
            ({"roles": ["policy", "policy"], "parameters": PPO}, ValueError, "unique Python identifier"),
            (
                {"roles": ["policy", "value"], "parameters": [PPO[0], {"output": "ONE", "reduction": "sum"}]},
                TypeError,
                r"unknown keys \['reduction'\]",
            ),
            (
                {"roles": ["policy", "value"], "parameters": [{**PPO[0], "hiddens": [4]}, {}]},
                TypeError,
                "mixes network/output",
            ),
        ],
    )
    def test_invalid_configurations(self, obs, act, kwargs, error, match):
        """Mismatched lengths, unknown mixins/keys, duplicate roles and two Gaussian roles are refused."""
        with pytest.raises(error, match=match):
            shared_model(obs, act, **kwargs)
