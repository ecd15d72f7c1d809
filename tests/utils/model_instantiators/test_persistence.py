"""What the generated models add to save/load: the sidecar kept consistent, the torch twin, the old import path."""

import os

import pytest
import torch

from mixrl.utils.model_instantiators.torch import deterministic_model


def test_a_failed_sidecar_write_leaves_no_stale_sidecar(tmp_path, monkeypatch):
    """Weights saved, sidecar write fails: the error comes through and the old sidecar is gone."""
    from mixrl.utils.model_instantiators import _persistence

    model = deterministic_model(3, 2, device="cpu", network=[{"name": "net", "input": "STATES", "layers": [8]}])
    path = tmp_path / "policy.pt"
    model.save(path)
    assert os.path.exists(f"{path}.model.yaml")

    def broken(*_):
        raise OSError("disk full")

    monkeypatch.setattr(_persistence, "write_sidecar", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert not os.path.exists(f"{path}.model.yaml") and path.exists()


def test_jax_models_build_their_torch_twin():
    """torch_twin() is the torch model of the same description (same entries, fresh weights)."""
    pytest.importorskip("flax")
    from mixrl.utils.model_instantiators.jax import deterministic_model as jax_deterministic

    network = [{"name": "net", "input": "STATES", "layers": [8], "activations": "relu"}]
    twin = jax_deterministic(3, 2, network=network, output="ACTIONS").torch_twin()
    assert isinstance(twin, torch.nn.Module)
    assert {name: list(v.shape) for name, v in twin.state_dict().items()} == {
        "net_container.0.weight": [8, 3],
        "net_container.0.bias": [8],
        "net_container.2.weight": [2, 8],
        "net_container.2.bias": [2],
    }


def test_the_old_checkpoints_path_is_a_deprecated_alias():
    """mixrl.utils.checkpoints.torch_to_flax still works, with a DeprecationWarning."""
    import mixrl.checkpoints
    import mixrl.utils.checkpoints

    with pytest.warns(DeprecationWarning, match="mixrl.checkpoints"):
        assert mixrl.utils.checkpoints.torch_to_flax is mixrl.checkpoints.torch_to_flax
