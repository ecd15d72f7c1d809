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
    def test_sizes_from_spaces(self):
        """num_observations / num_actions are numbers of elements (Discrete(4) -> 4 logits)."""
        model = Model(gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,)))
        assert (model.num_observations, model.num_actions) == (5, 3)
        assert Model(5, gymnasium.spaces.Discrete(4)).num_actions == 4
        assert Model([2, 3], None).num_observations == 6
        assert Model(None, None).num_actions is None

    def test_device_training_and_backend_flag(self):
        """device is a jax.Device, training starts False, the backend flag follows config.jax.backend."""
        model = Model(1, 1, device="cpu")
        assert isinstance(model.device, jax.Device) and model.device.platform == "cpu"
        assert model.training is False and model._jax is False

    def test_invalid_device_is_an_error(self):
        """A malformed device string is a ValueError, not a silent fallback."""
        with pytest.raises(ValueError, match="invalid device"):
            Model(1, 1, device="gpu 0")

    def test_base_act_explains_what_to_do(self):
        """The base act says to put mixins before Model."""
        with pytest.raises(NotImplementedError, match="mixin before Model"):
            Model(1, 1).act({"states": jnp.zeros((1, 1))})

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

    def test_init_state_dict_does_not_modify_the_callers_inputs(self, box_obs, box_act):
        """Given inputs are shallow-copied (no "key" added)."""
        inputs = {"states": jnp.zeros((1, 5))}
        GaussianPolicy(box_obs, box_act).init_state_dict("policy", inputs)
        assert list(inputs) == ["states"]

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


class TestMode:
    def test_set_mode(self):
        """'eval' clears training, 'train' sets it, anything else is a ValueError."""
        model = Model(1, 1)
        model.set_mode("train")
        assert model.training is True
        model.set_mode("eval")
        assert model.training is False
        with pytest.raises(ValueError, match="'x'"):
            model.set_mode("x")


class TestSaveLoad:
    def test_round_trip_restores_parameters_and_sets_eval_mode(self, tmp_path, box_obs, box_act, states):
        """A loaded model acts exactly like the saved one (same mean actions) and is in eval mode."""
        source, target = build(GaussianPolicy, box_obs, box_act), build(GaussianPolicy, box_obs, box_act)
        path = tmp_path / "policy.flax"
        source.save(path)
        target.set_mode("train")
        target.load(path)
        assert target.training is False
        for want, got in zip(
            jax.tree_util.tree_leaves(source.state_dict.params),
            jax.tree_util.tree_leaves(target.state_dict.params),
            strict=True,
        ):
            np.testing.assert_array_equal(want, got)

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

    def test_checkpoint_of_another_architecture_is_refused(self, tmp_path, box_obs, box_act):
        """A tree with other shapes is refused with the mismatching path; the model is unchanged."""
        model = build(GaussianPolicy, box_obs, box_act)
        build(GaussianPolicy, gymnasium.spaces.Box(-1, 1, (7,)), box_act).save(tmp_path / "other.flax")
        before = model.state_dict
        with pytest.raises(ValueError, match=r"other.flax.*\['params'\]\['hidden'\]\['kernel'\]: \(5, 8\)"):
            model.load(tmp_path / "other.flax")
        assert model.state_dict is before


class TestParameterUpdates:
    def test_polyak_average_per_leaf(self, box_obs, box_act):
        """polyak=0.25 gives 0.75 * target + 0.25 * source for every leaf."""
        target, source = build(GaussianPolicy, box_obs, box_act), build(GaussianPolicy, box_obs, box_act)
        expected = 0.75 * params_of(target, "mean", "kernel") + 0.25 * params_of(source, "mean", "kernel")
        target.update_parameters(source, polyak=0.25)
        np.testing.assert_allclose(params_of(target, "mean", "kernel"), expected, rtol=1e-6)

    def test_hard_update_copies(self, box_obs, box_act):
        """polyak=1 copies the source parameters."""
        target, source = build(GaussianPolicy, box_obs, box_act), build(GaussianPolicy, box_obs, box_act)
        target.update_parameters(source)
        np.testing.assert_array_equal(params_of(target, "hidden", "kernel"), params_of(source, "hidden", "kernel"))

    def test_mismatched_architectures_are_rejected(self, box_obs, box_act):
        """Different leaves or shapes are a ValueError naming them, never a silent truncation."""
        target = build(GaussianPolicy, box_obs, box_act)
        with pytest.raises(ValueError, match=r"missing in source: \[\"\['params'\]\['log_std'\]\"\]"):
            target.update_parameters(build(GaussianPolicy, box_obs, box_act, state_dependent=True))
        with pytest.raises(ValueError, match="shape/dtype mismatches"):
            target.update_parameters(build(GaussianPolicy, gymnasium.spaces.Box(-1, 1, (6,)), box_act))

    @pytest.mark.parametrize("polyak", [0, -0.1, 1.5, "0.5", True])
    def test_polyak_outside_zero_one_is_rejected(self, box_obs, box_act, polyak):
        """polyak must be a number in (0, 1]."""
        model = build(GaussianPolicy, box_obs, box_act)
        with pytest.raises(ValueError, match="polyak must be a number in"):
            model.update_parameters(model, polyak=polyak)

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
        """init_biases() with the seed default ("constant_") works and gives 0; kernels untouched."""
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

    @pytest.mark.parametrize("name", ["no_such", "Initializer", "_private", "__import__('os')"])
    def test_unknown_initializer_is_rejected(self, name):
        """Only public flax.linen.initializers functions are accepted; the error lists them."""
        model = TwinLayers()
        model.init_state_dict("net")
        with pytest.raises(ValueError, match="unknown initializer.*orthogonal"):
            model.init_weights(name)


