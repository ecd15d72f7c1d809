"""Checkpoint files of torch models: .pt and .safetensors writing/reading, sniffing, corrupted files."""

import os
import zipfile

import pytest
import torch

from mixrl.models.torch._checkpoint import read_state_dict, sniff_format, write_state_dict

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


class TestWriteRead:
    def test_round_trip_keeps_names_order_values_and_dtypes(self, tmp_path, suffix):
        """Both formats give back the same entries, in order, with their dtypes (incl. int64 and 0-d tensors)."""
        state = {
            "net.weight": torch.randn(3, 4),
            "net.bias": torch.randn(3, dtype=torch.float64),
            "count": torch.tensor(7),
            "mask": torch.tensor([True, False]),
        }
        path = tmp_path / f"model{suffix}"
        write_state_dict(path, state)
        assert_same(read_state_dict(path), state)

    def test_safetensors_accepts_views_and_shared_storage(self, tmp_path):
        """Transposed views and tensors sharing memory are saved as independent contiguous copies."""
        base = torch.randn(4, 6)
        state = {"a": base, "a_t": base.T, "half": base[:2], "tied": base}
        path = tmp_path / "views.safetensors"
        write_state_dict(path, state)
        assert_same(read_state_dict(path), {k: v.contiguous() for k, v in state.items()})
        assert sniff_format(path) == "safetensors"

    def test_safetensors_refuses_non_tensor_entries(self, tmp_path):
        """safetensors stores tensors only: a clear error naming the entry, and no file written."""
        path = tmp_path / "bad.safetensors"
        with pytest.raises(ValueError, match=r"non-tensor entries \{'step': 'int'\}"):
            write_state_dict(path, {"w": torch.zeros(2), "step": 3})
        assert not path.exists()

    def test_safetensors_save_is_atomic(self, tmp_path, monkeypatch):
        """A safetensors save that fails leaves the previous file intact and no temporary file behind."""
        path = tmp_path / "model.safetensors"
        write_state_dict(path, {"w": torch.ones(3)})
        before = path.read_bytes()
        import safetensors.torch

        def broken(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(safetensors.torch, "save", broken)
        with pytest.raises(OSError, match="disk full"):
            write_state_dict(path, {"w": torch.zeros(3)})
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["model.safetensors"]

    def test_reading_onto_a_device(self, tmp_path, suffix):
        """``device`` is the map location of every tensor."""
        path = tmp_path / f"model{suffix}"
        write_state_dict(path, {"w": torch.ones(2)})
        assert read_state_dict(path, torch.device("cpu"))["w"].device == torch.device("cpu")


class TestSniffing:
    def test_formats_are_recognised_from_the_content(self, tmp_path):
        """torch zip, legacy torch pickle, safetensors, other zips, msgpack maps, empty and unknown files."""
        torch.save({"w": torch.zeros(1)}, tmp_path / "a.bin")
        torch.save({"w": torch.zeros(1)}, tmp_path / "b.bin", _use_new_zipfile_serialization=False)
        write_state_dict(tmp_path / "c.safetensors", {"w": torch.zeros(1)})
        with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
            zf.writestr("policy.pth", b"")
        (tmp_path / "e.msgpack").write_bytes(b"\x81\xa6params\x80")
        (tmp_path / "f.txt").write_bytes(b"")
        (tmp_path / "g.txt").write_bytes(b"hello world")
        found = [sniff_format(tmp_path / name) for name in ("a.bin", "b.bin", "c.safetensors", "d.zip")]
        found += [sniff_format(tmp_path / name) for name in ("e.msgpack", "f.txt", "g.txt")]
        assert found == ["torch", "torch-legacy", "safetensors", "zip", "msgpack", "empty", "unknown"]


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
