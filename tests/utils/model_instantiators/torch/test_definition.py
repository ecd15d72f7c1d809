"""The definition style builds eager, skrl-named, correct networks."""

import copy
import pickle

import gymnasium
import pytest
import torch

from mixrl.utils.model_instantiators.torch import (
    _ops,
    categorical_model,
    deterministic_model,
    gaussian_model,
    multicategorical_model,
    multivariate_gaussian_model,
    one_hot_encoding,
)

from .conftest import copy_into, linear_shapes

nn = torch.nn
Box, Dict, Discrete, MultiDiscrete, Tuple = (
    getattr(gymnasium.spaces, n) for n in ("Box", "Dict", "Discrete", "MultiDiscrete", "Tuple")
)

CNN = [
    {
        "name": "features",
        "input": "permute(STATES, (0, 3, 1, 2))",
        "layers": [{"conv2d": {"out_channels": 32, "kernel_size": 8, "stride": 4}}, {"conv2d": [64, 4, 2]}, "flatten"],
        "activations": "relu",
    },
    {
        "name": "net",
        "input": "concatenate([features, ACTIONS])",
        "layers": [256, {"linear": 128}],
        "activations": ["elu", "elu"],
    },
]


def mlp(name, input, layers, activations=None):
    return [{"name": name, "input": input, "layers": layers, "activations": activations}]


