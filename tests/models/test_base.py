"""The base ``Model`` on both backends: sizes, modes, save/load, parameter updates, initialisers, random_act."""

import gymnasium
import numpy as np
import pytest

from .conftest import HIGH, LOW, N


def assert_same_weights(first, second):
    assert first.keys() == second.keys()
    for name, value in first.items():
        np.testing.assert_array_equal(value, second[name], err_msg=name)


def random_weights(backend, model, seed):
    """Distinct random values for every weight of ``model`` (Flax names and layout)."""
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=v.shape).astype(np.float32) for k, v in backend.weights(model).items()}


class TestConstruction:
    def test_sizes_from_spaces(self, backend):
        """num_observations / num_actions are numbers of elements (Discrete(4) -> 4 logits)."""
        model = backend.Model(gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,)))
        assert (model.num_observations, model.num_actions) == (5, 3)
        assert backend.Model(5, gymnasium.spaces.Discrete(4)).num_actions == 4
        assert backend.Model([2, 3], None).num_observations == 6
        assert backend.Model(None, None).num_actions is None

    def test_invalid_device_string_is_an_error(self, backend):
        """A malformed device string is a ValueError, not a silent fallback."""
        with pytest.raises(ValueError, match="invalid device"):
            backend.Model(1, 1, device="gpu 0")

    def test_base_act_explains_what_to_do(self, backend):
        """The base act says to put mixins before Model."""
        with pytest.raises(NotImplementedError, match="mixin before Model"):
            backend.act(backend.Model(1, 1), {"states": np.zeros((1, 1))}, role="")

    def test_specification_of_a_plain_model_is_empty(self, backend):
        assert backend.Model(1, 1).get_specification() == {}


class TestMode:
    def test_set_mode(self, backend):
        """'eval' clears training, 'train' sets it, anything else is a ValueError."""
        model = backend.Model(1, 1)
        model.set_mode("eval")
        assert model.training is False
        model.set_mode("train")
        assert model.training is True
        with pytest.raises(ValueError, match="'x'"):
            model.set_mode("x")


class TestSaveLoad:
    def test_round_trip_restores_every_weight_and_sets_eval_mode(self, backend, tmp_path, box_obs, box_act, states):
        """A loaded model has the saved weights, acts like the saved one (same mean actions) and is in eval mode."""
        source, target = (backend.build("GaussianPolicy", box_obs, box_act) for _ in range(2))
        backend.set_weights(source, **random_weights(backend, source, 0))
        source.save(tmp_path / "policy.ckpt")
        target.set_mode("train")
        target.load(tmp_path / "policy.ckpt")
        assert target.training is False
        assert_same_weights(backend.weights(target), backend.weights(source))
        np.testing.assert_allclose(
            backend.act(target, {"states": states})[2]["mean_actions"],
            backend.act(source, {"states": states})[2]["mean_actions"],
            atol=1e-6,
        )

    def test_checkpoint_of_another_architecture_is_refused_and_changes_nothing(
        self, backend, tmp_path, box_obs, box_act
    ):
        """Other shapes: ValueError naming the file, before any weight is copied."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        backend.build("GaussianPolicy", gymnasium.spaces.Box(-1, 1, (7,)), box_act).save(tmp_path / "other.ckpt")
        before = backend.weights(model)
        with pytest.raises(ValueError, match="other.ckpt"):
            model.load(tmp_path / "other.ckpt")
        assert_same_weights(backend.weights(model), before)

    def test_truncated_file_is_a_value_error_naming_it(self, backend, tmp_path, box_obs, box_act):
        """A cut-off checkpoint gives a ValueError naming the file."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        path = tmp_path / "policy.ckpt"
        model.save(path)
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(ValueError, match="policy.ckpt"):
            model.load(path)


