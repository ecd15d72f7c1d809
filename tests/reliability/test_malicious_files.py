"""Malicious pickles never run in any loader; truncated files of every format are clear errors that change nothing."""

import os
import zipfile

import pytest
import torch

from mixrl.utils.model_instantiators._sidecar import weights_digest
from mixrl.utils.model_instantiators.torch import deterministic_model, load_model

from ..models.jax.conftest import GaussianPolicy as JaxGaussianPolicy
from ..models.jax.conftest import build
from .conftest import GaussianPolicy, jax_bytes, torch_bytes

FORMAT_WORDS = ("torch", "safetensors", "zip", "msgpack")


class Payload:
    """Unpickling this creates the marker directory: code from the file would have run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def poisoned(model, marker):
    state = dict(model.state_dict())
    state["extra"] = Payload(marker)
    return state


def write_torch(path, content, legacy=False):
    torch.save(content, path, _use_new_zipfile_serialization=not legacy)


def write_sb3(path, content):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data", "{}")
        with archive.open("policy.pth", "w") as member:
            torch.save(content, member)


class TestMaliciousPickles:
    @pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
    def test_load_never_runs_the_payload(self, tmp_path, box_obs, box_act, legacy):
        """Model.load: refused with a clear error, the marker never appears."""
        model, marker = GaussianPolicy(box_obs, box_act), tmp_path / "pwned"
        path = tmp_path / "policy.pt"
        write_torch(path, poisoned(model, marker), legacy)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=rf"{path}.*refusing to load objects"):
            model.load(path)
        assert not marker.exists() and torch_bytes(model) == before

    @pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".zip"])
    def test_migrate_never_runs_the_payload(self, tmp_path, box_obs, box_act, suffix):
        """migrate(path=...) of a state dict, an rl_games .pth, a .ckpt and an SB3 .zip."""
        model, marker = GaussianPolicy(box_obs, box_act), tmp_path / "pwned"
        path = tmp_path / f"external{suffix}"
        if suffix == ".zip":
            write_sb3(path, poisoned(model, marker))
        elif suffix == ".pth":
            write_torch(path, {"model": dict(model.state_dict()), "env_state": Payload(marker)})
        else:
            write_torch(path, poisoned(model, marker), legacy=suffix == ".ckpt")
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=rf"{path}.*refusing to load objects"):
            model.migrate(path=str(path))
        assert not marker.exists() and torch_bytes(model) == before

    def test_jax_migrate_never_runs_the_payload(self, tmp_path, box_obs, box_act):
        """The JAX migrate reads torch files with the same restricted unpickler."""
        model, marker = build(JaxGaussianPolicy, box_obs, box_act), tmp_path / "pwned"
        path = tmp_path / "external.pt"
        write_torch(path, poisoned(GaussianPolicy(box_obs, box_act), marker))
        before = jax_bytes(model)
        with pytest.raises(ValueError, match="refusing to load objects"):
            model.migrate(path=str(path))
        assert not marker.exists() and jax_bytes(model) == before

    def test_load_model_never_runs_the_payload(self, tmp_path):
        """load_model with a poisoned weights file and a sidecar whose digest matches it (a crafted pair)."""
        marker, path = tmp_path / "pwned", tmp_path / "policy.pt"
        model = deterministic_model(3, 2, device="cpu", network=[{"name": "net", "input": "STATES", "layers": [8]}])
        model.save(path)
        write_torch(path, poisoned(model, marker))
        sidecar = tmp_path / "policy.pt.model.yaml"
        lines = sidecar.read_text().splitlines(keepends=True)
        digest = f"# weights sha256: {weights_digest(path)}\n"
        sidecar.write_text("".join(digest if line.startswith("# weights sha256:") else line for line in lines))
        with pytest.raises(ValueError, match=rf"{path}.*refusing to load objects"):
            load_model(path)
        assert not marker.exists()


def cuts(size):
    return sorted({1, 8, 30, size // 3, size // 2, size - 20, size - 1})


class TestTruncatedFiles:
    @pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
    def test_truncated_checkpoints_fail_load_cleanly(self, tmp_path, box_obs, box_act, suffix):
        """Every cut of a .pt / .safetensors: ValueError naming the file and a format; model bit-identical."""
        model = GaussianPolicy(box_obs, box_act)
        full = tmp_path / f"full{suffix}"
        GaussianPolicy(box_obs, box_act).save(full)
        data = full.read_bytes()
        before = torch_bytes(model)
        for keep in cuts(len(data)):
            path = tmp_path / f"cut{keep}{suffix}"
            path.write_bytes(data[:keep])
            with pytest.raises(ValueError) as error:
                model.load(path)
            assert str(path) in str(error.value) and any(word in str(error.value) for word in FORMAT_WORDS)
            assert torch_bytes(model) == before, keep

    @pytest.mark.parametrize("kind", ["pt", "safetensors", "sb3", "rl_games", "msgpack"])
    def test_truncated_sources_fail_migrate_cleanly(self, tmp_path, box_obs, box_act, kind):
        """Every cut of each migrate source format: ValueError naming the file and a format; model unchanged."""
        source, model = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        full = tmp_path / f"full.{kind}"
        if kind in ("pt", "safetensors"):
            source.save(tmp_path / f"full.{kind}")
        elif kind == "sb3":
            write_sb3(full, dict(source.state_dict()))
        elif kind == "rl_games":
            write_torch(full, {"model": dict(source.state_dict()), "epoch": 1})
        else:
            build(JaxGaussianPolicy, box_obs, box_act).save(full)
        data = full.read_bytes()
        before = torch_bytes(model)
        for keep in cuts(len(data)):
            path = tmp_path / f"cut{keep}.{kind}"
            path.write_bytes(data[:keep])
            with pytest.raises(ValueError) as error:
                model.migrate(path=str(path))
            assert str(path) in str(error.value) and any(word in str(error.value) for word in FORMAT_WORDS), keep
            assert torch_bytes(model) == before, keep

    def test_truncated_msgpack_fails_jax_load_cleanly(self, tmp_path, box_obs, box_act):
        """JAX load of every cut of its own file: ValueError naming the file; state_dict unchanged."""
        model = build(JaxGaussianPolicy, box_obs, box_act)
        full = tmp_path / "full.msgpack"
        model.save(full)
        data = full.read_bytes()
        before = jax_bytes(model)
        for keep in cuts(len(data)):
            path = tmp_path / f"cut{keep}.msgpack"
            path.write_bytes(data[:keep])
            with pytest.raises(ValueError, match=str(path)):
                model.load(path)
            assert jax_bytes(model) == before, keep
