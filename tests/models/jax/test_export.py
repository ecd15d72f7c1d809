"""``export_model`` for JAX models: the file, run in onnxruntime, torch.export or reloaded StableHLO, gives the JAX
model's deterministic actions.

Expected actions are computed from the JAX model itself: ``outputs["mean_actions"]`` (clipped to the Box
by hand when ``clip_actions``), the argmax of the logits plus the Discrete ``start``, the value output.
"""

import ast
import json
import pathlib
import subprocess
import sys

import flax.linen as nn
import gymnasium
import jax.numpy as jnp
import numpy as np
import onnxruntime
import pytest
import torch

import mixrl.models.torch as mt
from mixrl.models.jax import GaussianMixin, Model
from mixrl.models.jax.export import export_model, load_exported, torch_twin
from mixrl.utils.model_instantiators.jax import categorical_model, gaussian_model, shared_model

OBS = gymnasium.spaces.Box(-1.0, 1.0, (4,))
BOX = gymnasium.spaces.Box(-0.2, 0.2, (2,))  # narrow: clipping changes some means
NETWORK = [{"name": "net", "input": "STATES", "layers": [8], "activations": "tanh"}]
STATES = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)


def run_onnx(path, observations: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"observations": observations})[0]


def exported_actions(model, tmp_path, **kwargs) -> np.ndarray:
    """Export to ONNX and run the file on STATES (batch 7) and on one row (the batch is dynamic)."""
    path = tmp_path / "policy.onnx"
    export_model(model, path, **kwargs)
    actions = run_onnx(path, STATES)
    np.testing.assert_array_equal(run_onnx(path, STATES[:1]), actions[:1])
    return actions


class TestInstantiatedModels:
    @pytest.mark.parametrize("fixed_log_std", [False, True])
    def test_gaussian_policy_gives_the_mean_actions(self, tmp_path, fixed_log_std):
        """(batch, A) float32 equal to outputs["mean_actions"]; a fixed log-std (not a parameter) is fine."""
        model = gaussian_model(OBS, BOX, network=NETWORK, output="ACTIONS", fixed_log_std=fixed_log_std)
        _, _, outputs = model.act({"states": STATES}, role="policy")
        actions = exported_actions(model, tmp_path)
        assert actions.shape == (7, 2) and actions.dtype == np.float32
        np.testing.assert_allclose(actions, np.asarray(outputs["mean_actions"]), rtol=0, atol=1e-5)

    def test_model_export_method_writes_the_same_file(self, tmp_path):
        """``model.export(path)`` (the torch call) is ``export_model(model, path)``."""
        model = categorical_model(OBS, gymnasium.spaces.Discrete(3), network=NETWORK, output="ACTIONS")
        model.export(tmp_path / "method.onnx")
        expected = np.argmax(np.asarray(model.act({"states": STATES}, role="policy")[2]["net_output"]), -1)
        np.testing.assert_array_equal(run_onnx(tmp_path / "method.onnx", STATES)[:, 0], expected)

    def test_clipped_gaussian_policy_gives_the_clipped_means(self, tmp_path):
        """clip_actions: the mean clipped to [low, high], as act clips its actions."""
        model = gaussian_model(OBS, BOX, network=NETWORK, output="3 * ACTIONS", clip_actions=True)
        _, _, outputs = model.act({"states": STATES}, role="policy")
        mean = np.asarray(outputs["mean_actions"])
        expected = np.clip(mean, BOX.low, BOX.high)
        assert not np.allclose(expected, mean)  # the check below sees the clipping
        np.testing.assert_allclose(exported_actions(model, tmp_path), expected, rtol=0, atol=1e-5)

    def test_categorical_policy_gives_the_argmax_plus_start(self, tmp_path):
        """(batch, 1) int64: argmax of the logits shifted by Discrete(start=2)."""
        model = categorical_model(OBS, gymnasium.spaces.Discrete(3, start=2), network=NETWORK, output="ACTIONS")
        _, _, outputs = model.act({"states": STATES}, role="policy")
        expected = np.argmax(np.asarray(outputs["net_output"]), axis=-1, keepdims=True) + 2
        actions = exported_actions(model, tmp_path)
        assert actions.dtype == np.int64
        np.testing.assert_array_equal(actions, expected)

    def test_shared_model_exports_the_chosen_role(self, tmp_path):
        """role="value" of a shared policy/value model: the value output (batch, 1)."""
        model = shared_model(
            OBS,
            BOX,
            roles=["policy", "value"],
            parameters=[{"network": NETWORK, "output": "ACTIONS"}, {"output": "ONE"}],
        )
        values, _, _ = model.act({"states": STATES}, role="value")
        np.testing.assert_allclose(exported_actions(model, tmp_path, role="value"), values, rtol=0, atol=1e-5)

    def test_torch_export_file_gives_the_mean_actions(self, tmp_path):
        """format="torch.export": torch.export.load(file).module()(observations) equals outputs["mean_actions"];
        the sidecar names the JAX backend."""
        model = gaussian_model(OBS, BOX, network=NETWORK, output="ACTIONS")
        _, _, outputs = model.act({"states": STATES}, role="policy")
        result = export_model(model, tmp_path / "policy.pt2", format="torch.export", example_inputs=STATES[:3])
        with torch.no_grad():
            actions = torch.export.load(str(tmp_path / "policy.pt2")).module()(torch.from_numpy(STATES)).numpy()
        np.testing.assert_allclose(actions, np.asarray(outputs["mean_actions"]), rtol=0, atol=1e-5)
        assert result.metadata["backend"] == "jax" and result.check is not None and result.check.agreement == 1.0

    def test_recurrent_models_are_not_exported(self, tmp_path):
        """Flax cells have no torch RNN conversion: NotImplementedError, no file."""
        network = [{"name": "net", "input": "STATES", "layers": [{"gru": {"hidden_size": 4}}]}]
        model = gaussian_model(OBS, BOX, network=network, output="ACTIONS", num_envs=2, sequence_length=3)
        with pytest.raises(NotImplementedError, match="recurrent"):
            export_model(model, tmp_path / "policy.onnx")
        assert not (tmp_path / "policy.onnx").exists()


