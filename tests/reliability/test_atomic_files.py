"""Files written through mixrl's atomic save: the mode open() would give, symlinks written through."""

import os
import stat

import pytest
import torch

from mixrl.checkpoints.atomic import atomic_write
from mixrl.utils.model_instantiators.torch import deterministic_model

from .conftest import GaussianPolicy

NETWORK = [{"name": "net", "input": "STATES", "layers": [8]}]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


class TestModes:
    @pytest.mark.parametrize("name", ["model.pt", "model.safetensors"])
    def test_model_save_gives_the_mode_of_an_ordinary_open(self, tmp_path, box_obs, box_act, umask, name):
        """A new checkpoint gets 0o666 & ~umask (was always 0600: mkstemp's mode)."""
        GaussianPolicy(box_obs, box_act).save(tmp_path / name)
        assert mode(tmp_path / name) == 0o666 & ~umask

    def test_sidecar_gets_the_mode_of_an_ordinary_open(self, tmp_path, umask):
        """The instantiated model's ``.model.yaml`` sidecar too."""
        deterministic_model(3, 2, device="cpu", network=NETWORK).save(tmp_path / "policy.pt")
        assert mode(tmp_path / "policy.pt.model.yaml") == 0o666 & ~umask
        assert mode(tmp_path / "policy.pt") == 0o666 & ~umask

    def test_exported_onnx_gets_the_mode_of_an_ordinary_open(self, tmp_path, umask):
        """``policy.onnx`` of Model.export."""
        pytest.importorskip("onnx")
        model = deterministic_model(3, 2, device="cpu", network=NETWORK)
        model.export(tmp_path / "policy.onnx")
        assert mode(tmp_path / "policy.onnx") == 0o666 & ~umask

    def test_any_atomic_write_gets_the_mode_of_an_ordinary_open(self, tmp_path, umask):
        """``summary.json`` and the rest go through atomic_write: same mode as ``open(path, "w")``."""
        atomic_write(tmp_path / "summary.json", lambda file: file.write(b"{}"))
        with open(tmp_path / "plain.json", "w") as file:
            file.write("{}")
        assert mode(tmp_path / "summary.json") == mode(tmp_path / "plain.json") == 0o666 & ~umask

    def test_an_existing_file_keeps_its_mode(self, tmp_path):
        """Rewriting a file keeps its permissions, as open(path, "w") does."""
        path = tmp_path / "summary.json"
        path.write_bytes(b"old")
        os.chmod(path, 0o640)
        atomic_write(path, lambda file: file.write(b"new"))
        assert mode(path) == 0o640 and path.read_bytes() == b"new"


class TestSymlinks:
    def test_a_symlink_destination_is_written_through(self, tmp_path, box_obs, box_act):
        """Saving to a link replaces the link's target; the link stays a link."""
        target = tmp_path / "runs" / "policy-0001.pt"
        target.parent.mkdir()
        target.write_bytes(b"old")
        link = tmp_path / "latest.pt"
        link.symlink_to(target)
        model = GaussianPolicy(box_obs, box_act)
        model.save(link)
        assert link.is_symlink() and os.readlink(link) == str(target)
        reloaded = GaussianPolicy(box_obs, box_act)
        reloaded.load(target)
        for key, value in model.state_dict().items():
            torch.testing.assert_close(reloaded.state_dict()[key], value)
        assert [p.name for p in target.parent.iterdir()] == ["policy-0001.pt"]  # no temporary left there

    def test_a_dangling_symlink_creates_its_target(self, tmp_path):
        """A link to a file that does not exist yet: the target is created, the link kept."""
        link = tmp_path / "latest.json"
        link.symlink_to(tmp_path / "new.json")
        atomic_write(link, lambda file: file.write(b"{}"))
        assert link.is_symlink() and (tmp_path / "new.json").read_bytes() == b"{}"
