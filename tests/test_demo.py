"""``mixrl demo``: the command trains, saves, reloads, evaluates and plots; its PPO pieces are right."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mixrl.demo.common import EpisodeTracker, History, compute_gae

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TestComputeGae:
    def test_matches_the_recursion_worked_by_hand(self):
        """Two steps, one env, no episode end: A1 = d1, A0 = d0 + gamma * lambda * d1."""
        gamma, lam = 0.9, 0.5
        rewards, values = np.array([[1.0], [2.0]]), np.array([[0.5], [1.5]])
        advantages, returns = compute_gae(rewards, values, np.zeros((2, 1)), np.array([3.0]), gamma, lam)
        d1 = 2.0 + 0.9 * 3.0 - 1.5  # 3.2
        d0 = 1.0 + 0.9 * 1.5 - 0.5  # 1.85
        np.testing.assert_allclose(advantages[:, 0], [d0 + gamma * lam * d1, d1])
        np.testing.assert_allclose(returns, advantages + values)

    def test_an_episode_end_stops_bootstrapping_and_propagation(self):
        """done at step 0: its advantage is r0 - V0, whatever comes after."""
        advantages, _ = compute_gae(
            np.array([[1.0], [5.0]]), np.array([[2.0], [0.0]]), np.array([[1.0], [0.0]]), np.array([100.0]), 0.99, 0.95
        )
        assert advantages[0, 0] == pytest.approx(1.0 - 2.0)


class TestEpisodeTracker:
    def test_records_returns_of_finished_episodes_with_their_step(self):
        """Rewards accumulate per environment; a finished episode is recorded and restarts at 0."""
        history = History()
        tracker = EpisodeTracker(2, history)
        tracker.update(np.array([1.0, 2.0]), np.array([False, True]), step=2)
        tracker.update(np.array([1.0, 1.0]), np.array([True, False]), step=4)
        assert history.returns == [2.0, 2.0] and history.steps == [2, 4]
        assert history.running_mean() == 2.0


class TestCommandLine:
    def test_help_lists_the_demo_command(self):
        """``python -m mixrl --help`` names the demo sub-command."""
        result = subprocess.run([sys.executable, "-m", "mixrl", "--help"], capture_output=True, text=True, check=True)
        assert "demo" in result.stdout

    def test_an_unusable_environment_is_a_usage_error(self):
        """An unknown id, or one whose spaces the demo cannot handle, exits with status 2 and names the problem."""
        for env_id, message in (("NoSuchEnv-v0", "doesn't exist"), ("Blackjack-v1", "flat Box observation")):
            command = [sys.executable, "-m", "mixrl", "demo", "--env", env_id]
            result = subprocess.run(command, capture_output=True, text=True)
            assert result.returncode == 2 and f"--env {env_id}" in result.stderr and message in result.stderr

    @pytest.mark.slow
    def test_demo_trains_saves_reloads_evaluates_and_plots(self, tmp_path):
        """A short CartPole run writes the checkpoint, its description, the plot and the summary, and learns."""
        pytest.importorskip("tqdm")
        pytest.importorskip("matplotlib")
        command = [sys.executable, "-m", "mixrl", "demo", "--steps", "30000", "--seed", "0", "--out", str(tmp_path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
        assert "mean evaluation return" in result.stdout
        assert str(tmp_path / "model.pt") in result.stdout
        assert (tmp_path / "model.pt").stat().st_size > 0
        assert (tmp_path / "model.pt.model.yaml").read_text().count("CategoricalMixin") == 1
        assert (tmp_path / "learning_curve.png").read_bytes().startswith(PNG_SIGNATURE)
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["env_steps"] >= 30000 and len(summary["evaluation_returns"]) == 10
        # a uniformly random policy scores about 22 on CartPole-v1
        assert summary["evaluation_mean"] >= 150, summary


def _namespace(tmp_path: Path, **options: object) -> argparse.Namespace:
    defaults = {"env": "CartPole-v1", "steps": 256, "backend": "torch", "seed": 0, "out": tmp_path, "quiet": True}
    defaults["export"] = None
    return argparse.Namespace(**{**defaults, **options})


@pytest.mark.slow
class TestOtherPaths:
    def test_pendulum_runs_with_a_gaussian_policy(self, tmp_path):
        """--env Pendulum-v1 builds the Gaussian + deterministic shared model and goes through every stage."""
        pytest.importorskip("matplotlib")
        pytest.importorskip("tqdm")
        from mixrl.demo.cli import run

        summary = run(_namespace(tmp_path, env="Pendulum-v1", steps=2048))
        assert "GaussianMixin" in (tmp_path / "model.pt.model.yaml").read_text()
        assert np.isfinite(summary.evaluation_mean) and summary.env_steps == 2048

    def test_jax_backend_runs_and_reloads_its_checkpoint(self, tmp_path):
        """--backend jax trains the Flax shared model and reloads the msgpack checkpoint into a fresh model."""
        pytest.importorskip("matplotlib")
        pytest.importorskip("tqdm")
        pytest.importorskip("flax")
        pytest.importorskip("optax")
        from mixrl.demo.cli import run

        summary = run(_namespace(tmp_path, backend="jax", steps=512))
        assert (tmp_path / "model.msgpack").stat().st_size > 0
        assert summary.checkpoint.endswith("model.msgpack") and len(summary.evaluation_returns) == 10


@pytest.mark.slow
class TestExport:
    def test_onnx_export_gives_the_reloaded_models_greedy_actions(self, tmp_path):
        """--export onnx writes policy.onnx; onnxruntime's actions are the argmax of the checkpoint's logits."""
        onnxruntime = pytest.importorskip("onnxruntime")
        pytest.importorskip("matplotlib")
        import torch

        from mixrl.demo.cli import run
        from mixrl.utils.model_instantiators.torch import load_model

        summary = run(_namespace(tmp_path, steps=2048, export="onnx"))
        assert summary.export == str(tmp_path / "policy.onnx") and summary.export_agreement == 1.0
        sidecar = json.loads((tmp_path / "policy.onnx.json").read_text())
        assert sidecar["action_space"] == {"type": "Discrete", "n": 2, "start": 0} and sidecar["format"] == "onnx"
        assert summary.export_check == sidecar["check"] and sidecar["check"]["agreement"] == 1.0
        assert "export check            worst error n/a, agreement 100.0% on 256" in summary.text()
        session = onnxruntime.InferenceSession(summary.export, providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["observations"]
        states = np.random.default_rng(0).normal(size=(512, 4)).astype(np.float32)
        (actions,) = session.run(None, {"observations": states})
        model = load_model(tmp_path / "model.pt")
        with torch.no_grad():
            logits = model.policy_layer(model.net_container(torch.from_numpy(states)))
        np.testing.assert_array_equal(actions, logits.argmax(dim=-1, keepdim=True).numpy())

    def test_jax_model_exports_through_its_torch_twin(self, tmp_path):
        """--backend jax --export torch.export: the policy.pt2 file gives the Flax model's Gaussian means."""
        pytest.importorskip("flax")
        pytest.importorskip("matplotlib")
        import jax.numpy as jnp
        import torch

        from mixrl.demo.cli import run
        from mixrl.utils.model_instantiators.jax import load_model

        summary = run(_namespace(tmp_path, env="Pendulum-v1", steps=512, backend="jax", export="torch.export"))
        assert summary.export == str(tmp_path / "policy.pt2") and (tmp_path / "policy.pt2.json").exists()
        assert summary.export_check is not None and summary.export_check["max_abs_error"] < 1e-4
        states = np.random.default_rng(1).uniform(-1, 1, size=(64, 3)).astype(np.float32)
        with torch.no_grad():
            exported = torch.export.load(summary.export).module()(torch.from_numpy(states)).numpy()
        model = load_model(tmp_path / "model.msgpack")
        params = model.state_dict.params["params"]
        hidden = jnp.asarray(states)
        for layer in ("layers_0", "layers_2"):
            hidden = jnp.tanh(
                hidden @ params["net_container"][layer]["kernel"] + params["net_container"][layer]["bias"]
            )
        mean = hidden @ params["policy_layer"]["kernel"] + params["policy_layer"]["bias"]
        np.testing.assert_allclose(exported, np.asarray(mean), atol=1e-5)


def test_export_without_onnxruntime_is_a_usage_error(tmp_path, monkeypatch, capsys):
    """--export onnx without the export extra stops before training and says what to install."""
    import importlib.util

    from mixrl.demo import cli

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a)
    )
    with pytest.raises(SystemExit) as stop:
        cli.main(["--export", "onnx", "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "--export onnx needs onnxruntime" in capsys.readouterr().err
    assert not (tmp_path / "model.pt").exists()