class FlaxPolicy(GaussianMixin, Model):
    """Hand-written: Dense hidden (tanh), Dense mean, log-std parameter."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        GaussianMixin.__init__(self)

    @nn.compact
    def __call__(self, inputs, role):
        hidden = nn.tanh(nn.Dense(8, name="hidden")(inputs["states"]))
        return nn.Dense(2, name="mean")(hidden), self.param("log_std", lambda _: jnp.zeros(2)), {}


class TorchTwin(mt.GaussianMixin, mt.Model):
    """The same layers in torch; ``activation`` lets a test build a twin that computes something else."""

    def __init__(self, activation=torch.tanh):
        mt.Model.__init__(self, OBS, BOX, "cpu")
        mt.GaussianMixin.__init__(self)
        self.activation = activation
        self.hidden, self.mean = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)
        self.log_std = torch.nn.Parameter(torch.zeros(2))

    def compute(self, inputs, role):
        return self.mean(self.activation(self.hidden(inputs["states"]))), self.log_std, {}


class TestHandWrittenModels:
    @pytest.fixture(scope="class")
    @classmethod
    def policy(cls):
        model = FlaxPolicy(OBS, BOX)
        model.init_state_dict("policy")
        return model

    def test_a_passed_twin_receives_the_weights_and_is_exported(self, policy, tmp_path):
        """torch_model=: the exported file gives the Flax model's mean actions."""
        _, _, outputs = policy.act({"states": STATES}, role="policy")
        actions = exported_actions(policy, tmp_path, torch_model=TorchTwin())
        np.testing.assert_allclose(actions, np.asarray(outputs["mean_actions"]), rtol=0, atol=1e-5)

    def test_twin_kernels_are_the_transposed_dense_kernels(self, policy):
        """torch_twin: Linear weight (out, in) = Dense kernel (in, out).T, in eval mode."""
        twin = torch_twin(policy, TorchTwin())
        kernel = np.asarray(policy.state_dict.params["params"]["hidden"]["kernel"])
        np.testing.assert_array_equal(twin.hidden.weight.detach().numpy(), kernel.T)
        assert not twin.training

    def test_without_a_twin_the_error_says_what_to_pass(self, policy, tmp_path):
        """No description to build a twin from: ValueError naming torch_model=."""
        with pytest.raises(ValueError, match=r"FlaxPolicy has no torch_twin\(\).*pass torch_model="):
            export_model(policy, tmp_path / "policy.onnx")

    def test_a_model_with_a_torch_twin_method_builds_its_own_twin(self, policy, tmp_path):
        """A model's torch_twin() replaces torch_model= (what the instantiators' models provide)."""

        class Described(FlaxPolicy):
            @nn.nowrap
            def torch_twin(self):
                return TorchTwin()

        model = Described(OBS, BOX)
        model.init_state_dict("policy")
        _, _, outputs = model.act({"states": STATES}, role="policy")
        np.testing.assert_allclose(exported_actions(model, tmp_path), outputs["mean_actions"], rtol=0, atol=1e-5)

    def test_a_twin_that_computes_something_else_is_refused(self, policy, tmp_path):
        """Same layers, another activation: ValueError before any file is written."""
        with pytest.raises(ValueError, match="does not compute what the model computes: output 0"):
            export_model(policy, tmp_path / "policy.onnx", torch_model=TorchTwin(torch.relu))
        assert not (tmp_path / "policy.onnx").exists()

    def test_missing_torch_names_the_extra(self, policy, tmp_path, monkeypatch):
        """Without PyTorch: ImportError with pip install 'mixrl[torch]'."""
        monkeypatch.setitem(sys.modules, "torch", None)
        with pytest.raises(ImportError, match=r"pip install 'mixrl\[torch\]'"):
            export_model(policy, tmp_path / "policy.onnx")