class TestParameterUpdates:
    def test_soft_update_moves_the_target_by_polyak_towards_the_source(self, backend, box_obs, box_act):
        """polyak = 0.3: target <- 0.7 target + 0.3 source for every weight (a swapped pair would give 0.3 / 0.7)."""
        target, source = (backend.build("GaussianPolicy", box_obs, box_act) for _ in range(2))
        target_weights, source_weights = random_weights(backend, target, 1), random_weights(backend, source, 2)
        backend.set_weights(target, **target_weights)
        backend.set_weights(source, **source_weights)
        target.update_parameters(source, polyak=0.3)
        for name, value in backend.weights(target).items():
            np.testing.assert_allclose(value, 0.7 * target_weights[name] + 0.3 * source_weights[name], rtol=1e-5)
        assert_same_weights(backend.weights(source), source_weights)  # the source is left alone

    def test_hard_update_copies(self, backend, box_obs, box_act):
        """polyak=1 copies the source weights."""
        target, source = (backend.build("GaussianPolicy", box_obs, box_act) for _ in range(2))
        backend.set_weights(source, **random_weights(backend, source, 3))
        target.update_parameters(source)
        assert_same_weights(backend.weights(target), backend.weights(source))

    def test_mismatched_architectures_are_rejected(self, backend, box_obs, box_act):
        """Different names or shapes are a ValueError naming them, never a silent truncation."""
        target = backend.build("GaussianPolicy", box_obs, box_act)
        with pytest.raises(ValueError, match="missing in source"):
            target.update_parameters(backend.build("GaussianPolicy", box_obs, box_act, state_dependent=True))
        with pytest.raises(ValueError, match="shape.*mismatches"):
            target.update_parameters(backend.build("GaussianPolicy", gymnasium.spaces.Box(-1, 1, (6,)), box_act))

    @pytest.mark.parametrize("polyak", [0, -0.1, 1.5, "0.5", True])
    def test_polyak_outside_zero_one_is_rejected(self, backend, box_obs, box_act, polyak):
        """polyak must be a number in (0, 1]."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        with pytest.raises(ValueError, match="polyak must be a number in"):
            model.update_parameters(model, polyak=polyak)

    def test_freeze_and_unfreeze_keep_the_weights_and_the_outputs(self, backend, box_obs, box_act, states):
        """freeze_parameters(True) then (False) leaves every weight and the mean actions as they were."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        before, mean = backend.weights(model), backend.act(model, {"states": states})[2]["mean_actions"]
        model.freeze_parameters(True)
        np.testing.assert_array_equal(backend.act(model, {"states": states})[2]["mean_actions"], mean)
        model.freeze_parameters(False)
        assert_same_weights(backend.weights(model), before)


class TestInitializers:
    def test_weights_and_biases_initialisers_with_torch_style_names(self, backend, box_obs, box_act):
        """init_weights('normal_', std=0) zeroes every kernel, init_biases('constant_', val=2) fills every bias,
        init_biases() gives zeros; other weights are untouched."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        log_std = backend.weights(model)["log_std"]
        model.init_weights("normal_", std=0.0)
        model.init_biases("constant_", val=2.0)
        weights = backend.weights(model)
        assert all((weights[k] == 0).all() for k in ("hidden.kernel", "mean.kernel"))
        assert all((weights[k] == 2).all() for k in ("hidden.bias", "mean.bias"))
        np.testing.assert_array_equal(weights["log_std"], log_std)
        model.init_biases()
        assert all((backend.weights(model)[k] == 0).all() for k in ("hidden.bias", "mean.bias"))

    def test_init_parameters_reaches_every_weight(self, backend, box_obs, box_act):
        """init_parameters('constant_', 1.5) sets every weight, log-std included."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        model.init_parameters("constant_", 1.5)
        assert all((value == 1.5).all() for value in backend.weights(model).values())

    @pytest.mark.parametrize("name", ["no_such", "__import__('os')"])
    def test_unknown_initializer_is_rejected(self, backend, box_obs, box_act, name):
        """Only the framework's public initialisers are accepted; the error lists them."""
        model = backend.build("GaussianPolicy", box_obs, box_act)
        with pytest.raises(ValueError, match="unknown initializer.*orthogonal"):
            model.init_weights(name)


