"""torch <-> Flax parameter conversion: equal outputs both ways, pairing rules, JAX migrate, Flax files in torch."""

import logging

import gymnasium
import numpy as np
import pytest
import torch

flax = pytest.importorskip("flax")
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from mixrl.checkpoints import flax_to_torch, migrate_params, torch_to_flax  # noqa: E402
from mixrl.models.jax import DeterministicMixin as JaxDeterministic  # noqa: E402
from mixrl.models.jax import GaussianMixin as JaxGaussian  # noqa: E402
from mixrl.models.jax import Model as JaxModel  # noqa: E402
from mixrl.models.jax import StateDict  # noqa: E402
from mixrl.models.torch import DeterministicMixin, GaussianMixin, Model  # noqa: E402

OBS, ACT = gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,))
IMAGE = gymnasium.spaces.Box(0, 1, (12, 12, 3))


class TorchGaussian(GaussianMixin, Model):
    """5 -> 32 -> 32 tanh MLP, linear mean head, state-independent log-std."""

    def __init__(self, observation_space=OBS, action_space=ACT, hidden=32):
        Model.__init__(self, observation_space, action_space, device="cpu")
        GaussianMixin.__init__(self, clip_log_std=False)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(self.num_observations, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, 32),
            torch.nn.Tanh(),
        )
        self.mean = torch.nn.Linear(32, self.num_actions)
        self.log_std_parameter = torch.nn.Parameter(torch.randn(self.num_actions))

    def compute(self, inputs, role):
        return self.mean(self.net(inputs["states"])), self.log_std_parameter, {}


class FlaxGaussian(JaxGaussian, JaxModel):
    """The same network with compact, automatically named ``nn.Dense`` layers (``Dense_0`` .. ``Dense_2``)."""

    def __init__(self, observation_space=OBS, action_space=ACT, device=None, parent=None, name=None):
        JaxModel.__init__(self, observation_space, action_space, device, parent, name)
        JaxGaussian.__init__(self, clip_log_std=False)

    @nn.compact
    def __call__(self, inputs, role):
        x = nn.tanh(nn.Dense(32)(inputs["states"]))
        x = nn.tanh(nn.Dense(32)(x))
        return nn.Dense(self.num_actions)(x), self.param("log_std", nn.initializers.normal(1.0), (3,)), {}


class TorchConv(DeterministicMixin, Model):
    """Two 3x3 convolutions on (N, 12, 12, 3) images, flattened channels-last, then a linear layer."""

    def __init__(self):
        Model.__init__(self, IMAGE, ACT, device="cpu")
        DeterministicMixin.__init__(self)
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3), torch.nn.ReLU()
        )
        self.head = torch.nn.Linear(4 * 3 * 3, self.num_actions)

    def compute(self, inputs, role):
        images = inputs["states"].reshape(-1, 12, 12, 3).permute(0, 3, 1, 2)
        features = self.features(images).permute(0, 2, 3, 1)  # channels-last before flattening, like Flax
        return self.head(features.flatten(1)), {}


class FlaxConv(JaxDeterministic, JaxModel):
    def __init__(self, observation_space=IMAGE, action_space=ACT, device=None, parent=None, name=None):
        JaxModel.__init__(self, observation_space, action_space, device, parent, name)
        JaxDeterministic.__init__(self)

    @nn.compact
    def __call__(self, inputs, role):
        x = inputs["states"].reshape(-1, 12, 12, 3)
        x = nn.relu(nn.Conv(8, (3, 3), strides=(2, 2), padding="VALID")(x))
        x = nn.relu(nn.Conv(4, (3, 3), padding="VALID")(x))
        return nn.Dense(self.num_actions)(x.reshape(x.shape[0], -1)), {}


class FlaxInstantiatedLayout(nn.Module):
    """The instantiators' names: ``net_container`` (nn.Sequential), ``policy_layer``, ``value_layer``."""

    def setup(self):
        self.net_container = nn.Sequential([nn.Dense(32), nn.relu, nn.Dense(32), nn.relu])
        self.policy_layer = nn.Dense(1)
        self.value_layer = nn.Dense(1)
        self.log_std_parameter = self.param("log_std_parameter", nn.initializers.zeros, (1,))

    def __call__(self, x):
        h = self.net_container(x)
        return self.policy_layer(h), self.value_layer(h)


def torch_instantiated_layout() -> torch.nn.Module:
    module = torch.nn.Module()
    module.log_std_parameter = torch.nn.Parameter(torch.randn(1))
    module.net_container = torch.nn.Sequential(
        torch.nn.Linear(5, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU()
    )
    module.policy_layer = torch.nn.Linear(32, 1)
    module.value_layer = torch.nn.Linear(32, 1)
    return module


def mean_actions_torch(model, states):
    return model.act({"states": torch.from_numpy(states)}, role="policy")[2]["mean_actions"].detach().numpy()


def mean_actions_flax(model, states):
    return np.asarray(model.act({"states": states}, role="policy")[2]["mean_actions"])


@pytest.fixture
def states():
    return np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)


