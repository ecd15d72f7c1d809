"""Legacy-era checkpoints (net.N.*, mean_net.*, value_net.*) load into current instantiated models."""

import gymnasium
import pytest
import torch

from mixrl.checkpoints import is_legacy_layout, legacy_to_instantiated
from mixrl.utils.model_instantiators.torch import Shape, gaussian_model, shared_model

OBS, ACT = gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Box(-1, 1, (2,))


def legacy_gaussian_state() -> dict:
    """What a skrl 1.1 ``gaussian_model(hiddens=[32, 32])`` saved: log-std first, then ``net.0/2/4``."""
    g = torch.Generator().manual_seed(0)
    return {
        "log_std_parameter": torch.randn(2, generator=g),
        "net.0.weight": torch.randn(32, 4, generator=g),
        "net.0.bias": torch.randn(32, generator=g),
        "net.2.weight": torch.randn(32, 32, generator=g),
        "net.2.bias": torch.randn(32, generator=g),
        "net.4.weight": torch.randn(2, 32, generator=g),
        "net.4.bias": torch.randn(2, generator=g),
    }


def legacy_shared_state() -> dict:
    """A skrl 1.1 shared policy/value model: trunk ``net``, heads ``mean_net.0`` and ``value_net.0``."""
    g = torch.Generator().manual_seed(1)
    return {
        "log_std_parameter": torch.randn(2, generator=g),
        "net.0.weight": torch.randn(32, 4, generator=g),
        "net.0.bias": torch.randn(32, generator=g),
        "net.2.weight": torch.randn(32, 32, generator=g),
        "net.2.bias": torch.randn(32, generator=g),
        "mean_net.0.weight": torch.randn(2, 32, generator=g),
        "mean_net.0.bias": torch.randn(2, generator=g),
        "value_net.0.weight": torch.randn(1, 32, generator=g),
        "value_net.0.bias": torch.randn(1, generator=g),
    }


def build_shared():
    return shared_model(
        OBS,
        ACT,
        device="cpu",
        roles=["policy", "value"],
        parameters=[{"hiddens": [32, 32]}, {"hiddens": [32, 32], "output_shape": Shape.ONE}],
    )


class TestLoad:
    def test_legacy_gaussian_checkpoint_loads_into_the_instantiated_model(self, tmp_path):
        """net.N.* lands in net_container.N.*; the model acts with the legacy weights."""
        state = legacy_gaussian_state()
        torch.save(state, tmp_path / "legacy.pt")
        model = gaussian_model(OBS, ACT, device="cpu", hiddens=[32, 32])
        model.load(tmp_path / "legacy.pt")
        own = model.state_dict()
        for i in (0, 2, 4):
            torch.testing.assert_close(own[f"net_container.{i}.weight"], state[f"net.{i}.weight"])
            torch.testing.assert_close(own[f"net_container.{i}.bias"], state[f"net.{i}.bias"])
        torch.testing.assert_close(own["log_std_parameter"], state["log_std_parameter"])
        assert model.training is False

    def test_legacy_shared_checkpoint_maps_heads_by_role(self, tmp_path):
        """mean_net goes to the first role's head (policy_layer), value_net to the second's (value_layer)."""
        state = legacy_shared_state()
        torch.save(state, tmp_path / "legacy.pt")
        model = build_shared()
        model.load(tmp_path / "legacy.pt")
        own = model.state_dict()
        torch.testing.assert_close(own["policy_layer.weight"], state["mean_net.0.weight"])
        torch.testing.assert_close(own["value_layer.bias"], state["value_net.0.bias"])
        torch.testing.assert_close(own["net_container.2.weight"], state["net.2.weight"])

    def test_legacy_checkpoint_of_another_architecture_names_the_mismatch(self, tmp_path):
        """A legacy checkpoint with 64 hidden units: ValueError naming legacy and current entries; model unchanged."""
        state = legacy_gaussian_state()
        state["net.0.weight"] = torch.zeros(64, 4)
        torch.save(state, tmp_path / "legacy.pt")
        model = gaussian_model(OBS, ACT, device="cpu", hiddens=[32, 32])
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(
            ValueError, match=r"legacy-era .* net\.0\.weight \[64, 4\] vs net_container\.0\.weight \[32, 4\]"
        ):
            model.load(tmp_path / "legacy.pt")
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, before[key])

    def test_other_mismatched_checkpoints_keep_the_usual_error(self, tmp_path):
        """A checkpoint with foreign names that is not legacy-era: the existing 'missing/unexpected entries' error."""
        torch.save({"actor.weight": torch.zeros(2, 4)}, tmp_path / "other.pt")
        model = gaussian_model(OBS, ACT, device="cpu", hiddens=[32, 32])
        with pytest.raises(ValueError, match=r"missing entries .* unexpected entries \['actor.weight'\]"):
            model.load(tmp_path / "other.pt")

    def test_current_checkpoints_load_as_before(self, tmp_path):
        """save/load of an instantiated model is untouched by the legacy-era path."""
        source = gaussian_model(OBS, ACT, device="cpu", hiddens=[32, 32])
        target = gaussian_model(OBS, ACT, device="cpu", hiddens=[32, 32])
        torch.save(source.state_dict(), tmp_path / "current.pt")
        target.load(tmp_path / "current.pt")
        for key, value in target.state_dict().items():
            torch.testing.assert_close(value, source.state_dict()[key])


class TestFunctions:
    def test_is_legacy_layout(self):
        """Only net./mean_net./value_net. names and log_std_parameter (with some net.*) are legacy-era."""
        assert is_legacy_layout(legacy_gaussian_state())
        assert is_legacy_layout(legacy_shared_state())
        assert not is_legacy_layout({"net_container.0.weight": torch.zeros(1)})
        assert not is_legacy_layout({"log_std_parameter": torch.zeros(1)})
        assert not is_legacy_layout({**legacy_gaussian_state(), "policy_layer.weight": torch.zeros(1)})

    def test_layer_indices_sort_numerically(self):
        """net.10 comes after net.8 (six hidden layers)."""
        sizes = [4, 8, 8, 8, 8, 8, 8, 2]
        legacy = {}
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            legacy[f"net.{2 * i}.weight"] = torch.randn(fan_out, fan_in)
            legacy[f"net.{2 * i}.bias"] = torch.randn(fan_out)
        template = {k.replace("net.", "net_container."): torch.zeros_like(v) for k, v in legacy.items()}
        reversed_legacy = dict(reversed(list(legacy.items())))
        mapped = legacy_to_instantiated(reversed_legacy, template)
        torch.testing.assert_close(mapped["net_container.10.weight"], legacy["net.10.weight"])
        assert list(mapped) == list(template)
