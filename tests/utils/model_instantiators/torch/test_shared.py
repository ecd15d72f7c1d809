"""shared_model: roles, heads, trunk reuse."""

import logging

import gymnasium
import pytest
import torch

from mixrl.utils.model_instantiators.torch import Shape, shared_model

from .conftest import copy_into, linear_shapes

nn = torch.nn
TRUNK = [{"name": "net", "input": "STATES", "layers": [16, 8], "activations": "relu"}]
PPO = [{"network": TRUNK, "output": "ACTIONS"}, {"output": "ONE"}]


def count_trunk_calls(model) -> list:
    calls = []
    model.net_container.register_forward_hook(lambda *_: calls.append(1))
    return calls


class TestRoles:
    @pytest.fixture
    def model(self, obs, act):
        return shared_model(obs, act, device="cpu", roles=["policy", "value"], parameters=PPO)

    def test_heads_are_role_layers_on_the_trunk(self, model):
        """State dict: net_container.{0,2}, policy_layer, value_layer, log_std_parameter (skrl 1.4 names)."""
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
            "net_container.0.weight": (16, 5),
            "net_container.0.bias": (16,),
            "net_container.2.weight": (8, 16),
            "net_container.2.bias": (8,),
            "policy_layer.weight": (3, 8),
            "policy_layer.bias": (3,),
            "log_std_parameter": (3,),
            "value_layer.weight": (1, 8),
            "value_layer.bias": (1,),
        }

    def test_act_dispatches_by_role_like_a_hand_built_network(self, model):
        """role='policy' -> Gaussian (actions, log_prob, mean_actions); role='value' -> (N, 1) values and None."""
        trunk = copy_into(nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU()), model.net_container)
        states = torch.randn(6, 5)
        actions, log_prob, outputs = model.act({"states": states}, role="policy")
        assert actions.shape == (6, 3) and log_prob.shape == (6, 1)
        torch.testing.assert_close(outputs["mean_actions"], model.policy_layer(trunk(states)))
        values, none, _ = model.act({"states": states}, role="value")
        torch.testing.assert_close(values, model.value_layer(trunk(states)))
        assert none is None

    def test_unknown_role_is_a_value_error(self, model):
        """skrl returns None for an unknown role."""
        with pytest.raises(ValueError, match="unknown role 'critic'"):
            model.act({"states": torch.randn(1, 5)}, role="critic")
        with pytest.raises(ValueError, match="unknown role 'critic'"):
            model.compute({"states": torch.randn(1, 5)}, role="critic")

    def test_entropy_and_init_state_dict_for_all_roles(self, model):
        """PPO accessors work; init_state_dict initialises every role and changes nothing."""
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.init_state_dict("policy")
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        model.act({"states": torch.randn(2, 5)}, role="policy")
        assert model.get_entropy(role="policy").shape == (2, 3)


class TestSingleForwardPass:
    def test_value_after_policy_on_the_same_states_reuses_the_trunk(self, obs, act):
        """Producer roles[0] computes, the next role on the same tensor reuses: one trunk call."""
        model = shared_model(obs, act, device="cpu", roles=["policy", "value"], parameters=PPO)
        calls, states = count_trunk_calls(model), torch.randn(4, 5)
        model.act({"states": states}, role="policy")
        values = model.act({"states": states}, role="value")[0]
        assert len(calls) == 1
        torch.testing.assert_close(values, model.value_layer(model.net_container(states)))
        model.act({"states": torch.randn(4, 5)}, role="value")
        assert len(calls) == 3  # other states: recomputed (the check itself called the trunk once)

    def test_value_first_works(self, obs, act):
        """No cache yet: the consumer computes the trunk itself (skrl raises AttributeError)."""
        model = shared_model(obs, act, device="cpu", roles=["policy", "value"], parameters=PPO)
        assert model.act({"states": torch.randn(2, 5)}, role="value")[0].shape == (2, 1)

    def test_disabled_recomputes_the_trunk(self, obs, act):
        """single_forward_pass=False: every role runs the trunk."""
        model = shared_model(
            obs, act, device="cpu", roles=["policy", "value"], parameters=PPO, single_forward_pass=False
        )
        calls, states = count_trunk_calls(model), torch.randn(4, 5)
        model.act({"states": states}, role="policy")
        model.act({"states": states}, role="value")
        assert len(calls) == 2

    def test_trunk_reading_actions_turns_caching_off(self, obs, act, caplog):
        """The cache keys on states only, so a trunk reading ACTIONS is never cached (with a warning)."""
        parameters = [{"network": [{"name": "net", "input": "STATES_ACTIONS", "layers": [4]}], "output": "ONE"}, {}]
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model = shared_model(
                obs, act, device="cpu", structure=["DeterministicMixin"] * 2, roles=["q1", "q2"], parameters=parameters
            )
        assert "single_forward_pass is off" in caplog.text
        calls, inputs = count_trunk_calls(model), {"states": torch.randn(2, 5), "taken_actions": torch.randn(2, 3)}
        model.act(inputs, role="q1")
        model.act(inputs, role="q2")
        assert len(calls) == 2


