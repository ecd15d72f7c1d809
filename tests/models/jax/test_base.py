import os
import subprocess
import sys

import flax
import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixrl
from mixrl.models.jax import Model, StateDict

from .conftest import CategoricalPolicy, GaussianPolicy, build, params_of


class TwinLayers(Model):
    """Two same-shaped Dense layers, no mixin: calls Module.__post_init__ itself and overrides act."""

    def __init__(self, observation_space=4, action_space=4, device=None, **kwargs):
        Model.__init__(self, observation_space, action_space, device, **kwargs)
        flax.linen.Module.__post_init__(self)

    @nn.compact
    def __call__(self, inputs, role):
        return nn.Dense(4, name="b")(nn.Dense(4, name="a")(inputs["states"])), {}

    def act(self, inputs, role="", params=None):
        out, outputs = self.apply(self.state_dict.params if params is None else params, inputs, role)
        return out, None, outputs


class Forgetful(Model):
    """A plain model that forgot flax.linen.Module.__post_init__(self)."""

    def __init__(self, observation_space=4, action_space=4, device=None, **kwargs):
        Model.__init__(self, observation_space, action_space, device, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        return nn.Dense(4)(inputs["states"]), {}


class TestConstruction:
    def test_device_training_and_backend_flag(self):
        """device is a jax.Device, training starts False, the backend flag follows config.jax.backend."""
        model = Model(1, 1, device="cpu")
        assert isinstance(model.device, jax.Device) and model.device.platform == "cpu"
        assert model.training is False and model._jax is False

    def test_state_dict_before_init_state_dict_is_a_runtime_error(self, box_obs, box_act):
        """Reading state_dict (or acting) before init_state_dict names the fix."""
        model = GaussianPolicy(box_obs, box_act)
        with pytest.raises(RuntimeError, match=r"call init_state_dict\(\) first"):
            _ = model.state_dict
        with pytest.raises(RuntimeError, match=r"call init_state_dict\(\) first"):
            model.act({"states": jnp.zeros((1, 5))})

    def test_missing_post_init_is_detected_with_a_clear_error(self):
        """A plain model without flax.linen.Module.__post_init__(self) is told so."""
        with pytest.raises(RuntimeError, match=r"__post_init__\(self\)"):
            Forgetful().init_state_dict("net")

    def test_plain_model_with_its_own_act(self):
        """A model without mixin initialises and acts through its own act."""
        model = TwinLayers()
        model.init_state_dict("net")
        out, log_prob, _ = model.act({"states": jnp.ones((2, 4))})
        assert out.shape == (2, 4) and log_prob is None

    def test_agents_can_assign_apply_training_and_state_dict(self, box_obs, box_act, states):
        """skrl agents assign model.apply (jitted), model.training and model.state_dict."""
        model = build(GaussianPolicy, box_obs, box_act)
        model.apply = jax.jit(model.apply, static_argnums=2)
        model.training = True
        zeroed = jax.tree_util.tree_map(jnp.zeros_like, model.state_dict.params)
        model.state_dict = model.state_dict.replace(params=zeroed)
        _, _, outputs = model.act({"states": states}, role="policy")
        np.testing.assert_array_equal(outputs["mean_actions"], 0.0)
        assert model.training is True


class TestStateDict:
    def test_params_are_the_whole_variables_dict(self, box_obs, box_act):
        """state_dict.params is {"params": {...}} as returned by Module.init; apply_fn is static."""
        model = build(GaussianPolicy, box_obs, box_act)
        assert isinstance(model.state_dict, StateDict)
        assert set(model.state_dict.params) == {"params"}
        assert set(model.state_dict.params["params"]) == {"hidden", "mean", "log_std"}
        assert jax.tree_util.tree_leaves(model.state_dict) == jax.tree_util.tree_leaves(model.state_dict.params)

    def test_scalar_int_states_are_reshaped(self):
        """A scalar int "states" (Discrete observation) becomes a (1, 1) array."""
        model = CategoricalPolicy(gymnasium.spaces.Discrete(5), gymnasium.spaces.Discrete(3))
        model.init_state_dict("policy", {"states": 2})
        assert params_of(model, "logits", "kernel").shape == (1, 3)

    def test_explicit_key_makes_parameters_reproducible(self, box_obs, box_act):
        """The same init key gives the same parameters on two models."""
        first, second = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        first.init_state_dict("policy", key=jax.random.PRNGKey(7))
        second.init_state_dict("policy", key=jax.random.PRNGKey(7))
        np.testing.assert_array_equal(params_of(first, "mean", "kernel"), params_of(second, "mean", "kernel"))


class TestSaveLoad:
    def test_file_is_flax_msgpack(self, tmp_path, box_obs, box_act):
        """The file is flax.serialization bytes (msgpack), readable without mixrl."""
        model = build(GaussianPolicy, box_obs, box_act)
        model.save(tmp_path / "policy.flax")
        restored = flax.serialization.msgpack_restore((tmp_path / "policy.flax").read_bytes())
        np.testing.assert_array_equal(restored["params"]["log_std"], params_of(model, "log_std"))

    @pytest.mark.parametrize("wrap", [True, False])
    def test_save_accepts_a_state_dict_or_a_raw_params_tree(self, tmp_path, box_obs, box_act, wrap):
        """save(path, state_dict) writes that StateDict or raw tree, not the current parameters."""
        model = build(GaussianPolicy, box_obs, box_act)
        old = model.state_dict
        model.init_parameters("constant", 3.0)
        model.save(tmp_path / "old.flax", old if wrap else old.params)
        model.load(tmp_path / "old.flax")
        np.testing.assert_array_equal(params_of(model, "log_std"), np.asarray(old.params["params"]["log_std"]))

    def test_save_is_atomic(self, tmp_path, box_obs, box_act, monkeypatch):
        """A save that fails half-way leaves the previous file intact and no temporary file behind."""
        model = build(GaussianPolicy, box_obs, box_act)
        path = tmp_path / "policy.flax"
        model.save(path)
        before = path.read_bytes()

        def broken(_):
            raise OSError("disk full")

        monkeypatch.setattr(flax.serialization, "to_bytes", broken)
        with pytest.raises(OSError, match="disk full"):
            model.save(path)
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["policy.flax"]

    @pytest.mark.parametrize("damage", ["truncate", "garbage", "other_format"])
    def test_corrupted_file_is_a_value_error_and_changes_nothing(self, tmp_path, box_obs, box_act, damage):
        """Truncated, random or non-msgpack bytes: ValueError naming the file; parameters unchanged."""
        model = build(GaussianPolicy, box_obs, box_act)
        path = tmp_path / "policy.flax"
        model.save(path)
        data = path.read_bytes()
        damaged = {
            "truncate": data[: len(data) // 2],
            "garbage": np.random.default_rng(0).bytes(len(data)),
            "other_format": b"\x80\x04\x95 pickle bytes",
        }[damage]
        path.write_bytes(damaged)
        before = model.state_dict
        model.set_mode("train")
        with pytest.raises(ValueError, match="policy.flax"):
            model.load(path)
        assert model.state_dict is before and model.training is True


class TestParameterUpdates:
    def test_freeze_records_the_flag(self, box_obs, box_act):
        """freeze_parameters only records `frozen` (JAX has no requires_grad)."""
        model = build(GaussianPolicy, box_obs, box_act)
        params = model.state_dict.params
        model.freeze_parameters(True)
        assert model.frozen is True and model.state_dict.params is params
        model.freeze_parameters(False)
        assert model.frozen is False

    def test_distributed_helpers_are_no_ops_on_one_process(self, box_obs, box_act):
        """broadcast_parameters keeps the parameters; reduce_parameters returns its input."""
        model = build(GaussianPolicy, box_obs, box_act)
        params = model.state_dict.params
        model.broadcast_parameters()
        assert model.state_dict.params is params
        grads = {"g": jnp.ones(3)}
        assert model.reduce_parameters(grads) is grads


class TestInitializers:
    def test_init_weights_gives_same_shaped_layers_different_kernels(self):
        """One subkey per leaf: the two (4, 4) kernels differ (skrl reuses one key)."""
        model = TwinLayers()
        model.init_state_dict("net")
        biases = params_of(model, "a", "bias")
        model.init_weights("normal", stddev=1.0)
        kernel_a, kernel_b = params_of(model, "a", "kernel"), params_of(model, "b", "kernel")
        assert not np.allclose(kernel_a, kernel_b)
        assert 0.5 < kernel_a.std() < 1.6  # stddev=1 really used
        np.testing.assert_array_equal(params_of(model, "a", "bias"), biases)  # biases untouched

    def test_init_biases_default_fills_zeros(self):
        """init_biases() with the documented default ("constant_") works and gives 0; kernels untouched."""
        model = TwinLayers()
        model.init_state_dict("net")
        model.init_biases("constant_", val=2.0)
        assert (params_of(model, "a", "bias") == 2.0).all()
        kernel = params_of(model, "a", "kernel")
        model.init_biases()
        assert (params_of(model, "a", "bias") == 0.0).all() and (params_of(model, "b", "bias") == 0.0).all()
        np.testing.assert_array_equal(params_of(model, "a", "kernel"), kernel)

    def test_torch_style_names_and_keywords(self):
        """ "normal_" with std/mean, "ones" as-is, init_parameters reaches every leaf."""
        model = TwinLayers()
        model.init_state_dict("net")
        model.init_weights("normal_", mean=5.0, std=0.01)
        np.testing.assert_allclose(params_of(model, "b", "kernel"), 5.0, atol=0.1)
        model.init_parameters("ones")
        assert all((np.asarray(leaf) == 1).all() for leaf in jax.tree_util.tree_leaves(model.state_dict.params))

    @pytest.mark.parametrize("name", ["Initializer", "_private"])
    def test_unknown_initializer_is_rejected(self, name):
        """Only public flax.linen.initializers functions are accepted; the error lists them."""
        model = TwinLayers()
        model.init_state_dict("net")
        with pytest.raises(ValueError, match="unknown initializer.*orthogonal"):
            model.init_weights(name)


class TestRandomAct:
    def test_jax_backend_returns_jax_arrays(self, box_act, monkeypatch):
        """With config.jax.backend == "jax" (at construction) the actions are jax.Arrays."""
        monkeypatch.setattr(mixrl.config.jax, "_backend", "jax")
        actions = Model(5, box_act).random_act({"states": np.zeros((4, 5))})[0]
        assert isinstance(actions, jax.Array) and actions.shape == (4, 3)

    def test_two_models_draw_different_random_actions(self, box_act):
        """Each model's generator is seeded from its own key."""
        states = {"states": np.zeros((8, 5))}
        assert not np.allclose(Model(5, box_act).random_act(states)[0], Model(5, box_act).random_act(states)[0])


class TestImport:
    def test_missing_jax_names_the_extra(self):
        """Without jax/flax, importing mixrl.models.jax says: pip install 'mixrl[jax]'."""
        code = (
            "import sys; sys.modules['flax'] = None\ntry:\n import mixrl.models.jax\nexcept ImportError as e: print(e)"
        )
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert "pip install 'mixrl[jax]'" in output
