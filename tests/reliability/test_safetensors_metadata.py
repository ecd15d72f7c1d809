"""Corrupted safetensors metadata and mislabelled safetensors files: ValueErrors naming the file and the field."""

import pytest
import torch
from safetensors.torch import save

from .conftest import GaussianPolicy, torch_bytes

BAD_ORDERS = {
    "deeply nested": "[" * 100000,
    "a number": "5",
    "not JSON": "{not json",
    "a list of numbers": "[1, 2]",
}


def write_with_order(path, model, order):
    tensors = {name: value.clone() + 1 for name, value in model.state_dict().items()}
    path.write_bytes(save(tensors, metadata={"format": "pt", "mixrl.order": order}))


class TestOrderMetadata:
    @pytest.mark.parametrize("order", BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
    def test_load_names_the_file_and_the_field(self, tmp_path, box_obs, box_act, order):
        """load: ValueError naming the file and mixrl.order (was RecursionError / TypeError); model unchanged."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.safetensors"
        write_with_order(path, model, order)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=rf"{path}.*mixrl\.order"):
            model.load(path)
        assert torch_bytes(model) == before

    @pytest.mark.parametrize("order", BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
    def test_migrate_names_the_file_and_the_field(self, tmp_path, box_obs, box_act, order):
        """migrate(path=...): the same ValueError."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "external.safetensors"
        write_with_order(path, model, order)
        with pytest.raises(ValueError, match=rf"{path}.*mixrl\.order"):
            model.migrate(path=str(path))

    def test_a_valid_order_is_still_used(self, tmp_path, box_obs, box_act):
        """A well-formed order keeps the state-dict order, as before."""
        from mixrl.checkpoints.safetensors_io import read_safetensors

        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.safetensors"
        model.save(path)
        assert list(read_safetensors(str(path))) == list(model.state_dict())


class TestMislabelledFiles:
    def test_migrate_reads_torch_content_named_safetensors_by_its_content(self, tmp_path, box_obs, box_act):
        """migrate recognises files from their content: a torch.save file named .safetensors is read as torch
        (was a raw SafetensorError: torch.load itself dispatched on the extension)."""
        source, model = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        path = tmp_path / "external.safetensors"
        torch.save(source.state_dict(), path)
        assert model.migrate(path=str(path))
        assert torch_bytes(model) == torch_bytes(source)

    @pytest.mark.parametrize("keep", [30, 200, -30])
    def test_truncated_torch_content_named_safetensors_is_a_value_error(self, tmp_path, box_obs, box_act, keep):
        """Cut-off torch content under a .safetensors name: ValueError naming the file, never SafetensorError."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "external.safetensors"
        torch.save(model.state_dict(), path)
        path.write_bytes(path.read_bytes()[:keep])
        with pytest.raises(ValueError, match=str(path)):
            model.migrate(path=str(path))

    def test_load_says_the_content_is_torch(self, tmp_path, box_obs, box_act):
        """load goes by the extension: a ValueError saying what the content is."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.safetensors"
        torch.save(model.state_dict(), path)
        with pytest.raises(ValueError, match=rf"{path}.*torch"):
            model.load(path)