class TestInitStateDict:
    def test_explicit_inputs_are_not_modified(self, backend, box_obs, box_act):
        """init_state_dict works on given inputs and never adds keys to the caller's dict."""
        model = backend.models.GaussianPolicy(box_obs, box_act)
        inputs = {"states": backend.array(np.zeros((1, 5)))}
        model.init_state_dict("policy", inputs)
        assert list(inputs) == ["states"]
        assert backend.act(model, {"states": np.zeros((N, 5))})[0].shape == (N, 3)

    def test_sampled_inputs_materialise_every_role_of_a_shared_model(self, backend, states):
        """Without inputs, init_state_dict runs on space samples for every registered role; both roles then act."""
        model = backend.models.SharedActorCritic(5, gymnasium.spaces.Box(-1, 1, (3,)))
        model.init_state_dict("policy")
        assert backend.act(model, {"states": states}, role="value")[0].shape == (N, 1)
        assert backend.act(model, {"states": states}, role="policy")[0].shape == (N, 3)


class TestRandomAct:
    def test_box_samples_lie_in_each_dimension_of_the_box(self, backend, box_act):
        """low=[-1, 0, 5], high=[1, 1, 6]: each dimension its own bounds, float32, (actions, None, {})."""
        actions, log_prob, outputs = backend.act(
            backend.Model(5, box_act), {"states": np.zeros((1000, 5))}, method="random_act"
        )
        assert actions.shape == (1000, 3) and actions.dtype == np.float32
        assert log_prob is None and outputs == {}
        assert (actions.min(0) >= LOW).all() and (actions.max(0) <= HIGH).all()
        assert actions[:, 2].max() > 5.9 and actions[:, 2].min() < 5.1  # really spread over [5, 6]

    def test_discrete_gives_an_int64_column_with_start(self, backend):
        """Discrete(3, start=2): (N, 1) int64 in 2..4."""
        model = backend.Model(1, gymnasium.spaces.Discrete(3, start=2))
        actions = backend.act(model, {"states": np.zeros((500, 1))}, method="random_act")[0]
        assert actions.shape == (500, 1) and actions.dtype == np.int64
        assert set(actions.ravel().tolist()) == {2, 3, 4}

    def test_multidiscrete_gives_one_column_per_component(self, backend):
        """MultiDiscrete([5, 3, 2]) -> (N, 3) within each component's range."""
        model = backend.Model(1, gymnasium.spaces.MultiDiscrete([5, 3, 2]))
        actions = backend.act(model, {"states": np.zeros((200, 1))}, method="random_act")[0]
        assert actions.shape == (200, 3) and (actions.max(0) <= [4, 2, 1]).all() and (actions >= 0).all()

    def test_unbounded_box_is_rejected(self, backend):
        """Infinite bounds cannot be sampled uniformly: ValueError naming the dimensions."""
        space = gymnasium.spaces.Box(np.array([-1.0, -np.inf], np.float32), np.array([1.0, 1.0], np.float32))
        with pytest.raises(ValueError, match=r"dimensions \[1\] have infinite bounds"):
            backend.act(backend.Model(1, space), {"states": np.zeros((2, 1))}, method="random_act")


class TestSeedHelpers:
    def test_tensor_to_space_dict_in_sorted_key_order(self, backend):
        """The seed example: Dict(a=Box(2, 3), b=Discrete(4)) from a flat row of 7 values."""
        space = gymnasium.spaces.Dict({"b": gymnasium.spaces.Discrete(4), "a": gymnasium.spaces.Box(-1, 1, (2, 3))})
        row = backend.array(np.array([[-0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 2]], np.float32))
        result = backend.Model(1, 1).tensor_to_space(row, space)
        np.testing.assert_allclose(backend.numpy(result["a"]), [[[-0.3, -0.2, -0.1], [0.1, 0.2, 0.3]]], rtol=1e-6)
        np.testing.assert_allclose(backend.numpy(result["b"]), [[2.0]])

    def test_get_space_size_number_of_elements_flag(self, backend):
        """number_of_elements=False is the occupied width (Discrete -> 1, MultiDiscrete -> len(nvec))."""
        model = backend.Model(1, 1)
        assert model._get_space_size(gymnasium.spaces.Discrete(4)) == 4
        assert model._get_space_size(gymnasium.spaces.Discrete(4), number_of_elements=False) == 1
        assert model._get_space_size(gymnasium.spaces.MultiDiscrete([5, 3, 2]), number_of_elements=False) == 3