@pytest.fixture(scope="module")
def flax_template():
    """Shapes and dtypes of FlaxGaussian's parameters (no eager Module.init: slow on a busy CPU)."""
    init = lambda key, x: FlaxGaussian().init(key, {"states": x}, "policy")  # noqa: E731
    return jax.eval_shape(init, jax.random.key(0), np.zeros((1, 5), np.float32))


@pytest.fixture
def flax_policy(flax_template):
    """A FlaxGaussian with random parameters."""
    rng = np.random.default_rng(2)
    params = jax.tree_util.tree_map(lambda s: jnp.asarray(rng.standard_normal(s.shape), s.dtype), flax_template)
    policy = FlaxGaussian()
    policy.state_dict = StateDict.create(apply_fn=policy.apply, params=params)
    return policy


class TestMlpGaussian:
    def test_torch_to_flax_gives_equal_mean_actions(self, states):
        """Dense kernels are the transposed Linear weights: the Flax policy acts like the torch one."""
        torch_policy, flax_policy = TorchGaussian(), FlaxGaussian()
        flax_policy.init_state_dict("policy")
        params = torch_to_flax(torch_policy.state_dict(), flax_policy.state_dict.params)
        flax_policy.state_dict = flax_policy.state_dict.replace(params=params)
        np.testing.assert_allclose(
            mean_actions_flax(flax_policy, states), mean_actions_torch(torch_policy, states), atol=1e-5
        )
        np.testing.assert_array_equal(params["params"]["log_std"], torch_policy.log_std_parameter.detach().numpy())
        np.testing.assert_array_equal(
            params["params"]["Dense_1"]["kernel"], torch_policy.net[2].weight.detach().numpy().T
        )

    def test_flax_to_torch_gives_equal_mean_actions(self, flax_policy, states):
        """The reverse conversion loads into the torch model with load_state_dict (strict)."""
        torch_policy = TorchGaussian()
        state = flax_to_torch(flax_policy.state_dict.params, torch_policy.state_dict())
        assert list(state) == list(torch_policy.state_dict())
        torch_policy.load_state_dict(state)
        np.testing.assert_allclose(
            mean_actions_torch(torch_policy, states), mean_actions_flax(flax_policy, states), atol=1e-5
        )

    def test_round_trip_is_exact_and_keeps_dtypes(self, flax_policy):
        """torch -> Flax -> torch gives back the same tensors, dtypes and order."""
        torch_policy = TorchGaussian()
        params = torch_to_flax(torch_policy.state_dict(), flax_policy.state_dict.params)
        back = flax_to_torch(params, torch_policy.state_dict())
        for key, value in torch_policy.state_dict().items():
            assert back[key].dtype == value.dtype
            torch.testing.assert_close(back[key], value, rtol=0, atol=0)

    def test_different_architecture_lists_every_mismatch(self, flax_policy):
        """A torch net with 16 hidden units: ValueError naming the torch and Flax layers and their shapes."""
        with pytest.raises(ValueError, match=r"net\.0 \(weight \[16, 5\], bias \[16\]\) vs Dense_0 \(") as info:
            torch_to_flax(TorchGaussian(hidden=16).state_dict(), flax_policy.state_dict.params)
        assert "net.2" in str(info.value)

    def test_different_number_of_layers_is_an_error(self, flax_policy):
        """One layer too many on the torch side: both lists are in the message."""
        state = dict(TorchGaussian().state_dict())
        state["extra.weight"], state["extra.bias"] = torch.zeros(3, 3), torch.zeros(3)
        with pytest.raises(ValueError, match=r"layers: torch has 4 .* Flax has 3"):
            torch_to_flax(state, flax_policy.state_dict.params)


class TestConv:
    def test_conv_kernels_are_permuted_to_hwio(self, states):
        """Conv2d (O, I, H, W) -> Conv (H, W, I, O): the converted conv net gives equal outputs both ways."""
        torch_model, flax_model = TorchConv(), FlaxConv()
        images = np.random.default_rng(1).random((4, 12 * 12 * 3), dtype=np.float32)
        # shapes only (an eager Module.init of a conv net is slow on CPU): the conversion fills in every value
        init = lambda key, x: flax_model.init(key, {"states": x}, "policy")  # noqa: E731
        template = jax.eval_shape(init, jax.random.key(0), images)
        params = torch_to_flax(torch_model.state_dict(), template)
        assert params["params"]["Conv_0"]["kernel"].shape == (3, 3, 3, 8)
        flax_model.state_dict = StateDict.create(apply_fn=flax_model.apply, params=params)
        expected = torch_model.act({"states": torch.from_numpy(images)})[0].detach().numpy()
        np.testing.assert_allclose(np.asarray(flax_model.act({"states": images})[0]), expected, atol=1e-5)
        back = flax_to_torch(params, torch_model.state_dict())
        for key, value in torch_model.state_dict().items():
            torch.testing.assert_close(back[key], value, rtol=0, atol=0)