class TestCnnExample:
    """The definition-style critic example (conv2d features + actions) on 64x64x3 images."""

    @pytest.fixture
    def critic(self):
        torch.manual_seed(0)
        return deterministic_model(Box(0, 1, (64, 64, 3)), Box(-1, 1, (2,)), device="cpu", network=CNN, output="ONE")

    def test_parameter_names_and_shapes_follow_skrl(self, critic):
        """Conv sizes: 64 -> (64-8)/4+1 = 15 -> (15-4)/2+1 = 6, so 64*6*6 + 2 actions = 2306 inputs to net."""
        assert {k: tuple(v.shape) for k, v in critic.state_dict().items()} == {
            "features_container.0.weight": (32, 3, 8, 8),
            "features_container.0.bias": (32,),
            "features_container.2.weight": (64, 32, 4, 4),
            "features_container.2.bias": (64,),
            "net_container.0.weight": (256, 2306),
            "net_container.0.bias": (256,),
            "net_container.2.weight": (128, 256),
            "net_container.2.bias": (128,),
            "net_container.4.weight": (1, 128),
            "net_container.4.bias": (1,),
        }

    def test_runs_on_flat_inputs_like_a_hand_built_network(self, critic):
        """(N, 64*64*3) flat states are reshaped to NHWC, permuted to NCHW, and match a hand-built copy."""
        features = copy_into(
            nn.Sequential(nn.Conv2d(3, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(), nn.Flatten()),
            critic.features_container,
        )
        net = copy_into(
            nn.Sequential(nn.Linear(2306, 256), nn.ELU(), nn.Linear(256, 128), nn.ELU(), nn.Linear(128, 1)),
            critic.net_container,
        )
        images, actions = torch.rand(5, 64, 64, 3), torch.rand(5, 2)
        values, _, _ = critic.act({"states": images.reshape(5, -1), "taken_actions": actions})
        expected = net(torch.cat([features(images.permute(0, 3, 1, 2)), actions], dim=1))
        torch.testing.assert_close(values, expected)

    def test_parameters_are_materialised_at_construction(self, critic):
        """No lazy modules: an optimizer step works at once and init_state_dict changes nothing."""
        assert not any(isinstance(p, nn.parameter.UninitializedParameter) for p in critic.parameters())
        before = {k: v.clone() for k, v in critic.state_dict().items()}
        critic.init_state_dict("critic")
        assert all(torch.equal(before[k], v) for k, v in critic.state_dict().items())
        optimizer = torch.optim.Adam(critic.parameters(), lr=0.1)
        loss = critic.act({"states": torch.rand(2, 64 * 64 * 3), "taken_actions": torch.rand(2, 2)})[0].sum()
        loss.backward()
        optimizer.step()
        assert not torch.equal(before["net_container.4.weight"], critic.state_dict()["net_container.4.weight"])

    def test_deepcopy_and_pickle_keep_working_models(self, critic):
        """Copies own their modules (no closure keeps the original's layers)."""
        x = {"states": torch.rand(2, 64 * 64 * 3), "taken_actions": torch.rand(2, 2)}
        for clone in (copy.deepcopy(critic), pickle.loads(pickle.dumps(critic))):
            with torch.no_grad():
                clone.net_container[4].bias.add_(1.0)
            torch.testing.assert_close(clone.act(x)[0], critic.act(x)[0] + 1.0)


class TestLayersAndActivations:
    def test_tokens_as_out_features_and_explicit_in_features(self, obs, act):
        """out_features tokens resolve against the spaces; a correct in_features is accepted."""
        layers = [
            {"linear": {"out_features": "STATES_ACTIONS", "in_features": 5}},
            {"linear": "ACTIONS"},
            {"linear": "ONE"},
        ]
        model = deterministic_model(obs, act, device="cpu", network=mlp("n", "STATES", layers))
        assert linear_shapes(model) == [(5, 8), (8, 3), (3, 1)]

    def test_bias_and_jax_key_names(self, obs, act):
        """features/use_bias are the torch out_features/bias."""
        model = deterministic_model(
            obs, act, device="cpu", network=mlp("n", "STATES", [{"linear": {"features": 4, "use_bias": False}}])
        )
        assert model.n_container[0].bias is None and model.n_container[0].out_features == 4

    def test_activation_modules_sit_between_layers(self, obs, act):
        """Per-layer list with '' skips; a single name is applied after every layer but flatten."""
        model = deterministic_model(
            obs,
            act,
            device="cpu",
            output="ACTIONS",
            network=[
                {"name": "a", "input": "STATES", "layers": [8, 8, 8], "activations": ["leaky_relu", "", "softsign"]},
                {"name": "b", "input": "a", "layers": [8, "flatten"], "activations": "selu"},
            ],
        )
        assert [type(m) for m in model.a_container] == [nn.Linear, nn.LeakyReLU, nn.Linear, nn.Linear, nn.Softsign]
        assert [type(m) for m in model.b_container] == [nn.Linear, nn.SELU, nn.Flatten, nn.Linear]

    def test_softmax_runs_over_the_last_axis(self, obs, act):
        """softmax activations normalise each row."""
        model = deterministic_model(obs, act, device="cpu", network=mlp("n", "STATES", [3], "softmax"))
        rows = model.compute({"states": torch.randn(4, 5)})[0].sum(dim=-1)
        torch.testing.assert_close(rows, torch.ones(4))


class TestInputs:
    def test_slicing_arithmetic_and_aliases(self, obs, act):
        """STATES[:, 2:5], OBSERVATIONS, Shape.ACTIONS, unary minus and constants evaluate as written."""
        model = deterministic_model(
            obs,
            act,
            device="cpu",
            output="ONE",
            network=mlp("n", "concatenate([2 * OBSERVATIONS[:, 2:5] - 1, -Shape.ACTIONS / 4])", [6]),
        )
        states, actions = torch.randn(3, 5), torch.randn(3, 3)
        n = model.n_container
        expected = n(torch.cat([2 * states[:, 2:5] - 1, -actions / 4], dim=1))
        torch.testing.assert_close(model.compute({"states": states, "taken_actions": actions})[0], expected)

    def test_dict_space_key_indexing_keeps_keys_that_contain_a_token(self, act):
        """A Dict key "STATES_vel" survives (skrl's text replacement corrupts it); keys follow sorted order."""
        space = Dict({"pos": Box(-1, 1, (2,)), "STATES_vel": Box(-1, 1, (3,))})
        model = gaussian_model(
            space,
            act,
            device="cpu",
            output="ACTIONS",
            network=mlp("n", "concatenate([STATES['pos'], STATES['STATES_vel']])", [8], "tanh"),
        )
        flat = torch.randn(4, 5)  # sorted keys: STATES_vel (3) then pos (2)
        hidden = torch.tanh(model.n_container[0](torch.cat([flat[:, 3:], flat[:, :3]], dim=1)))
        torch.testing.assert_close(model.compute({"states": flat})[0], model.n_container[2](hidden))

    def test_tuple_space_indexing_and_one_hot_of_a_sub_space(self, act):
        """STATES[0] is the Box part; one_hot_encoding(OBSERVATION_SPACE[1], STATES[1]) encodes the Discrete part."""
        space = Tuple((Box(-1, 1, (2,)), Discrete(3, start=1)))
        model = deterministic_model(
            space,
            act,
            device="cpu",
            output="ACTIONS",
            network=mlp("n", "concatenate([STATES[0], one_hot_encoding(OBSERVATION_SPACE[1], STATES[1])])", []),
        )
        assert linear_shapes(model) == [(5, 3)]
        flat = torch.tensor([[0.5, -0.5, 3.0]])  # Discrete value 3 with start 1 -> class 2
        expected = model.n_container(torch.tensor([[0.5, -0.5, 0.0, 0.0, 1.0]]))
        torch.testing.assert_close(model.compute({"states": flat})[0], expected)

    def test_discrete_observations_through_one_hot(self):
        """The usual Discrete-observation policy: one_hot_encoding(STATE_SPACE, STATES)."""
        model = categorical_model(
            Discrete(4),
            Discrete(2),
            device="cpu",
            output="ACTIONS",
            network=mlp("n", "one_hot_encoding(STATE_SPACE, STATES)", [8], "relu"),
        )
        assert linear_shapes(model) == [(4, 8), (8, 2)]
        actions, log_prob, _ = model.act({"states": torch.tensor([[0], [3]])})
        assert actions.shape == (2, 1) and log_prob.shape == (2, 1)

    def test_plain_box_states_are_not_unflattened(self, obs, act, monkeypatch):
        """Hot path: a 1-D Box input is passed through as is (no unflatten call)."""
        model = deterministic_model(obs, act, device="cpu", network=mlp("n", "STATES", [4]), output="ACTIONS")
        monkeypatch.setattr(_ops, "unflatten_tensorized_space", None)
        states = torch.randn(2, 5)
        assert model._plan.readers[0][1]({"states": states}) is states
        model.compute({"states": states})

    def test_missing_input_is_named(self, obs, act):
        """A network that reads ACTIONS says so when taken_actions is absent."""
        model = deterministic_model(obs, act, device="cpu", network=mlp("n", "ACTIONS", [4]), output="ONE")
        with pytest.raises(ValueError, match="taken_actions"):
            model.compute({"states": torch.randn(1, 5)})


class TestOneHotEncoding:
    def test_discrete_with_start(self):
        """Discrete(4, start=2): value 3 is class 1; float32 (N, 4)."""
        out = one_hot_encoding(Discrete(4, start=2), torch.tensor([[3], [2], [5]]))
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, torch.eye(4)[[1, 0, 3]])

    def test_multidiscrete_concatenates_one_hots(self):
        """MultiDiscrete([3, 2]) with values (2, 0): [0 0 1 | 1 0]."""
        out = one_hot_encoding(MultiDiscrete([3, 2]), torch.tensor([[2, 0], [0, 1]]))
        torch.testing.assert_close(out, torch.tensor([[0.0, 0, 1, 1, 0], [1, 0, 0, 0, 1]]))
        reference = torch.cat(
            [nn.functional.one_hot(torch.tensor([2, 0]), 3), nn.functional.one_hot(torch.tensor([0, 1]), 2)], 1
        )
        torch.testing.assert_close(out, reference.float())

    def test_other_spaces_are_refused(self):
        """Box is not categorical."""
        with pytest.raises(ValueError, match="Discrete or MultiDiscrete"):
            one_hot_encoding(Box(0, 1, (2,)), torch.zeros(1, 2))


