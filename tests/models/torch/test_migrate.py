"""Model.migrate (torch): skrl's rl_games Cartpole example, matching rules, sources and safety."""

import io
import logging
import os
import zipfile

import numpy as np
import pytest
import torch

from mixrl.models.torch import GaussianMixin, Model

DOC_NAME_MAP = {
    "log_std_parameter": "a2c_network.sigma",
    "net.0.bias": "a2c_network.actor_mlp.0.bias",
    "net.2.bias": "a2c_network.actor_mlp.2.bias",
    "net.4.weight": "",
    "net.4.bias": "",
}
FULL_NAME_MAP = {
    **DOC_NAME_MAP,
    "net.4.weight": "a2c_network.mu.weight",
    "net.4.bias": "a2c_network.mu.bias",
}


class DocCartpolePolicy(GaussianMixin, Model):
    """The documented Cartpole policy: ``net.0/2/4`` (4 -> 32 -> 32 -> 1) and a (1,) ``log_std_parameter``."""

    def __init__(self):
        Model.__init__(self, 4, 1, device="cpu")
        GaussianMixin.__init__(self)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 32), torch.nn.ELU(), torch.nn.Linear(32, 32), torch.nn.ELU(), torch.nn.Linear(32, 1)
        )
        self.log_std_parameter = torch.nn.Parameter(torch.zeros(1))

    def compute(self, inputs, role):
        return self.net(inputs["states"]), self.log_std_parameter, {}


class TrainerState:
    """A non-tensor object as rl_games' ``env_state`` may hold (needs unrestricted unpickling)."""

    def __init__(self):
        self.step = 7


def rl_games_network() -> dict:
    """``checkpoint["model"]`` as rl_games writes it for the documented Cartpole (15 entries, normalisers first)."""
    g = torch.Generator().manual_seed(0)
    return {
        "value_mean_std.running_mean": torch.randn(1, generator=g),
        "value_mean_std.running_var": torch.rand(1, generator=g),
        "value_mean_std.count": torch.tensor(1000.0, dtype=torch.float64),
        "running_mean_std.running_mean": torch.randn(4, generator=g),
        "running_mean_std.running_var": torch.rand(4, generator=g),
        "running_mean_std.count": torch.tensor(1000.0, dtype=torch.float64),
        "a2c_network.sigma": torch.randn(1, generator=g),
        "a2c_network.actor_mlp.0.weight": torch.randn(32, 4, generator=g),
        "a2c_network.actor_mlp.0.bias": torch.randn(32, generator=g),
        "a2c_network.actor_mlp.2.weight": torch.randn(32, 32, generator=g),
        "a2c_network.actor_mlp.2.bias": torch.randn(32, generator=g),
        "a2c_network.mu.weight": torch.randn(1, 32, generator=g),
        "a2c_network.mu.bias": torch.randn(1, generator=g),
        "a2c_network.value.weight": torch.randn(1, 32, generator=g),
        "a2c_network.value.bias": torch.randn(1, generator=g),
    }


def write_rl_games(path, network=None, **extra) -> dict:
    """Save an rl_games-style checkpoint (a ``torch.save`` dict around the network) and return the network."""
    network = rl_games_network() if network is None else network
    checkpoint = {
        "model": network,
        "epoch": 3,
        "frame": 1000,
        "optimizer": {"state": {}, "param_groups": [{"lr": 3e-4, "params": list(range(15))}]},
        "last_mean_rewards": np.float32(1.0),  # rl_games stores a NumPy scalar here
        "env_state": None,
        **extra,
    }
    torch.save(checkpoint, path)
    return network


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], msg=f"{key} changed")


@pytest.fixture
def cartpole(tmp_path):
    path = tmp_path / "Cartpole.pth"
    return path, write_rl_games(path)


