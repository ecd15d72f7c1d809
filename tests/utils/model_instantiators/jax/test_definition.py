"""The definition style (JAX) builds initialised, skrl-named Flax networks."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mixrl.utils.model_instantiators.jax import (
    categorical_model,
    deterministic_model,
    gaussian_model,
    multicategorical_model,
    multivariate_gaussian_model,
    one_hot_encoding,
)

from .conftest import close, dense, params, random_inputs, relu, shapes

Box, Dict, Discrete, MultiDiscrete, Tuple = (
    getattr(gymnasium.spaces, n) for n in ("Box", "Dict", "Discrete", "MultiDiscrete", "Tuple")
)

# The conv2d critic example for JAX: Flax convolutions read NHWC and flat image states are reshaped to
# (N, 64, 64, 3), so the torch example's ``input: permute(STATES, (0, 3, 1, 2))`` reads ``input: STATES`` here
CNN = [
    {
        "name": "features",
        "input": "STATES",
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
IMAGE, ACT2 = Box(0, 1, (64, 64, 3)), Box(-1, 1, (2,))


def mlp(name, input, layers, activations=None):
    return [{"name": name, "input": input, "layers": layers, "activations": activations}]


def apply(model, inputs, role=""):
    """The network output of ``__call__`` (its first element)."""
    return model.apply(model.state_dict.params, inputs, role)[0]


def conv_valid(x, layer, stride):
    """NumPy NHWC convolution without padding (kernel (kh, kw, in, out), as Flax stores it)."""
    kh, kw = layer["kernel"].shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", windows, layer["kernel"]) + layer["bias"]


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


class TestCnnExample:
    """The definition-style critic example (conv2d features + actions) on 64x64x3 images."""

    @pytest.fixture(scope="class")
    @classmethod
    def critic(cls):
        return deterministic_model(IMAGE, ACT2, network=CNN, output="ONE")

    def test_parameter_names_and_shapes_follow_skrl(self, critic):
        """Conv sizes: 64 -> (64-8)/4+1 = 15 -> (15-4)/2+1 = 6, so 6*6*64 + 2 actions = 2306 inputs to net."""
        assert shapes(critic.state_dict.params) == {
            "params/features_container/layers_0/bias": (32,),
            "params/features_container/layers_0/kernel": (8, 8, 3, 32),
            "params/features_container/layers_2/bias": (64,),
            "params/features_container/layers_2/kernel": (4, 4, 32, 64),
            "params/net_container/layers_0/bias": (256,),
            "params/net_container/layers_0/kernel": (2306, 256),
            "params/net_container/layers_2/bias": (128,),
            "params/net_container/layers_2/kernel": (256, 128),
            "params/net_container/layers_4/bias": (1,),
            "params/net_container/layers_4/kernel": (128, 1),
        }

    def test_runs_on_flat_inputs_like_a_numpy_network(self, critic):
        """(N, 64*64*3) flat states are reshaped to NHWC and match a NumPy convolution network."""
        p = params(critic)
        rng = np.random.default_rng(0)
        images, actions = rng.random((2, 64, 64, 3), np.float32), rng.random((2, 2), np.float32)
        values = apply(critic, {"states": images.reshape(2, -1), "taken_actions": actions})
        features = relu(conv_valid(images, p["features_container"]["layers_0"], 4))
        features = relu(conv_valid(features, p["features_container"]["layers_2"], 2)).reshape(2, -1)
        net = p["net_container"]
        hidden = elu(dense(elu(dense(np.concatenate([features, actions], 1), net["layers_0"])), net["layers_2"]))
        np.testing.assert_allclose(values, dense(hidden, net["layers_4"]), rtol=1e-4, atol=1e-4)


class TestInitialised:
    def test_an_optimizer_works_right_after_construction(self, obs, act):
        """state_dict.params exists at once (built initialised): optax init + one step; init_state_dict keeps them."""
        model = deterministic_model(obs, act, network=mlp("n", "STATES", [8], "relu"), output="ONE")
        before = model.state_dict.params
        model.init_state_dict("critic")
        assert model.state_dict.params is before
        optimizer = optax.sgd(0.5)
        inputs = random_inputs()
        grads = jax.grad(lambda p: model.act(inputs, "critic", p)[0].sum())(before)
        updates, _ = optimizer.update(grads, optimizer.init(before))
        new = optax.apply_updates(before, updates)["params"]["n_container"]["layers_2"]["bias"]
        close(new, np.asarray(before["params"]["n_container"]["layers_2"]["bias"]) - 0.5 * 4)

    def test_a_new_key_draws_new_parameters(self, obs, act):
        """init_state_dict(key=...) re-initialises (the models's own key gave the first draw)."""
        model = gaussian_model(obs, act, hiddens=[8])
        before = params(model)["net_container"]["layers_0"]["kernel"]
        model.init_state_dict("policy", key=jax.random.PRNGKey(1))
        assert not np.allclose(params(model)["net_container"]["layers_0"]["kernel"], before)


class TestLayers:
    def test_tokens_as_features_and_explicit_in_features(self, obs, act):
        """out_features tokens resolve against the spaces; a correct in_features is accepted (and not stored)."""
        layers = [{"linear": {"out_features": "STATES_ACTIONS", "in_features": 5}}, {"linear": "ACTIONS"}]
        model = deterministic_model(obs, act, network=mlp("n", "STATES", layers))
        kernels = {k: v for k, v in shapes(params(model)).items() if k.endswith("kernel")}
        assert kernels == {"n_container/layers_0/kernel": (5, 8), "n_container/layers_1/kernel": (8, 3)}

    def test_jax_key_names_and_no_bias(self, obs, act):
        """features/use_bias are accepted; use_bias=False leaves no bias parameter."""
        model = deterministic_model(
            obs, act, network=mlp("n", "STATES", [{"linear": {"features": 8, "use_bias": False}}])
        )
        assert shapes(params(model)) == {"n_container/layers_0/kernel": (5, 8)}

    def test_activations_sit_between_layers(self, obs, act):
        """Per-layer list with '' skips: leaky_relu, none, softsign (Flax soft_sign); entries 0, 2, 3."""
        model = deterministic_model(obs, act, network=mlp("a", "STATES", [8, 8, 3], ["leaky_relu", "", "softsign"]))
        a = params(model)["a_container"]
        assert sorted(a) == ["layers_0", "layers_2", "layers_3"]
        x = random_inputs()["states"]
        h = dense(x, a["layers_0"])
        h = dense(dense(np.where(h > 0, h, 0.01 * h), a["layers_2"]), a["layers_3"])
        close(apply(model, {"states": x}), h / (1 + np.abs(h)))

    def test_softmax_runs_over_the_last_axis(self, obs, act):
        """softmax activations normalise each row."""
        model = deterministic_model(obs, act, network=mlp("n", "STATES", [8], "softmax"))
        close(apply(model, random_inputs()).sum(axis=-1), np.ones(4))

    def test_flatten_honours_start_and_end_dim(self, act):
        """(N, 2, 5, 1) -> flatten [2, 3] -> (N, 2, 5) -> Dense 8 -> flatten -> (N, 16) (skrl flattens all axes)."""
        model = deterministic_model(
            Box(-1, 1, (2, 5, 1)), act, network=mlp("n", "STATES", [{"flatten": [2, 3]}, 8, "flatten"])
        )
        n = params(model)["n_container"]
        assert shapes(n) == {"layers_1/bias": (8,), "layers_1/kernel": (5, 8)}
        x = np.random.default_rng(1).normal(size=(4, 10)).astype(np.float32)
        close(apply(model, {"states": x}), dense(x.reshape(4, 2, 5), n["layers_1"]).reshape(4, 16))

    def test_conv_padding_same(self, act):
        """(N, 6, 6, 2) images, 'same' padding keeps 6x6 (the CNN example shows the default, torch's 0, is VALID)."""
        layers = [{"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": "same"}}, "flatten"]
        model = deterministic_model(Box(0, 1, (6, 6, 2)), act, network=mlp("c", "STATES", layers))
        assert apply(model, {"states": jnp.ones((1, 72))}).shape == (1, 6 * 6 * 4)


