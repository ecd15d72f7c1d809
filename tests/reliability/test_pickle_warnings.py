"""Reading arbitrary pickles (``weights_only=False`` / ``allow_pickle=True``) warns, naming the file, every time."""

import logging
import zipfile

import torch

from .conftest import GaussianPolicy


def pickle_warnings(caplog, path):
    return [r for r in caplog.records if r.name == "mixrl" and r.levelno == logging.WARNING and str(path) in r.message]


class TestPickleWarnings:
    def test_load_with_weights_only_false_warns_each_time(self, tmp_path, box_obs, box_act, caplog):
        """Two loads with weights_only=False: two warnings on logger mixrl naming the file."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        model.save(path)
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model.load(path, weights_only=False)
            model.load(path, weights_only=False)
        records = pickle_warnings(caplog, path)
        assert len(records) == 2 and "run code" in records[0].message

    def test_load_with_weights_only_true_does_not_warn(self, tmp_path, box_obs, box_act, caplog):
        """The safe default says nothing."""
        model = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "policy.pt"
        model.save(path)
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model.load(path)
        assert not pickle_warnings(caplog, path)

    def test_migrate_with_allow_pickle_warns_for_every_torch_source(self, tmp_path, box_obs, box_act, caplog):
        """A state dict, an rl_games checkpoint and an SB3 archive read with allow_pickle=True all warn."""
        model = GaussianPolicy(box_obs, box_act)
        state = model.state_dict()
        plain, rl_games, sb3 = tmp_path / "plain.pt", tmp_path / "agent.pth", tmp_path / "sb3.zip"
        torch.save(state, plain)
        torch.save({"model": dict(state), "epoch": 3}, rl_games)
        with zipfile.ZipFile(sb3, "w") as archive:
            archive.writestr("data", "{}")
            with archive.open("policy.pth", "w") as member:
                torch.save(dict(state), member)
        for path in (plain, rl_games, sb3):
            with caplog.at_level(logging.WARNING, logger="mixrl"):
                model.migrate(path=str(path), allow_pickle=True)
            assert pickle_warnings(caplog, path), path
            caplog.clear()