class TestRandomAct:
    def test_box_samples_lie_in_each_dimension_of_the_box(self, box_act):
        """low=[-1, 0, 5], high=[1, 1, 6]: each dimension its own bounds; float32 like the space."""
        actions, log_prob, outputs = Model(5, box_act).random_act({"states": np.zeros((1000, 5))})
        assert isinstance(actions, np.ndarray) and actions.shape == (1000, 3) and actions.dtype == np.float32
        assert log_prob is None and outputs == {}
        assert (actions.min(0) >= [-1, 0, 5]).all() and (actions.max(0) <= [1, 1, 6]).all()
        assert actions[:, 2].max() > 5.9 and actions[:, 2].min() < 5.1

    def test_discrete_with_start(self):
        """Discrete(3, start=2): (N, 1) in 2..4 with the space dtype."""
        actions = Model(1, gymnasium.spaces.Discrete(3, start=2)).random_act({"states": np.zeros((500, 1))})[0]
        assert actions.shape == (500, 1) and actions.dtype == np.int64
        assert set(actions.ravel().tolist()) == {2, 3, 4}

    def test_multidiscrete_gives_one_column_per_component(self):
        """MultiDiscrete([5, 3, 2]) -> (N, 3) within each component's range."""
        actions = Model(1, gymnasium.spaces.MultiDiscrete([5, 3, 2])).random_act({"states": np.zeros((200, 1))})[0]
        assert actions.shape == (200, 3)
        assert (actions.max(0) <= [4, 2, 1]).all() and (actions >= 0).all()

    def test_unbounded_box_is_rejected(self):
        """Infinite bounds cannot be sampled uniformly: ValueError naming the dimensions."""
        space = gymnasium.spaces.Box(np.array([-1.0, -np.inf], np.float32), np.array([1.0, 1.0], np.float32))
        with pytest.raises(ValueError, match=r"dimensions \[1\] have infinite bounds"):
            Model(1, space).random_act({"states": np.zeros((2, 1))})

    def test_jax_backend_returns_jax_arrays(self, box_act, monkeypatch):
        """With config.jax.backend == "jax" (at construction) the actions are jax.Arrays."""
        monkeypatch.setattr(mixrl.config.jax, "_backend", "jax")
        actions = Model(5, box_act).random_act({"states": np.zeros((4, 5))})[0]
        assert isinstance(actions, jax.Array) and actions.shape == (4, 3)

    def test_two_models_draw_different_random_actions(self, box_act):
        """Each model's generator is seeded from its own key."""
        states = {"states": np.zeros((8, 5))}
        assert not np.allclose(Model(5, box_act).random_act(states)[0], Model(5, box_act).random_act(states)[0])


class TestSeedHelpers:
    def test_tensor_to_space_dict_in_sorted_key_order(self):
        """The seed example: Dict(a=Box(2, 3), b=Discrete(4)) from a flat row of 7 values."""
        space = gymnasium.spaces.Dict({"b": gymnasium.spaces.Discrete(4), "a": gymnasium.spaces.Box(-1, 1, (2, 3))})
        result = Model(1, 1).tensor_to_space(jnp.array([[-0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 2]]), space)
        np.testing.assert_allclose(result["a"], [[[-0.3, -0.2, -0.1], [0.1, 0.2, 0.3]]])
        np.testing.assert_allclose(result["b"], [[2.0]])

    def test_get_space_size_number_of_elements_flag(self):
        """number_of_elements=False is the occupied width (Discrete -> 1, MultiDiscrete -> len(nvec))."""
        model = Model(1, 1)
        assert model._get_space_size(gymnasium.spaces.Discrete(4)) == 4
        assert model._get_space_size(gymnasium.spaces.Discrete(4), number_of_elements=False) == 1
        assert model._get_space_size(gymnasium.spaces.MultiDiscrete([5, 3, 2]), number_of_elements=False) == 3

    def test_specification(self):
        """get_specification() is {} for a plain model."""
        assert Model(1, 1).get_specification() == {}


class TestImport:
    def test_missing_jax_names_the_extra(self):
        """Without jax/flax, importing mixrl.models.jax says: pip install 'mixrl[jax]'."""
        code = (
            "import sys; sys.modules['flax'] = None\ntry:\n import mixrl.models.jax\nexcept ImportError as e: print(e)"
        )
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert "pip install 'mixrl[jax]'" in output
