"""Decompression bombs: a tiny archive declaring a huge member is refused before it is inflated."""

import resource
import time
import zipfile

import pytest
import torch

from .conftest import GaussianPolicy, torch_bytes

BOMB = 300 * 2**20  # inflated bytes: ~300 KB on disk at deflate's ~1000:1 on zeros
CHUNK = b"\0" * 2**20


def write_zeros(archive: zipfile.ZipFile, name: str, size: int = BOMB) -> None:
    """A deflated member of ``size`` zero bytes, written in 1 MiB chunks (bounded memory)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        for _ in range(size // len(CHUNK)):
            member.write(CHUNK)


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def torch_bomb(path, model):
    """A torch.save archive whose first storage record is a deflated member of 300 MB of zeros."""
    plain = path.with_suffix(".plain")
    torch.save(model.state_dict(), plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in source.infolist():
            if info.filename.endswith("/data/0"):
                write_zeros(out, info.filename)
            else:
                out.writestr(info.filename, source.read(info))
    plain.unlink()


def sb3_bomb(path):
    """A stable-baselines3-like archive whose policy.pth is 300 MB of deflated zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        out.writestr("data", "{}")
        write_zeros(out, "policy.pth")


def assert_refused_fast(call, path, member):
    rss = max_rss_mib()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{path}.*{member}"):
        call()
    assert time.perf_counter() - start < 5
    assert max_rss_mib() - rss < 200


class TestDecompressionBombs:
    def test_the_bombs_are_tiny_on_disk(self, tmp_path, box_obs, box_act):
        """The generated archives stay small (the test itself never holds the inflated bytes)."""
        torch_bomb(tmp_path / "bomb.pt", GaussianPolicy(box_obs, box_act))
        sb3_bomb(tmp_path / "bomb.zip")
        assert (tmp_path / "bomb.pt").stat().st_size < 2**20 and (tmp_path / "bomb.zip").stat().st_size < 2**20

    def test_load_refuses_a_deflated_torch_bomb(self, tmp_path, box_obs, box_act):
        """load of a .pt with a 300 MB deflated record: ValueError naming file and member, fast, bounded RSS."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "bomb.pt"
        torch_bomb(path, model)
        before = torch_bytes(model)
        assert_refused_fast(lambda: model.load(path), path, "data/0")
        assert torch_bytes(model) == before

    def test_migrate_refuses_a_deflated_torch_bomb(self, tmp_path, box_obs, box_act):
        """migrate(path=...) of the same file: the same refusal."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "bomb.pt"
        torch_bomb(path, model)
        assert_refused_fast(lambda: model.migrate(path=str(path)), path, "data/0")

    def test_migrate_refuses_an_sb3_bomb(self, tmp_path, box_obs, box_act):
        """An SB3 archive whose policy.pth inflates 1000:1: refused before reading it."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "bomb.zip"
        sb3_bomb(path)
        assert_refused_fast(lambda: model.migrate(path=str(path)), path, "policy.pth")

    def test_a_bomb_nested_in_an_sb3_policy_is_refused(self, tmp_path, box_obs, box_act):
        """policy.pth is itself a torch zip: a deflated bomb inside it is refused too."""
        model = GaussianPolicy(box_obs, box_act)
        inner = tmp_path / "inner.pt"
        torch_bomb(inner, model)
        path = tmp_path / "nested.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
            out.writestr("data", "{}")
            out.write(inner, "policy.pth")
        assert_refused_fast(lambda: model.migrate(path=str(path)), path, "data/0")

    def test_ordinary_deflated_archives_still_load(self, tmp_path, box_obs, box_act):
        """A real SB3-style archive (deflated policy.pth of random weights) is read as before."""
        source, model = GaussianPolicy(box_obs, box_act), GaussianPolicy(box_obs, box_act)
        path = tmp_path / "sb3.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("data", "{}")
            with out.open("policy.pth", "w") as member:
                torch.save(source.state_dict(), member)
        assert model.migrate(path=str(path))
        assert torch_bytes(model) == torch_bytes(source)
