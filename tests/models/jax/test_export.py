"""``export_model`` for JAX models: the file, run in onnxruntime, gives the JAX model's deterministic actions.

Expected actions are computed from the JAX model itself: ``outputs["mean_actions"]`` (clipped to the Box
by hand when ``clip_actions``), the argmax of the logits plus the Discrete ``start``, the value output.
"""

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
from mixrl.models.jax.export import export_model, torch_twin
from mixrl.utils.model_instantiators.jax import categorical_model, gaussian_model, shared_model

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

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

    def test_torchscript_file_gives_the_mean_actions(self, tmp_path):
        """format="torchscript": torch.jit.load(file)(observations) equals outputs["mean_actions"]."""
        model = gaussian_model(OBS, BOX, network=NETWORK, output="ACTIONS")
        _, _, outputs = model.act({"states": STATES}, role="policy")
        export_model(model, tmp_path / "policy.pt", format="torchscript", example_inputs=STATES[:3])
        with torch.no_grad():
            actions = torch.jit.load(str(tmp_path / "policy.pt"))(torch.from_numpy(STATES)).numpy()
        np.testing.assert_allclose(actions, np.asarray(outputs["mean_actions"]), rtol=0, atol=1e-5)

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
        with pytest.raises(ValueError, match=r"FlaxPolicy has no description.*pass torch_model="):
            export_model(policy, tmp_path / "policy.onnx")

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


def test_importing_the_module_does_not_import_torch():
    """mixrl.models.jax.export imports torch only when a function is called."""
    code = "import sys, mixrl.models.jax.export; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