class TestRlGamesCartpole:
    def test_ambiguous_layout_fails_and_changes_nothing(self, cartpole, caplog):
        """Without name_map: False, the documented seven warnings, and not even the unambiguous weights are loaded."""
        path, _ = cartpole
        policy = DocCartpolePolicy()
        policy.train()
        before = snapshot(policy)
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            assert policy.migrate(path=str(path)) is False
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings[:7] == [
            "Ambiguous match for log_std_parameter <- "
            "[value_mean_std.running_mean, value_mean_std.running_var, a2c_network.sigma]",
            "Ambiguous match for net.0.bias <- [a2c_network.actor_mlp.0.bias, a2c_network.actor_mlp.2.bias]",
            "Ambiguous match for net.2.bias <- [a2c_network.actor_mlp.0.bias, a2c_network.actor_mlp.2.bias]",
            "Ambiguous match for net.4.weight <- [a2c_network.mu.weight, a2c_network.value.weight]",
            "Ambiguous match for net.4.bias <- [a2c_network.mu.bias, a2c_network.value.bias]",
            "Multiple use of a2c_network.actor_mlp.0.bias -> [net.0.bias, net.2.bias]",
            "Multiple use of a2c_network.actor_mlp.2.bias -> [net.0.bias, net.2.bias]",
        ]
        assert "nothing was loaded" in warnings[-1]
        assert_unchanged(policy, before)
        assert policy.training is True

    def test_documented_name_map_succeeds_and_copies_values(self, cartpole):
        """The documented name_map (``""`` skips net.4): True, mapped and auto entries copied, skipped untouched."""
        path, network = cartpole
        policy = DocCartpolePolicy()
        before = snapshot(policy)
        assert policy.migrate(path=str(path), name_map=DOC_NAME_MAP) is True
        state = policy.state_dict()
        torch.testing.assert_close(state["log_std_parameter"], network["a2c_network.sigma"])
        for i in (0, 2):
            torch.testing.assert_close(state[f"net.{i}.weight"], network[f"a2c_network.actor_mlp.{i}.weight"])
            torch.testing.assert_close(state[f"net.{i}.bias"], network[f"a2c_network.actor_mlp.{i}.bias"])
        torch.testing.assert_close(state["net.4.weight"], before["net.4.weight"])
        torch.testing.assert_close(state["net.4.bias"], before["net.4.bias"])
        assert policy.training is False

    def test_full_name_map_reproduces_the_rl_games_policy(self, cartpole):
        """Mapping net.4 to mu: the migrated policy's mean is rl_games' ELU MLP output."""
        path, network = cartpole
        policy = DocCartpolePolicy()
        assert policy.migrate(path=str(path), name_map=FULL_NAME_MAP) is True
        states = torch.randn(8, 4)
        hidden = torch.nn.functional.elu(
            states @ network["a2c_network.actor_mlp.0.weight"].T + network["a2c_network.actor_mlp.0.bias"]
        )
        hidden = torch.nn.functional.elu(
            hidden @ network["a2c_network.actor_mlp.2.weight"].T + network["a2c_network.actor_mlp.2.bias"]
        )
        expected = hidden @ network["a2c_network.mu.weight"].T + network["a2c_network.mu.bias"]
        torch.testing.assert_close(policy.act({"states": states})[2]["mean_actions"], expected)

    def test_verbose_listing_follows_the_documented_format(self, cartpole, caplog):
        """verbose=True logs Models / current / source listings and the map/auto/skip lines."""
        path, _ = cartpole
        with caplog.at_level(logging.INFO, logger="mixrl"):
            DocCartpolePolicy().migrate(path=str(path), name_map=DOC_NAME_MAP, verbose=True)
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert lines[:9] == [
            "Models",
            "  |-- current: 7 items",
            "  |    |-- log_std_parameter : [1]",
            "  |    |-- net.0.weight : [32, 4]",
            "  |    |-- net.0.bias : [32]",
            "  |    |-- net.2.weight : [32, 32]",
            "  |    |-- net.2.bias : [32]",
            "  |    |-- net.4.weight : [1, 32]",
            "  |    |-- net.4.bias : [1]",
        ]
        assert lines[9] == "  |-- source: 15 items"
        assert "  |    |-- value_mean_std.count : []" in lines
        assert lines[lines.index("Migration") :] == [
            "Migration",
            "  |-- map:  log_std_parameter <- a2c_network.sigma",
            "  |-- auto: net.0.weight <- a2c_network.actor_mlp.0.weight",
            "  |-- map:  net.0.bias <- a2c_network.actor_mlp.0.bias",
            "  |-- auto: net.2.weight <- a2c_network.actor_mlp.2.weight",
            "  |-- map:  net.2.bias <- a2c_network.actor_mlp.2.bias",
            "  |-- skip: net.4.weight",
            "  |-- skip: net.4.bias",
        ]

    def test_dry_run_reports_without_loading(self, cartpole):
        """dry_run=True returns the verdict but leaves parameters and mode as they were."""
        path, _ = cartpole
        policy = DocCartpolePolicy()
        policy.train()
        before = snapshot(policy)
        assert policy.migrate(path=str(path), name_map=FULL_NAME_MAP, dry_run=True) is True
        assert_unchanged(policy, before)
        assert policy.training is True

    def test_sniffs_an_rl_games_checkpoint_with_another_extension(self, tmp_path):
        """An rl_games checkpoint saved as .ckpt is recognised from its content."""
        path = tmp_path / "Cartpole.ckpt"
        write_rl_games(path)
        assert DocCartpolePolicy().migrate(path=str(path), name_map=FULL_NAME_MAP) is True


