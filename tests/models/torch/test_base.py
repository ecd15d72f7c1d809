import os

import gymnasium
import numpy as np
import pytest
import torch

from mixrl.models.torch import Model

from .conftest import GaussianPolicy


class Nested(Model):
    """Linear layers hidden in a ModuleList, a ModuleDict and a custom sub-module."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Linear(3, 3)

    def __init__(self):
        Model.__init__(self, 3, 3, "cpu")
        self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 3), torch.nn.Linear(3, 3, bias=False)])
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 3)})
        self.block = self.Block()

    def linears(self):
        return [self.layers[0], self.layers[1], self.heads["a"], self.block.inner]


class TestConstruction:
    def test_sizes_from_spaces(self):
        """num_observations / num_actions are numbers of elements (Discrete(4) -> 4 logits)."""
        model = Model(gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,)), device="cpu")
        assert (model.num_observations, model.num_actions) == (5, 3)
        assert Model(5, gymnasium.spaces.Discrete(4), device="cpu").num_actions == 4
        assert Model([2, 3], None, device="cpu").num_observations == 6
        assert Model(None, None, device="cpu").num_actions is None

    def test_invalid_device_string_is_an_error(self):
        """A device string torch cannot parse is a ValueError, not a silent fallback."""
        with pytest.raises(ValueError, match="invalid device 'gpu0'"):
            Model(1, 1, device="gpu0")

    def test_unusable_device_is_an_error(self):
        """A well-formed device this machine does not have is a ValueError."""
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        with pytest.raises(ValueError, match="not usable"):
            Model(1, 1, device="cuda:0")

    def test_act_and_compute_of_the_base_class_explain_what_to_do(self):
        """The base act says to put mixins before Model."""
        model = Model(1, 1, device="cpu")
        with pytest.raises(NotImplementedError, match="mixin before Model"):
            model.act({"states": torch.zeros(1, 1)})
        with pytest.raises(NotImplementedError):
            model.compute({"states": torch.zeros(1, 1)})


class TestMode:
    def test_set_mode(self):
        """'eval' clears training, 'train' sets it, anything else is a ValueError."""
        model = Model(1, 1, device="cpu")
        model.set_mode("eval")
        assert model.training is False
        model.set_mode("train")
        assert model.training is True
        with pytest.raises(ValueError, match="'x'"):
            model.set_mode("x")


class TestSaveLoad:
    def test_round_trip_restores_parameters_and_sets_eval_mode(self, tmp_path, box_obs, box_act):
        """A loaded model acts exactly like the saved one (same mean actions) and is in eval mode."""
        source, target = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        source.save(path)
        target.load(path)
        states = torch.randn(4, 5)
        torch.testing.assert_close(
            target.act({"states": states})[2]["mean_actions"], source.act({"states": states})[2]["mean_actions"]
        )
        assert target.training is False

    def test_save_writes_a_given_state_dict(self, tmp_path, box_obs, box_act):
        """save(path, state_dict) writes that state dict, not the current parameters."""
        model = GaussianPolicy(box_obs, box_act)
        old = {k: v.clone() for k, v in model.state_dict().items()}
        model.init_parameters("constant_", 3.0)
        model.save(tmp_path / "old.pt", old)
        model.load(tmp_path / "old.pt")
        torch.testing.assert_close(model.state_dict()["log_std"], old["log_std"])

    def test_save_is_atomic(self, tmp_path, box_obs, box_act, monkeypatch):
        """A save that fails half-way leaves the previous file intact and no temporary file behind."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        model.save(path)
        before = path.read_bytes()

        def broken_save(obj, file):
            file.write(b"partial")
            raise OSError("disk full")

        monkeypatch.setattr(torch, "save", broken_save)
        with pytest.raises(OSError, match="disk full"):
            model.save(path)
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["policy.pt"]

    def test_a_pickle_that_would_run_code_is_refused(self, tmp_path, box_obs, box_act):
        """weights_only=True (the default) refuses the file and nothing runs; the model is unchanged."""
        marker = tmp_path / "pwned"

        class Exploit:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        path = tmp_path / "evil.pt"
        torch.save({"log_std": Exploit()}, path)
        model = GaussianPolicy(box_obs, box_act)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(ValueError, match="refusing to load"):
            model.load(path)
        assert not marker.exists()
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, before[key])

    def test_mismatched_checkpoint_names_the_problem_and_changes_nothing(self, tmp_path, box_obs, box_act):
        """A checkpoint of another architecture is refused before any tensor is copied."""
        model = GaussianPolicy(box_obs, box_act)
        state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
        state["mean.weight"] = torch.zeros(7, 16)
        torch.save(state, tmp_path / "other.pt")
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(ValueError, match=r"mean.weight: expected shape \[3, 16\], got \[7, 16\]"):
            model.load(tmp_path / "other.pt")
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, before[key])

    def test_truncated_file_is_a_clear_error(self, tmp_path, box_obs, box_act):
        """A cut-off checkpoint gives a ValueError naming the file."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        model.save(path)
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(ValueError, match="policy.pt: not a readable torch checkpoint"):
            model.load(path)


class TestParameterUpdates:
    def test_polyak_average_per_named_parameter(self, box_obs, box_act):
        """polyak=0.5 gives 0.5 * target + 0.5 * source for every parameter."""
        target, source = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        expected = {k: 0.5 * v + 0.5 * source.state_dict()[k] for k, v in target.state_dict().items()}
        target.update_parameters(source, polyak=0.5)
        for key, value in target.state_dict().items():
            torch.testing.assert_close(value, expected[key])

    def test_hard_update_copies(self, box_obs, box_act):
        """polyak=1 copies the source parameters."""
        target, source = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        target.update_parameters(source)
        for key, value in target.state_dict().items():
            torch.testing.assert_close(value, source.state_dict()[key])

    def test_mismatched_architectures_are_rejected(self, box_obs, box_act):
        """Different parameter names or shapes are a ValueError, never a silent truncation."""
        target = GaussianPolicy(box_obs, box_act)
        with pytest.raises(ValueError, match="missing in source"):
            target.update_parameters(GaussianPolicy(box_obs, box_act, state_dependent=True))
        with pytest.raises(ValueError, match="shape mismatches"):
            target.update_parameters(GaussianPolicy(gymnasium.spaces.Box(-1, 1, (6,)), box_act))

    @pytest.mark.parametrize("polyak", [0, -0.1, 1.5, "0.5"])
    def test_polyak_outside_zero_one_is_rejected(self, box_obs, box_act, polyak):
        """polyak must be a number in (0, 1]."""
        model = GaussianPolicy(box_obs, box_act)
        with pytest.raises(ValueError, match="polyak must be a number in"):
            model.update_parameters(GaussianPolicy(box_obs, box_act), polyak=polyak)

    def test_freeze_then_unfreeze_restores_the_original_flags(self, box_obs, box_act):
        """A parameter fixed on purpose stays fixed after freeze_parameters(True) then (False)."""
        model = GaussianPolicy(box_obs, box_act)
        model.log_std.requires_grad_(False)
        model.freeze_parameters(True)
        assert not any(p.requires_grad for p in model.parameters())
        model.freeze_parameters(True)  # twice: still remembers the original flags
        model.freeze_parameters(False)
        assert model.log_std.requires_grad is False
        assert model.mean.weight.requires_grad is True


class TestInitializers:
    def test_init_weights_reaches_linear_layers_in_any_sub_module(self):
        """ModuleList, ModuleDict and custom sub-modules are all visited."""
        model = Nested()
        model.init_weights("normal_", std=0.0)
        model.init_biases("constant_", val=2.0)
        for layer in model.linears():
            assert layer.weight.abs().max() == 0
            if layer.bias is not None:
                assert (layer.bias == 2.0).all()

    def test_names_with_or_without_trailing_underscore(self):
        """'constant' and 'constant_' are the same initialiser; init_biases() defaults to zeros."""
        model = Nested()
        model.init_parameters("constant", 1.5)
        assert all((p == 1.5).all() for p in model.parameters())
        model.init_biases()
        assert all((layer.bias == 0).all() for layer in model.linears() if layer.bias is not None)

    @pytest.mark.parametrize("name", ["no_such", "calculate_gain", "_no_grad_fill_", "__import__('os')"])
    def test_unknown_initializer_is_rejected(self, name):
        """Only torch.nn.init's public in-place initialisers are accepted; the error lists them."""
        with pytest.raises(ValueError, match="unknown initializer.*orthogonal_"):
            Nested().init_weights(name)