class TestInputs:
    def test_slicing_arithmetic_and_aliases(self, obs, act):
        """STATES[:, 2:5], OBSERVATIONS, Shape.ACTIONS, unary minus and constants evaluate as written."""
        network = mlp("n", "concatenate([2 * OBSERVATIONS[:, 2:4] - 1, -Shape.ACTIONS / 4])", [8])
        model = deterministic_model(obs, act, output="ONE", network=network)
        inputs, n = random_inputs(), params(model)["n_container"]
        x = np.concatenate([2 * inputs["states"][:, 2:4] - 1, -inputs["taken_actions"] / 4], axis=1)
        close(apply(model, inputs), dense(dense(x, n["layers_0"]), n["layers_1"]))

    def test_dict_key_indexing_keeps_keys_that_contain_a_token(self, act):
        """A Dict key "STATES_vel" survives (skrl's text replacement corrupts it); flat order is the sorted keys."""
        space = Dict({"pos": Box(-1, 1, (2,)), "STATES_vel": Box(-1, 1, (3,))})
        network = mlp("n", "concatenate([STATES['pos'], STATES['STATES_vel']])", [8])
        model = deterministic_model(space, act, output="ACTIONS", network=network)
        flat, n = random_inputs()["states"], params(model)["n_container"]  # sorted keys: STATES_vel (3), pos (2)
        close(
            apply(model, {"states": flat}),
            dense(dense(np.concatenate([flat[:, 3:], flat[:, :3]], 1), n["layers_0"]), n["layers_1"]),
        )

    def test_tuple_indexing_and_one_hot_of_a_sub_space(self, act):
        """STATES[0] is the Box part; one_hot_encoding(OBSERVATION_SPACE[1], STATES[1]) encodes the Discrete part."""
        space = Tuple((Box(-1, 1, (2,)), Discrete(3, start=1)))
        network = mlp("n", "concatenate([STATES[0], one_hot_encoding(OBSERVATION_SPACE[1], STATES[1])])", [8])
        model = deterministic_model(space, act, output="ACTIONS", network=network)
        n = params(model)["n_container"]
        flat = np.array([[0.5, -0.5, 3.0]], np.float32)  # Discrete value 3 with start 1 -> class 2
        close(
            apply(model, {"states": flat}), dense(dense(np.array([[0.5, -0.5, 0, 0, 1]]), n["layers_0"]), n["layers_1"])
        )

    def test_discrete_observations_through_one_hot(self):
        """The usual Discrete-observation policy: one_hot_encoding(STATE_SPACE, STATES); int states act."""
        network = mlp("n", "one_hot_encoding(STATE_SPACE, STATES)", [8], "relu")
        model = categorical_model(Discrete(5), Discrete(3), output="ACTIONS", network=network)
        n = params(model)["n_container"]
        states = jnp.array([[0], [3]])
        close(
            apply(model, {"states": states}),
            dense(relu(n["layers_0"]["kernel"][[0, 3]] + n["layers_0"]["bias"]), n["layers_2"]),
        )
        actions, log_prob, _ = model.act({"states": states})
        assert actions.shape == (2, 1) and log_prob.shape == (2, 1)

    def test_permute_is_a_transpose(self, act):
        """permute(STATES, (0, 2, 1)) of (N, 5, 2) states: the Dense reads the transposed last axis (width 5)."""
        model = deterministic_model(
            Box(-1, 1, (5, 2)), act, network=mlp("n", "permute(STATES, (0, 2, 1))", [8, "flatten"])
        )
        n = params(model)["n_container"]
        x = np.arange(20, dtype=np.float32).reshape(2, 10) / 10
        close(apply(model, {"states": x}), dense(x.reshape(2, 5, 2).transpose(0, 2, 1), n["layers_0"]).reshape(2, 16))

    def test_missing_input_is_named(self, obs, act):
        """A network that reads ACTIONS says so when taken_actions is absent."""
        model = deterministic_model(
            obs, act, network=mlp("n", "concatenate([STATES[:, :2], ACTIONS])", [8]), output="ONE"
        )
        with pytest.raises(ValueError, match="taken_actions"):
            apply(model, {"states": jnp.ones((1, 5))})


