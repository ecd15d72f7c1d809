"""A save killed with SIGKILL: the previous pair stays loadable, a torn pair is detected, temp files are cleaned."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from mixrl.checkpoints.atomic import atomic_write
from mixrl.utils.model_instantiators.torch import deterministic_model, load_model

NETWORK = [{"name": "net", "input": "STATES", "layers": [8]}]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the child saves a model and hangs in its n-th fsync (1: the weights' temp file, 2: the sidecar's)
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from mixrl.utils.model_instantiators.torch import deterministic_model

    path, hang_at = sys.argv[1], int(sys.argv[2])
    model = deterministic_model(3, 2, device="cpu", network={network!r})
    calls, fsync = [0], os.fsync

    def slow_fsync(fd):
        calls[0] += 1
        if calls[0] == hang_at:
            time.sleep(60)
        fsync(fd)

    os.fsync = slow_fsync
    model.save(path)
    """
).format(network=NETWORK)


def temporaries(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def kill_during_save(path, hang_at: int, waiting_for: str):
    """Run the child, SIGKILL it once a temp file whose name starts with ``waiting_for`` exists."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(hang_at)], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not any(name.startswith(waiting_for) for name in temporaries(path.parent)):
            assert child.poll() is None, "the child ended before hanging in its save"
            assert time.monotonic() < deadline, "no temp file appeared"
            time.sleep(0.05)
        time.sleep(0.2)  # inside the hanging fsync
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def same_weights(model, other):
    return all(torch.equal(value, other.state_dict()[name]) for name, value in model.state_dict().items())


class TestInterruptedSaves:
    def test_a_kill_while_writing_the_weights_keeps_the_previous_pair(self, tmp_path):
        """SIGKILL inside the weights write: the old pair loads; the next save removes the stale temp file."""
        path = tmp_path / "policy.pt"
        previous = deterministic_model(3, 2, device="cpu", network=NETWORK)
        previous.save(path)
        kill_during_save(path, hang_at=1, waiting_for=".policy.pt.")
        assert temporaries(tmp_path)  # what a killed save leaves behind
        assert same_weights(load_model(path), previous)
        previous.save(path)
        assert temporaries(tmp_path) == []
        assert same_weights(load_model(path), previous)

    def test_a_kill_between_weights_and_sidecar_is_detected(self, tmp_path):
        """SIGKILL after the weights rename, before the sidecar's: load_model names both files (a torn pair)."""
        path = tmp_path / "policy.pt"
        deterministic_model(3, 2, device="cpu", network=NETWORK).save(path)
        kill_during_save(path, hang_at=2, waiting_for=".policy.pt.model.yaml.")
        with pytest.raises(ValueError, match=rf"{path}\.model\.yaml does not describe {path}.*sha256"):
            load_model(path)
        model = deterministic_model(3, 2, device="cpu", network=NETWORK)
        model.save(path)
        assert temporaries(tmp_path) == []
        assert same_weights(load_model(path), model)


class TestStaleTemporaries:
    def test_only_this_destinations_older_temporaries_are_removed(self, tmp_path):
        """Other files, other destinations' temp files and names outside mixrl's pattern stay."""
        old = time.time() - 60
        stale = tmp_path / ".policy.pt.ab12_xyz.tmp"
        others = [tmp_path / ".value.pt.ab12_xyz.tmp", tmp_path / ".policy.pt.notours.tmp", tmp_path / "policy.pt.tmp"]
        for file in [stale, *others]:
            file.write_bytes(b"x")
            os.utime(file, (old, old))
        atomic_write(tmp_path / "policy.pt", lambda file: file.write(b"new"))
        assert not stale.exists() and all(file.exists() for file in others)

    def test_a_newer_temporary_is_kept(self, tmp_path):
        """A temp file newer than the current save (another writer's) is not touched."""
        future = time.time() + 60
        newer = tmp_path / ".policy.pt.ab12_xyz.tmp"
        newer.write_bytes(b"x")
        os.utime(newer, (future, future))
        atomic_write(tmp_path / "policy.pt", lambda file: file.write(b"new"))
        assert newer.exists()