class TestRandomAct:
    def test_box_samples_lie_in_each_dimension_of_the_box(self, box_act):
        """low=[-1, 0, 5], high=[1, 1, 6]: each dimension uses its own bounds."""
        model = Model(5, box_act, device="cpu")
        actions, log_prob, outputs = model.random_act({"states": torch.zeros(1000, 5)})
        assert actions.shape == (1000, 3) and actions.dtype == torch.float32
        assert log_prob is None and outputs == {}
        low, high = actions.min(0).values, actions.max(0).values
        assert (low >= torch.tensor([-1.0, 0.0, 5.0])).all() and (high <= torch.tensor([1.0, 1.0, 6.0])).all()
        assert high[2] > 5.9 and low[2] < 5.1  # the third dimension is really spread over [5, 6]

    def test_discrete_gives_int64_column_with_start(self):
        """Discrete(3, start=2): (N, 1) int64 in 2..4."""
        actions = Model(1, gymnasium.spaces.Discrete(3, start=2), device="cpu").random_act(
            {"states": torch.zeros(500, 1)}
        )[0]
        assert actions.shape == (500, 1) and actions.dtype == torch.int64
        assert set(actions.flatten().tolist()) == {2, 3, 4}

    def test_multidiscrete_gives_one_column_per_component(self):
        """MultiDiscrete([5, 3, 2]) -> (N, 3) within each component's range."""
        actions = Model(1, gymnasium.spaces.MultiDiscrete([5, 3, 2]), device="cpu").random_act(
            {"states": torch.zeros(200, 1)}
        )[0]
        assert actions.shape == (200, 3)
        assert (actions.max(0).values <= torch.tensor([4, 2, 1])).all() and (actions >= 0).all()

    def test_unbounded_box_is_rejected(self):
        """Infinite bounds cannot be sampled uniformly: ValueError naming the dimensions."""
        space = gymnasium.spaces.Box(np.array([-1.0, -np.inf], np.float32), np.array([1.0, 1.0], np.float32))
        with pytest.raises(ValueError, match=r"dimensions \[1\] have infinite bounds"):
            Model(1, space, device="cpu").random_act({"states": torch.zeros(2, 1)})