class TestStructure:
    def test_three_roles_and_two_mixins_of_one_type(self, obs):
        """N >= 2 roles; two Deterministic roles keep their own settings (clip_actions on one only)."""
        act = gymnasium.spaces.Box(-0.1, 0.1, (2,))
        parameters = [
            {"network": TRUNK, "output": "5 * ACTIONS"},
            {"output": "ONE"},
            {"output": "5 * ACTIONS", "clip_actions": True},
        ]
        model = shared_model(
            obs,
            act,
            device="cpu",
            structure="gaussianmixin, DeterministicMixin, deterministicmixin",
            roles=["policy", "value", "target"],
            parameters=parameters,
        )
        assert [name for name, _ in model.named_children()] == [
            "net_container",
            "policy_layer",
            "value_layer",
            "target_layer",
        ]
        states = torch.randn(32, 5) * 10
        assert model.act({"states": states}, role="value")[0].shape == (32, 1)
        assert model.act({"states": states}, role="target")[0].abs().max() <= 0.1
        model.target_layer.load_state_dict(model.policy_layer.state_dict())
        assert model.compute({"states": states}, "target")[0].abs().max() > 0.1  # unclipped compute

    def test_default_structure_is_gaussian_then_deterministic(self, obs, act):
        """structure '' (skrl 1.x's string type) is the default pair."""
        model = shared_model(obs, act, device="cpu", structure="", roles=["policy", "value"], parameters=PPO)
        assert [cls.__name__ for cls in type(model).__mro__[:2]] == ["SharedModel", "GaussianMixin"]

    def test_categorical_policy_with_legacy_parameters(self, obs):
        """Legacy: trunk = hiddens of parameters[0] with activations; heads sized by each output_shape."""
        model = shared_model(
            obs,
            gymnasium.spaces.Discrete(4),
            device="cpu",
            structure=["CategoricalMixin", "DeterministicMixin"],
            roles=["policy", "value"],
            parameters=[
                {"hiddens": [32, 16], "hidden_activation": "tanh"},
                {"output_shape": Shape.ONE, "output_activation": None, "output_scale": 3},
            ],
        )
        assert [type(m) for m in model.net_container] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]
        assert linear_shapes(model) == [(5, 32), (32, 16), (16, 4), (16, 1)]
        states = torch.randn(3, 5)
        torch.testing.assert_close(
            model.compute({"states": states}, "value")[0], 3 * model.value_layer(model.net_container(states))
        )
        torch.testing.assert_close(
            model.compute({"states": states}, "policy")[0], model.policy_layer(model.net_container(states))
        )

    def test_legacy_value_role_keeps_the_tanh_default(self, obs, act):
        """Legacy defaults per role: a Deterministic head without output_activation gets tanh (legacy default)."""
        model = shared_model(
            obs,
            act,
            device="cpu",
            roles=["policy", "value"],
            parameters=[{"hiddens": [8]}, {"output_shape": Shape.ONE}],
        )
        states = torch.randn(3, 5)
        torch.testing.assert_close(
            model.compute({"states": states}, "value")[0], torch.tanh(model.value_layer(model.net_container(states)))
        )

    def test_output_without_token_reads_the_trunk(self, obs, act):
        """A role with output "" uses the last container directly (no <role>_layer)."""
        parameters = [
            {"network": TRUNK + [{"name": "v", "input": "net", "layers": [1]}], "output": "ACTIONS"},
            {"output": ""},
        ]
        model = shared_model(obs, act, device="cpu", roles=["policy", "value"], parameters=parameters)
        assert not hasattr(model, "value_layer") and linear_shapes(model.policy_layer) == [(1, 3)]

    def test_other_role_network_logs_a_warning(self, obs, act, caplog):
        """The trunk comes from parameters[0]; a different network elsewhere is reported, not used."""
        other = [{"name": "net", "input": "STATES", "layers": [4]}]
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model = shared_model(
                obs,
                act,
                device="cpu",
                roles=["policy", "value"],
                parameters=[PPO[0], {"network": other, "output": "ONE"}],
            )
        assert "role 'value' describes its own trunk" in caplog.text
        assert linear_shapes(model.net_container) == [(5, 16), (16, 8)]

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"roles": ["policy"], "parameters": PPO}, ValueError, "as many structure entries"),
            ({"roles": ["policy", "value"], "parameters": PPO[:1]}, ValueError, "as many structure entries"),
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
            ({"roles": ["policy", "value-fn"], "parameters": PPO}, ValueError, "unique Python identifier"),
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
            shared_model(obs, act, device="cpu", **kwargs)