class TestPairing:
    def test_same_attribute_names_pair_by_name(self):
        """Instantiated layouts pair by name (net_container/layers_0 is net_container.0), not by order.

        policy_layer and value_layer have the same shapes; order alone could not tell them apart.
        """
        torch_module = torch_instantiated_layout()
        template = jax.eval_shape(FlaxInstantiatedLayout().init, jax.random.key(0), jnp.zeros((1, 5)))
        params = torch_to_flax(torch_module.state_dict(), template)
        inner = params["params"]
        np.testing.assert_array_equal(
            inner["value_layer"]["kernel"], torch_module.value_layer.weight.detach().numpy().T
        )
        np.testing.assert_array_equal(inner["policy_layer"]["bias"], torch_module.policy_layer.bias.detach().numpy())
        np.testing.assert_array_equal(
            inner["net_container"]["layers_2"]["kernel"], torch_module.net_container[2].weight.detach().numpy().T
        )

    def test_same_shaped_explicitly_named_layers_need_a_name_map(self):
        """Flax layers 'mean' and 'log_std_head' of equal shapes: order is unknown -> error; name_map resolves it."""

        class Heads(nn.Module):
            @nn.compact
            def __call__(self, x):
                h = nn.Dense(8, name="hidden")(x)
                return nn.Dense(2, name="mean")(h), nn.Dense(2, name="log_std_head")(h)

        torch_module = torch.nn.Module()
        torch_module.hidden = torch.nn.Linear(4, 8)
        torch_module.mu = torch.nn.Linear(8, 2)
        torch_module.log_std = torch.nn.Linear(8, 2)
        template = jax.eval_shape(Heads().init, jax.random.key(0), jnp.zeros((1, 4)))
        with pytest.raises(ValueError, match="'log_std_head' and 'mean' have the same shapes .* name_map"):
            torch_to_flax(torch_module.state_dict(), template)
        name_map = {"mean/kernel": "mu.weight", "mean/bias": "mu.bias"}
        name_map |= {"log_std_head/kernel": "log_std.weight", "log_std_head/bias": "log_std.bias"}
        params = torch_to_flax(torch_module.state_dict(), template, name_map=name_map)
        np.testing.assert_array_equal(params["params"]["mean"]["bias"], torch_module.mu.bias.detach().numpy())

    def test_automatic_names_follow_numeric_order(self):
        """Dense_10 comes after Dense_9 (natural order), whatever the dict order of the template."""

        class Deep(nn.Module):
            @nn.compact
            def __call__(self, x):
                for width in range(2, 14):
                    x = nn.Dense(width)(x)
                return x

        template = jax.eval_shape(Deep().init, jax.random.key(0), jnp.zeros((1, 1)))  # shapes and dtypes only
        assert list(template["params"])[:3] == ["Dense_0", "Dense_1", "Dense_10"]  # JAX sorts the keys
        layers = [torch.nn.Linear(i, i + 1) for i in range(1, 13)]
        torch_module = torch.nn.Sequential(*layers)
        params = torch_to_flax(torch_module.state_dict(), template)
        assert params["params"]["Dense_10"]["kernel"].shape == (11, 12)