class TestStableHLO:
    def test_reloaded_file_gives_the_clipped_mean_actions_for_any_batch(self, tmp_path):
        """jax.export with a symbolic batch: batch 7 and 1 give clip(outputs["mean_actions"]) of the model."""
        model = gaussian_model(OBS, BOX, network=NETWORK, output="ACTIONS", clip_actions=True)
        _, _, outputs = model.act({"states": STATES}, role="policy")
        expected = np.clip(np.asarray(outputs["mean_actions"]), BOX.low, BOX.high)
        assert not np.allclose(expected, outputs["mean_actions"])  # the clip matters
        result = model.export(tmp_path / "policy.stablehlo", format="stablehlo")
        policy = load_exported(tmp_path / "policy.stablehlo")
        np.testing.assert_allclose(policy(STATES), expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(policy(STATES[:1]), expected[:1], rtol=0, atol=1e-6)
        assert policy.metadata == result.metadata == json.loads((tmp_path / "policy.stablehlo.json").read_text())
        assert result.metadata["inputs"] == [{"name": "observations", "shape": ["batch", 4], "dtype": "float32"}]
        assert result.metadata["format"] == "stablehlo" and result.metadata["backend"] == "jax"
        assert result.check is not None and result.check.max_abs_error is not None
        assert result.check.max_abs_error < 1e-5 and result.check.samples == 256

    def test_categorical_gives_the_argmax_plus_start(self, tmp_path):
        model = categorical_model(OBS, gymnasium.spaces.Discrete(3, start=2), network=NETWORK, output="ACTIONS")
        logits = np.asarray(model.act({"states": STATES}, role="policy")[2]["net_output"])
        export_model(model, tmp_path / "policy.stablehlo", format="stablehlo")
        actions = load_exported(tmp_path / "policy.stablehlo")(STATES)
        np.testing.assert_array_equal(actions, np.argmax(logits, -1, keepdims=True) + 2)

    def test_history_window_matches_a_numpy_reference(self, tmp_path):
        """history=2 over d=2: the window slides (newest last) and actions are the model's on the flat window."""
        model = gaussian_model(OBS, BOX, network=NETWORK, output="ACTIONS")
        export_model(model, tmp_path / "policy.stablehlo", format="stablehlo", history=2)
        policy = load_exported(tmp_path / "policy.stablehlo")
        rng = np.random.default_rng(1)
        window = exported = np.zeros((5, 2, 2), np.float32)
        for _ in range(3):
            observation = rng.normal(size=(5, 2)).astype(np.float32)
            window = np.concatenate([window[:, 1:], observation[:, None]], axis=1)
            mean = model.act({"states": window.reshape(5, 4)}, role="policy")[2]["mean_actions"]
            actions, exported = policy(observation, exported)
            np.testing.assert_allclose(actions, np.asarray(mean), rtol=0, atol=1e-6)
            np.testing.assert_array_equal(exported, window)

    def test_reduced_precision_is_refused(self, tmp_path):
        model = gaussian_model(OBS, BOX, network=NETWORK, output="ACTIONS")
        with pytest.raises(ValueError, match="format='stablehlo' exports float32"):
            export_model(model, tmp_path / "policy.stablehlo", format="stablehlo", dtype="float16")


def test_export_does_not_import_the_instantiators():
    """The export modules do not import mixrl.utils.model_instantiators (the twin comes from model.torch_twin())."""
    root = pathlib.Path(__file__).resolve().parents[3] / "mixrl" / "models"
    for path in [root / "_deploy.py", root / "jax" / "export.py", root / "torch" / "export.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            assert not any("model_instantiators" in name for name in names), path


def test_importing_the_module_does_not_import_torch():
    """mixrl.models.jax.export imports torch only when a function is called."""
    code = "import sys, mixrl.models.jax.export; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
