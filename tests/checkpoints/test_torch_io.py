"""State-dict files: .pt and .safetensors writing/reading and content sniffing."""

import os
import zipfile

import pytest
import torch

from mixrl.checkpoints.formats import sniff_format
from mixrl.checkpoints.torch_io import read_state_dict, write_state_dict


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