class TestJaxMigrate:
    def test_state_dict_of_the_same_architecture_converts_layer_by_layer(self, flax_policy, states):
        """migrate_params with the torch model's state dict: True and the policy acts like the torch one."""
        torch_policy = TorchGaussian()
        ok, params = migrate_params(flax_policy.state_dict.params, state_dict=torch_policy.state_dict())
        assert ok is True
        flax_policy.state_dict = flax_policy.state_dict.replace(params=params)
        np.testing.assert_allclose(
            mean_actions_flax(flax_policy, states), mean_actions_torch(torch_policy, states), atol=1e-5
        )

    def test_torch_file_converts_layer_by_layer(self, flax_policy, states, tmp_path):
        """A path to a torch.save state dict works the same way."""
        torch_policy = TorchGaussian()
        torch.save(torch_policy.state_dict(), tmp_path / "policy.pt")
        ok, params = migrate_params(flax_policy.state_dict.params, path=tmp_path / "policy.pt")
        assert ok is True
        flax_policy.state_dict = flax_policy.state_dict.replace(params=params)
        np.testing.assert_allclose(
            mean_actions_flax(flax_policy, states), mean_actions_torch(torch_policy, states), atol=1e-5
        )

    def test_external_layout_uses_shapes_and_name_map(self, flax_policy, states):
        """An SB3-like source with extra entries: shape matching plus a name_map keyed by Flax paths."""
        torch_policy = TorchGaussian()
        own = torch_policy.state_dict()
        sb3 = {
            "log_std": own["log_std_parameter"],
            "mlp_extractor.policy_net.0.weight": own["net.0.weight"],
            "mlp_extractor.policy_net.0.bias": own["net.0.bias"],
            "mlp_extractor.policy_net.2.weight": own["net.2.weight"],
            "mlp_extractor.policy_net.2.bias": own["net.2.bias"],
            "action_net.weight": own["mean.weight"],
            "action_net.bias": own["mean.bias"],
            "value_net.weight": torch.zeros(1, 32),
            "value_net.bias": torch.zeros(1),
        }
        name_map = {
            "Dense_0/bias": "mlp_extractor.policy_net.0.bias",
            "Dense_1.bias": "mlp_extractor.policy_net.2.bias",
        }
        ok, params = migrate_params(flax_policy.state_dict.params, state_dict=sb3, name_map=name_map)
        assert ok is True
        flax_policy.state_dict = flax_policy.state_dict.replace(params=params)
        np.testing.assert_allclose(
            mean_actions_flax(flax_policy, states), mean_actions_torch(torch_policy, states), atol=1e-5
        )

    def test_ambiguous_source_fails_and_returns_the_parameters_unchanged(self, flax_policy, caplog):
        """Without name_map the SB3-like biases are ambiguous: False, warnings, the same params object back."""
        own = TorchGaussian().state_dict()
        source = {f"a.{k}": v for k, v in own.items()} | {"b.extra.bias": torch.zeros(32)}
        before = flax_policy.state_dict.params
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            ok, params = migrate_params(before, state_dict=source)
        assert ok is False and params is before
        assert "Ambiguous match for Dense_0.bias <- [a.net.0.bias, a.net.2.bias, b.extra.bias]" in caplog.text


class TestJaxModelMigrate:
    def test_jax_model_migrate_takes_a_torch_state_dict(self, flax_policy, states):
        """JAX Model.migrate: True, params replaced, eval mode, same mean actions as the torch policy."""
        torch_policy = TorchGaussian()
        flax_policy.set_mode("train")
        assert flax_policy.migrate(state_dict=torch_policy.state_dict()) is True
        assert flax_policy.training is False
        np.testing.assert_allclose(
            mean_actions_flax(flax_policy, states), mean_actions_torch(torch_policy, states), atol=1e-5
        )

    def test_jax_model_dry_run_changes_nothing(self, flax_policy):
        """dry_run reports the result and keeps the current parameters object."""
        before = flax_policy.state_dict.params
        assert flax_policy.migrate(state_dict=TorchGaussian().state_dict(), dry_run=True) is True
        assert flax_policy.state_dict.params is before


class TestFlaxIntoTorch:
    def test_torch_model_migrates_a_flax_checkpoint_file(self, flax_policy, states, tmp_path):
        """A JAX model's msgpack checkpoint migrates into the equivalent torch model: True, equal mean actions."""
        path = tmp_path / "policy.flax"
        flax_policy.save(path)
        torch_policy = TorchGaussian()
        assert torch_policy.migrate(path=str(path)) is True
        np.testing.assert_allclose(
            mean_actions_torch(torch_policy, states), mean_actions_flax(flax_policy, states), atol=1e-5
        )

    def test_torch_model_migrates_a_flax_parameter_tree(self, flax_policy, states):
        """state_dict= also accepts a Flax tree (model.state_dict.params)."""
        torch_policy = TorchGaussian()
        assert torch_policy.migrate(state_dict=flax_policy.state_dict.params) is True
        np.testing.assert_allclose(
            mean_actions_torch(torch_policy, states), mean_actions_flax(flax_policy, states), atol=1e-5
        )

    def test_unpaired_flax_tree_falls_back_to_torch_style_names(self, flax_policy, caplog):
        """Another architecture: the Flax leaves are offered as Dense_0.weight, ... for a name_map."""
        torch_policy = TorchGaussian(hidden=16)
        with caplog.at_level(logging.INFO, logger="mixrl"):
            assert torch_policy.migrate(state_dict=flax_policy.state_dict.params, verbose=True) is False
        assert "  |    |-- Dense_0.weight : [32, 5]" in caplog.text
