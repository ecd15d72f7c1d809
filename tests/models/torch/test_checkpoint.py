"""Model.save/load of torch models: .pt and .safetensors paths, corrupted and mislabelled files."""

import os
import zipfile

import pytest
import torch

from mixrl.checkpoints.torch_io import write_state_dict

from .conftest import GaussianPolicy


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(state, reference):
    assert list(state) == list(reference)
    for key, value in state.items():
        torch.testing.assert_close(value, reference[key])


@pytest.fixture(params=[".pt", ".safetensors"])
def suffix(request):
    return request.param


class TestModelLoad:
    def test_model_save_and_load_a_safetensors_path(self, tmp_path, box_obs, box_act):
        """Model.save picks the format from the extension; the file is safetensors and loads back exactly."""
        source, target = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.safetensors"
        source.save(path)
        from safetensors.torch import load_file

        assert set(load_file(str(path))) == set(source.state_dict())
        target.load(path)
        for key, value in target.state_dict().items():
            torch.testing.assert_close(value, source.state_dict()[key])

    def test_load_reads_safetensors(self, tmp_path, box_obs, box_act):
        """Model.load of a .safetensors file restores the parameters (same mean actions) and sets eval mode."""
        source, target = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.safetensors"
        write_state_dict(path, source.state_dict())
        target.load(path)
        states = torch.randn(4, 5)
        torch.testing.assert_close(
            target.act({"states": states})[2]["mean_actions"], source.act({"states": states})[2]["mean_actions"]
        )
        assert target.training is False

    @pytest.mark.parametrize("keep", [4, 40, 200, -20])
    def test_truncated_file_is_a_clear_error_and_changes_nothing(self, tmp_path, box_obs, box_act, suffix, keep):
        """A cut-off file of either format: ValueError naming the file; the model is unchanged."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / f"policy{suffix}"
        write_state_dict(path, model.state_dict())
        path.write_bytes(path.read_bytes()[:keep])
        model.init_parameters("constant_", 0.5)
        before = snapshot(model)
        with pytest.raises(ValueError, match=rf"policy{suffix}: .*(truncated or corrupted\?)"):
            model.load(path)
        assert_same(model.state_dict(), before)

    def test_safetensors_name_with_torch_content_is_refused(self, tmp_path, box_obs, box_act):
        """A torch file saved under a .safetensors name: the error names expected and found formats."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.safetensors"
        torch.save(model.state_dict(), path)
        with pytest.raises(ValueError, match="expected a safetensors file .* the content is a torch.save archive"):
            model.load(path)

    def test_torch_name_with_safetensors_content_is_refused(self, tmp_path, box_obs, box_act):
        """A safetensors file saved as .pt: the error suggests the right extension."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        write_state_dict(tmp_path / "policy.safetensors", model.state_dict())
        os.replace(tmp_path / "policy.safetensors", path)
        with pytest.raises(ValueError, match=r"expected a torch.save file .* safetensors file \(rename it"):
            model.load(path)

    def test_other_content_is_refused(self, tmp_path, box_obs, box_act):
        """A text file named .pt is not mistaken for a checkpoint."""
        path = tmp_path / "policy.pt"
        path.write_text("not a checkpoint at all")
        with pytest.raises(ValueError, match="policy.pt: expected a torch.save file"):
            GaussianPolicy(box_obs, box_act).load(path)

    @pytest.mark.parametrize("garbage", [b"\x00" * 40, b"\x80\x02cnot\x00a\x00module\nname\n."])
    def test_corrupted_pickle_is_not_reported_as_unsafe(self, tmp_path, box_obs, box_act, garbage):
        """Garbage in data.pkl (even in a global's name) is a corrupted file, not a refused object."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        torch.save(model.state_dict(), path)
        rebuilt = tmp_path / "rebuilt.pt"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(rebuilt, "w") as target:
            for info in source.infolist():
                data = source.read(info)
                target.writestr(info, garbage if info.filename.endswith("/data.pkl") else data)
        with pytest.raises(ValueError, match="rebuilt.pt: not a readable torch checkpoint"):
            model.load(rebuilt)

    def test_missing_file_is_file_not_found(self, tmp_path, box_obs, box_act):
        """A path that does not exist keeps the usual FileNotFoundError."""
        with pytest.raises(FileNotFoundError):
            GaussianPolicy(box_obs, box_act).load(tmp_path / "nope.pt")