class TestMatchingRules:
    def test_shape_mismatch_in_name_map_is_reported_and_fails(self, cartpole, caplog):
        """A mapped external entry of another shape: 'Shape mismatch' warning, False, nothing loaded."""
        path, _ = cartpole
        name_map = {**FULL_NAME_MAP, "net.4.weight": "a2c_network.actor_mlp.0.weight"}
        policy = DocCartpolePolicy()
        before = snapshot(policy)
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            assert policy.migrate(path=str(path), name_map=name_map) is False
        assert "Shape mismatch for net.4.weight <- a2c_network.actor_mlp.0.weight : [1, 32] != [32, 4]" in caplog.text
        assert "Missing match for net.4.weight" in caplog.text
        assert_unchanged(policy, before)

    def test_name_map_to_an_absent_entry_is_missing(self, cartpole, caplog):
        """A mapping to a name the source lacks counts as missing (with the reason)."""
        path, _ = cartpole
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            ok = DocCartpolePolicy().migrate(path=str(path), name_map={**FULL_NAME_MAP, "net.0.bias": "nope"})
        assert ok is False
        assert "Missing match for net.0.bias: name_map gives 'nope', which is not in the source" in caplog.text

    def test_two_names_mapped_to_one_entry_is_multiple_use(self):
        """Mapping two current entries to the same external one fails with 'Multiple use'."""
        policy = DocCartpolePolicy()
        source = {f"x.{k}": v.clone() for k, v in policy.state_dict().items()}
        name_map = {k: f"x.{k}" for k in policy.state_dict()}
        name_map["net.2.bias"] = "x.net.0.bias"
        assert policy.migrate(state_dict=source, name_map=name_map) is False

    def test_without_auto_mapping_unmapped_entries_are_missing(self, cartpole, caplog):
        """auto_mapping=False: every entry outside name_map is missing."""
        path, _ = cartpole
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            assert DocCartpolePolicy().migrate(path=str(path), auto_mapping=False) is False
        assert caplog.text.count("Missing match for") == 7

    def test_same_names_and_shapes_match_each_other(self):
        """A state dict of an identical model migrates although its biases share a shape (same-name rule)."""
        source, target = DocCartpolePolicy(), DocCartpolePolicy()
        assert target.migrate(state_dict=source.state_dict()) is True
        assert_unchanged(target, snapshot(source))

    def test_unknown_name_map_key_is_a_warning(self, caplog):
        """A name_map key the model does not have is reported (and otherwise ignored)."""
        source, target = DocCartpolePolicy(), DocCartpolePolicy()
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            assert target.migrate(state_dict=source.state_dict(), name_map={"net.9.weight": ""}) is True
        assert "name_map entry 'net.9.weight' is not an entry of the model" in caplog.text

    def test_values_land_on_the_model_device_and_dtype(self):
        """float64 source tensors are copied into the model's float32 parameters."""
        source, target = DocCartpolePolicy(), DocCartpolePolicy()
        state = {k: v.double() for k, v in source.state_dict().items()}
        assert target.migrate(state_dict=state) is True
        assert target.net[0].weight.dtype == torch.float32