class TestOneHotEncoding:
    def test_discrete_with_start(self):
        """Discrete(4, start=2): value 3 is class 1; float32 (N, 4)."""
        out = one_hot_encoding(Discrete(4, start=2), jnp.array([[3], [2], [5]]))
        assert out.dtype == jnp.float32
        np.testing.assert_array_equal(out, np.eye(4)[[1, 0, 3]])

    def test_multidiscrete_concatenates_one_hots(self):
        """MultiDiscrete([3, 2]) with values (2, 0) and (0, 1): [0 0 1 | 1 0] and [1 0 0 | 0 1]."""
        out = one_hot_encoding(MultiDiscrete([3, 2]), jnp.array([[2, 0], [0, 1]]))
        np.testing.assert_array_equal(out, [[0, 0, 1, 1, 0], [1, 0, 0, 0, 1]])

    def test_other_spaces_are_refused(self):
        """Box is not categorical."""
        with pytest.raises(ValueError, match="Discrete or MultiDiscrete"):
            one_hot_encoding(Box(0, 1, (2,)), jnp.zeros((1, 2)))


class TestOutputs:
    def test_activation_call_with_a_scale(self, obs, act):
        """2 * tanh(ACTIONS): the ACTIONS Dense is the last entry of the last container."""
        model = gaussian_model(obs, act, network=mlp("n", "STATES", [8], "relu"), output="2 * tanh(ACTIONS)")
        n = params(model)["n_container"]
        assert sorted(n) == ["layers_0", "layers_2"] and n["layers_2"]["kernel"].shape == (8, 3)
        x = random_inputs()["states"]
        close(apply(model, {"states": x}), 2 * np.tanh(dense(relu(dense(x, n["layers_0"])), n["layers_2"])))

    def test_container_names_and_concatenate_on_the_last_axis(self, obs, act):
        """An output combining containers without a token adds no layer."""
        network = mlp("a", "STATES", [8]) + mlp("b", "STATES", [8])
        model = deterministic_model(obs, act, network=network, output="concatenate([a, b]) * 3")
        p, x = params(model), random_inputs()["states"]
        assert sorted(p) == ["a_container", "b_container"]
        close(
            apply(model, {"states": x}),
            np.concatenate([dense(x, p["a_container"]["layers_0"]), dense(x, p["b_container"]["layers_0"])], 1) * 3,
        )

    def test_multicategorical_and_multivariate_models(self, obs):
        """The two additional mixins act with their action spaces."""
        network = mlp("n", "STATES", [8])
        policy = multicategorical_model(obs, MultiDiscrete([2, 1]), network=network, output="ACTIONS", reduction="none")
        actions, log_prob, outputs = policy.act({"states": random_inputs()["states"]})
        assert actions.shape == (4, 2) and log_prob.shape == (4, 2) and outputs["net_output"].shape == (4, 3)
        mvg = multivariate_gaussian_model(obs, Box(-1, 1, (3,)), hiddens=[8])
        actions, log_prob, _ = mvg.act({"states": random_inputs()["states"]})
        assert actions.shape == (4, 3) and log_prob.shape == (4, 1)

    def test_models_live_on_their_device(self, obs, act):
        """Every parameter is on model.device."""
        model = gaussian_model(obs, act, hiddens=[8], device="cpu")
        leaves = jax.tree_util.tree_leaves(model.state_dict.params)
        assert {device for leaf in leaves for device in leaf.devices()} == {model.device}