class TestOutputs:
    def test_activation_call_with_a_scale(self, obs, act):
        """2 * tanh(ACTIONS): the ACTIONS layer is the last module of the last container."""
        model = gaussian_model(
            obs, act, device="cpu", network=mlp("n", "STATES", [16], "relu"), output="2 * tanh(ACTIONS)"
        )
        assert linear_shapes(model.n_container) == [(5, 16), (16, 3)]
        x = torch.randn(3, 5)
        torch.testing.assert_close(model.compute({"states": x})[0], 2 * torch.tanh(model.n_container(x)))

    def test_container_names_and_concatenate(self, obs, act):
        """An output combining containers without a token adds no layer."""
        network = mlp("a", "STATES", [2]) + mlp("b", "STATES", [1])
        model = deterministic_model(obs, act, device="cpu", network=network, output="concatenate([a, b]) * 3")
        x = torch.randn(4, 5)
        expected = torch.cat([model.a_container(x), model.b_container(x)], dim=1) * 3
        torch.testing.assert_close(model.compute({"states": x})[0], expected)
        assert linear_shapes(model) == [(5, 2), (5, 1)]

    def test_multicategorical_and_multivariate_models(self, obs):
        """The two additional mixins act with their action spaces."""
        policy = multicategorical_model(
            obs,
            MultiDiscrete([3, 2]),
            device="cpu",
            network=mlp("n", "STATES", [8]),
            output="ACTIONS",
            reduction="none",
        )
        actions, log_prob, outputs = policy.act({"states": torch.randn(4, 5)})
        assert actions.shape == (4, 2) and log_prob.shape == (4, 2) and outputs["net_output"].shape == (4, 5)
        mvg = multivariate_gaussian_model(obs, Box(-1, 1, (2,)), device="cpu", hiddens=[8])
        actions, log_prob, _ = mvg.act({"states": torch.randn(4, 5)})
        assert actions.shape == (4, 2) and log_prob.shape == (4, 1)

    def test_model_lives_on_its_device(self, obs, act):
        """Built on CPU, then moved: every tensor is on model.device."""
        model = gaussian_model(obs, act, device="cpu", hiddens=[4])
        assert {p.device for p in model.state_dict().values()} == {model.device}
        assert torch.equal(model.log_std_parameter.detach(), torch.zeros(3))