class TestSources:
    def test_both_or_neither_source_is_an_error(self, cartpole):
        """Exactly one of state_dict / path."""
        path, network = cartpole
        with pytest.raises(ValueError, match="got both"):
            DocCartpolePolicy().migrate(state_dict=network, path=str(path))
        with pytest.raises(ValueError, match="got neither"):
            DocCartpolePolicy().migrate()

    def test_unidentified_content_is_an_error(self, tmp_path):
        """A .ckpt that is neither SB3, rl_games nor a state dict: 'cannot identify file type'."""
        text = tmp_path / "weights.ckpt"
        text.write_bytes(b"just some text, not a checkpoint")
        with pytest.raises(ValueError, match="cannot identify file type of .*weights.ckpt"):
            DocCartpolePolicy().migrate(path=str(text))
        other = tmp_path / "other.ckpt"
        torch.save({"config": "a dict without 'model'", "steps": 3}, other)
        with pytest.raises(ValueError, match="cannot identify file type of .*other.ckpt.*keys \\['config', 'steps'\\]"):
            DocCartpolePolicy().migrate(path=str(other))
        archive = tmp_path / "other.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("readme.txt", "hello")
        with pytest.raises(ValueError, match="cannot identify file type of .*other.zip"):
            DocCartpolePolicy().migrate(path=str(archive))

    def test_truncated_checkpoint_is_an_error(self, cartpole):
        """A cut-off rl_games file: ValueError naming the file."""
        path, _ = cartpole
        path.write_bytes(path.read_bytes()[:300])
        with pytest.raises(ValueError, match="Cartpole.pth: not a readable torch checkpoint"):
            DocCartpolePolicy().migrate(path=str(path))

    def test_a_pickle_that_would_run_code_is_refused(self, tmp_path):
        """weights_only by default: an object whose unpickling runs a command is refused and nothing runs."""
        marker = tmp_path / "pwned"

        class Exploit:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        path = tmp_path / "evil.pth"
        write_rl_games(path, env_state=Exploit())
        policy = DocCartpolePolicy()
        before = snapshot(policy)
        with pytest.raises(ValueError, match="refusing to load objects other than tensors"):
            policy.migrate(path=str(path), name_map=FULL_NAME_MAP)
        assert not marker.exists()
        assert_unchanged(policy, before)

    def test_allow_pickle_reads_trusted_objects(self, tmp_path):
        """A checkpoint holding a plain Python object needs allow_pickle=True."""
        path = tmp_path / "trusted.pth"
        write_rl_games(path, env_state=TrainerState())
        with pytest.raises(ValueError, match="refusing"):
            DocCartpolePolicy().migrate(path=str(path), name_map=FULL_NAME_MAP)
        assert DocCartpolePolicy().migrate(path=str(path), name_map=FULL_NAME_MAP, allow_pickle=True) is True

    def test_stable_baselines3_archive_is_read_from_policy_pth(self, tmp_path):
        """A zip with policy.pth (any extension) is a stable-baselines3 archive; its member is migrated."""
        policy = DocCartpolePolicy()
        names = {"net.0": "mlp_extractor.policy_net.0", "net.2": "mlp_extractor.policy_net.2", "net.4": "action_net"}
        sb3 = {"log_std": torch.randn(1)}
        for ours, theirs in names.items():
            sb3[f"{theirs}.weight"] = torch.randn_like(policy.state_dict()[f"{ours}.weight"])
            sb3[f"{theirs}.bias"] = torch.randn_like(policy.state_dict()[f"{ours}.bias"])
        buffer = io.BytesIO()
        torch.save(sb3, buffer)
        path = tmp_path / "ppo_model.bin"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("data", "{}")
            zf.writestr("policy.pth", buffer.getvalue())
            zf.writestr("_stable_baselines3_version", "2.9.2")
        name_map = {f"{ours}.bias": f"{theirs}.bias" for ours, theirs in names.items()}
        assert policy.migrate(path=str(path), name_map=name_map) is True
        torch.testing.assert_close(policy.log_std_parameter.data, sb3["log_std"])
        torch.testing.assert_close(policy.net[2].weight.data, sb3["mlp_extractor.policy_net.2.weight"])

    def test_stable_baselines3_archive_without_policy_is_a_failed_migration(self, tmp_path, caplog):
        """An SB3 archive lacking policy.pth: warning, empty source, every entry missing, False."""
        path = tmp_path / "broken.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("data", "{}")
            zf.writestr("_stable_baselines3_version", "2.9.2")
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            assert DocCartpolePolicy().migrate(path=str(path)) is False
        assert "without policy.pth" in caplog.text

    def test_safetensors_state_dict_is_a_source(self, tmp_path):
        """A .safetensors state dict migrates like a torch one."""
        from safetensors.torch import save_file

        source, target = DocCartpolePolicy(), DocCartpolePolicy()
        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "policy.safetensors")
        assert target.migrate(path=str(tmp_path / "policy.safetensors")) is True
        assert_unchanged(target, snapshot(source))