class TestSeedHelpers:
    def test_tensor_to_space_dict_in_sorted_key_order(self):
        """The seed example: Dict(a=Box(2, 3), b=Discrete(4)) from a flat row of 7 values."""
        space = gymnasium.spaces.Dict({"b": gymnasium.spaces.Discrete(4), "a": gymnasium.spaces.Box(-1, 1, (2, 3))})
        tensor = torch.tensor([[-0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 2]])
        result = Model(1, 1, device="cpu").tensor_to_space(tensor, space)
        torch.testing.assert_close(result["a"], torch.tensor([[[-0.3, -0.2, -0.1], [0.1, 0.2, 0.3]]]))
        torch.testing.assert_close(result["b"], torch.tensor([[2.0]]))

    def test_get_space_size_number_of_elements_flag(self):
        """number_of_elements=False is the occupied width (Discrete -> 1, MultiDiscrete -> len(nvec))."""
        model = Model(1, 1, device="cpu")
        assert model._get_space_size(gymnasium.spaces.Discrete(4)) == 4
        assert model._get_space_size(gymnasium.spaces.Discrete(4), number_of_elements=False) == 1
        assert model._get_space_size(gymnasium.spaces.MultiDiscrete([5, 3, 2]), number_of_elements=False) == 3

    def test_init_state_dict_runs_compute_for_every_role(self, box_obs, box_act):
        """init_state_dict with sampled inputs runs compute (here: materialises a lazy layer)."""

        class Lazy(GaussianPolicy):
            def __init__(self):
                super().__init__(box_obs, box_act)
                self.mean = torch.nn.LazyLinear(3)

        model = Lazy()
        model.init_state_dict("policy")
        assert model.mean.weight.shape == (3, 16)
