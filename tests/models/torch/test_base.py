import os

import pytest
import torch

from mixrl.models.torch import Model

from .models import GaussianPolicy


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
    def test_unusable_device_is_an_error(self):
        """A well-formed device this machine does not have is a ValueError."""
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        with pytest.raises(ValueError, match="not usable"):
            Model(1, 1, device="cuda:0")

    def test_compute_of_the_base_class_is_not_implemented(self):
        with pytest.raises(NotImplementedError):
            Model(1, 1, device="cpu").compute({"states": torch.zeros(1, 1)})


class TestSaveLoad:
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


class TestFreeze:
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

    @pytest.mark.parametrize("name", ["calculate_gain", "_no_grad_fill_"])
    def test_helpers_and_private_functions_of_torch_nn_init_are_rejected(self, name):
        """Only torch.nn.init's public in-place initialisers are accepted; the error lists them."""
        with pytest.raises(ValueError, match="unknown initializer.*orthogonal_"):
            Nested().init_weights(name)


class TestInitStateDict:
    def test_init_state_dict_materialises_lazy_layers(self, box_obs, box_act):
        """init_state_dict with sampled inputs runs compute: it materialises a lazy layer."""

        class Lazy(GaussianPolicy):
            def __init__(self):
                super().__init__(box_obs, box_act)
                self.mean = torch.nn.LazyLinear(3)

        model = Lazy()
        model.init_state_dict("policy")
        assert model.mean.weight.shape == (3, 8)
