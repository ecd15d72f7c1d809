"""``Model.export``: ONNX (run with onnxruntime), torch.export and TorchScript files agree with ``act`` in eval mode;
the sidecar describes them, the export check catches files that do not."""

import json
import os

import gymnasium
import numpy as np
import pytest
import torch
from torch import nn

from mixrl.models._deploy import ExportCheckError
from mixrl.models.torch import (
    CategoricalMixin,
    DeterministicMixin,
    GaussianMixin,
    Model,
    MultiCategoricalMixin,
    MultivariateGaussianMixin,
    TabularMixin,
)
from mixrl.models.torch.beta import BetaMixin
from mixrl.models.torch.normalizer import ObservationNormalizer
from mixrl.models.torch.rnn import rnn_specification, sequence_forward

pytestmark = [  # TorchScript stays tested while it works; its deprecation is tested in TestTorchScriptDeprecation
    pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(r"ignore:export\(format='torchscript'\) is deprecated:FutureWarning"),
]

OBS = gymnasium.spaces.Box(-1.0, 1.0, (6,))
BOX = gymnasium.spaces.Box(np.array([-1.0, 0.0, 2.0], np.float32), np.array([1.0, 0.5, 3.0], np.float32))
BATCHES = [1, 5, 32]
FORMATS = ["onnx", "torch.export", "torchscript"]
FILES = {"onnx": "policy.onnx", "torch.export": "policy.pt2", "torchscript": "policy.pt"}


class MLP(nn.Sequential):
    def __init__(self, inputs: int, outputs: int):
        super().__init__(nn.Linear(inputs, 16), nn.Tanh(), nn.Linear(16, outputs))


class Gaussian(GaussianMixin, Model):
    """Mean scaled by 3 so that clipping and squashing matter; optional in-model normaliser."""

    def __init__(self, normalize=False, clip_actions=False, squash=False):
        Model.__init__(self, OBS, BOX, "cpu")
        GaussianMixin.__init__(self, clip_actions=clip_actions, squash=squash)
        self.clip = clip_actions
        self.normalizer = ObservationNormalizer(self.num_observations) if normalize else None
        self.net = MLP(self.num_observations, self.num_actions)
        self.log_std = nn.Parameter(torch.zeros(self.num_actions))

    def compute(self, inputs, role):
        states = inputs["states"] if self.normalizer is None else self.normalizer(inputs["states"])
        return 3 * self.net(states), self.log_std, {}


class MultivariateGaussian(MultivariateGaussianMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, BOX, "cpu")
        MultivariateGaussianMixin.__init__(self, clip_actions=True)
        self.clip = True
        self.net = MLP(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        return 3 * self.net(inputs["states"]), torch.zeros(self.num_actions), {}


class Beta(BetaMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, BOX, "cpu")
        BetaMixin.__init__(self)
        self.net = MLP(self.num_observations, 2 * self.num_actions)
        self.clip = False

    def compute(self, inputs, role):
        alpha, beta = (nn.functional.softplus(self.net(inputs["states"])) + 1).chunk(2, dim=-1)
        return alpha, beta, {}


class Categorical(CategoricalMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, gymnasium.spaces.Discrete(5, start=3), "cpu")
        CategoricalMixin.__init__(self)
        self.net = MLP(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        return self.net(inputs["states"]), {}


class MultiCategorical(MultiCategoricalMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, gymnasium.spaces.MultiDiscrete([3, 2, 4], start=[1, -1, 0]), "cpu")
        MultiCategoricalMixin.__init__(self)
        self.net = MLP(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        return self.net(inputs["states"]), {}


class Deterministic(DeterministicMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, BOX, "cpu")
        DeterministicMixin.__init__(self, clip_actions=True)
        self.net = MLP(self.num_observations, self.num_actions)

    def compute(self, inputs, role):
        return 3 * self.net(inputs["states"]), {}


class Recurrent(GaussianMixin, Model):
    """The documented recurrent pattern with a GRU or LSTM trunk, behind an in-model normaliser."""

    def __init__(self, kind: str):
        Model.__init__(self, OBS, BOX, "cpu")
        GaussianMixin.__init__(self, clip_actions=True)
        self.clip = True
        self.normalizer = ObservationNormalizer(self.num_observations)
        self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[kind](self.num_observations, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, self.num_actions)
        self.log_std = nn.Parameter(torch.zeros(self.num_actions))

    def get_specification(self):
        return rnn_specification(self.rnn, num_envs=4, sequence_length=3)

    def compute(self, inputs, role):
        out, states = sequence_forward(
            self.rnn,
            self.normalizer(inputs["states"]),
            inputs["rnn"],
            terminated=inputs.get("terminated"),
            sequence_length=3,
            training=self.training,
        )
        return 3 * self.head(out), self.log_std, {"rnn": states}


class Shared(GaussianMixin, DeterministicMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, BOX, "cpu")
        GaussianMixin.__init__(self, role="policy")
        self.clip = False
        DeterministicMixin.__init__(self, role="value")
        self.trunk = MLP(self.num_observations, 8)
        self.policy_head = nn.Linear(8, self.num_actions)
        self.value_head = nn.Linear(8, 1)

    def act(self, inputs, role):
        if role == "policy":
            return GaussianMixin.act(self, inputs, role)
        return DeterministicMixin.act(self, inputs, role)

    def compute(self, inputs, role):
        hidden = self.trunk(inputs["states"])
        if role == "policy":
            return self.policy_head(hidden), torch.zeros(self.num_actions), {}
        return self.value_head(hidden), {}


def trained_normalizer(model):
    """Give the model's normaliser non-trivial statistics (mean 2, std 3)."""
    with torch.no_grad():
        model.normalizer.update(2 + 3 * torch.randn(500, model.num_observations))


def expected_actions(model, observations, states=(), role="policy"):
    """The deterministic action of ``act`` in eval mode (and the next states of a recurrent model)."""
    model.eval()
    inputs = {"states": observations, "rnn": list(states)} if states else {"states": observations}
    with torch.no_grad():
        actions, _, outputs = model.act(inputs, role=role)
    if isinstance(model, (GaussianMixin, MultivariateGaussianMixin, BetaMixin)) and role == "policy":
        actions = outputs["mean_actions"]  # the squashed mean with squash=True
        if model.clip:
            actions = actions.clamp(torch.as_tensor(BOX.low), torch.as_tensor(BOX.high))
    elif isinstance(model, MultiCategorical):
        chunks = outputs["net_output"].split([3, 2, 4], dim=-1)
        actions = torch.stack([c.argmax(-1) for c in chunks], dim=-1) + torch.tensor([1, -1, 0])
    elif isinstance(model, Categorical):
        actions = outputs["net_output"].argmax(-1, keepdim=True) + 3
    return actions, outputs.get("rnn", [])


def run_exported(path, fmt, observations, states=()):
    """``(actions, *next_states)`` of the exported file, as torch tensors."""
    if fmt == "onnx":
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        feed = {"observations": observations.numpy()}
        feed.update({f"rnn_state_{i}": s.numpy() for i, s in enumerate(states)})
        return [torch.from_numpy(out) for out in session.run(None, feed)]
    module = torch.export.load(os.fspath(path)).module() if fmt == "torch.export" else torch.jit.load(os.fspath(path))
    with torch.no_grad():
        out = module(observations, *states)
    return list(out) if isinstance(out, tuple) else [out]


FEED_FORWARD = {
    "gaussian": Gaussian,
    "gaussian_clipped": lambda: Gaussian(clip_actions=True),
    "gaussian_squashed": lambda: Gaussian(squash=True),
    "multivariate_gaussian_clipped": MultivariateGaussian,
    "beta_mean": Beta,
    "categorical_with_start": Categorical,
    "multicategorical_with_start": MultiCategorical,
    "deterministic_clipped": Deterministic,
    "gaussian_with_normalizer": lambda: Gaussian(normalize=True),
}


class TestFeedForward:
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("case", list(FEED_FORWARD))
    def test_exported_file_matches_deterministic_act(self, tmp_path, case, fmt):
        """For several batch sizes the file returns act's mean / argmax (+ start) / output, clipped or squashed."""
        torch.manual_seed(0)
        model = FEED_FORWARD[case]()
        if isinstance(getattr(model, "normalizer", None), ObservationNormalizer):
            trained_normalizer(model)
        path = tmp_path / FILES[fmt]
        model.export(path, format=fmt)
        for batch in BATCHES:
            observations = 2 * torch.randn(batch, OBS.shape[0])
            (actions,) = run_exported(path, fmt, observations)
            expected, _ = expected_actions(model, observations)
            assert actions.dtype == expected.dtype and actions.shape == expected.shape
            torch.testing.assert_close(actions, expected, atol=1e-5, rtol=0)

    def test_actions_are_clipped_or_squashed_into_the_box(self, tmp_path):
        """With clip_actions, squash or a Beta head, exported actions stay inside each dimension's bounds."""
        for index, model in enumerate([Gaussian(clip_actions=True), Gaussian(squash=True), Deterministic(), Beta()]):
            path = tmp_path / f"policy{index}.onnx"
            model.export(path)
            (actions,) = run_exported(path, "onnx", 10 * torch.randn(256, OBS.shape[0]))
            assert (actions >= torch.as_tensor(BOX.low)).all() and (actions <= torch.as_tensor(BOX.high)).all()

    def test_shared_model_exports_the_requested_role(self, tmp_path):
        """role="value" of a shared model exports the value head, role="policy" the policy mean."""
        model = Shared()
        observations = torch.randn(7, OBS.shape[0])
        for role in ("policy", "value"):
            model.export(tmp_path / f"{role}.pt2", format="torch.export", role=role)
            (out,) = run_exported(tmp_path / f"{role}.pt2", "torch.export", observations)
            torch.testing.assert_close(out, expected_actions(model, observations, role=role)[0], atol=1e-5, rtol=0)


class TestRecurrent:
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_states_are_carried_like_the_model_does(self, tmp_path, kind, fmt):
        """Several steps feeding back next_rnn_state_* give act's actions and states at every step."""
        torch.manual_seed(0)
        model = Recurrent(kind)
        trained_normalizer(model)
        path = tmp_path / FILES[fmt]
        model.export(path, format=fmt)
        for batch in (1, 6):
            sizes = model.get_specification()["rnn"]["sizes"]
            states = exported = [torch.zeros(size[0], batch, size[2]) for size in sizes]
            for _ in range(4):
                observations = 2 * torch.randn(batch, OBS.shape[0])
                expected, states = expected_actions(model, observations, states)
                actions, *exported = run_exported(path, fmt, observations, exported)
                assert len(exported) == len(sizes)
                torch.testing.assert_close(actions, expected, atol=1e-5, rtol=0)
                for mine, theirs in zip(exported, states, strict=True):
                    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)

    def test_onnx_names_and_dynamic_batch_axes(self, tmp_path):
        """observations + rnn_state_0..1 -> actions + next_rnn_state_0..1, batch symbolic (dim 0 / dim 1)."""
        onnxruntime = pytest.importorskip("onnxruntime")
        Recurrent("lstm").export(tmp_path / "policy.onnx")
        session = onnxruntime.InferenceSession(os.fspath(tmp_path / "policy.onnx"))
        inputs = {i.name: i.shape for i in session.get_inputs()}
        outputs = {o.name: o.shape for o in session.get_outputs()}
        assert list(inputs) == ["observations", "rnn_state_0", "rnn_state_1"]
        assert list(outputs) == ["actions", "next_rnn_state_0", "next_rnn_state_1"]
        assert inputs["observations"] == ["batch", 6] and outputs["actions"] == ["batch", 3]
        assert inputs["rnn_state_0"] == [2, "batch", 8] and outputs["next_rnn_state_1"] == [2, "batch", 8]

    def test_dynamo_exporter(self, tmp_path):
        """dynamo=True (torch.export-based ONNX) gives the same file contract for a recurrent policy."""
        pytest.importorskip("onnxscript")
        torch.manual_seed(0)
        model = Recurrent("lstm")
        trained_normalizer(model)
        model.export(tmp_path / "policy.onnx", dynamo=True)
        for batch in (1, 9):
            observations = torch.randn(batch, OBS.shape[0])
            states = [torch.randn(2, batch, 8) for _ in range(2)]
            actions, *exported = run_exported(tmp_path / "policy.onnx", "onnx", observations, states)
            expected, next_states = expected_actions(model, observations, states)
            torch.testing.assert_close(actions, expected, atol=1e-5, rtol=0)
            for mine, theirs in zip(exported, next_states, strict=True):
                torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)


class TestExportProcess:
    def test_model_modes_and_statistics_are_left_as_they_were(self, tmp_path):
        """Export runs in eval mode (no statistics update) and restores every sub-module's mode."""
        model = Gaussian(normalize=True)
        model.train()
        model.net.eval()
        before = {k: v.clone() for k, v in model.normalizer.state_dict().items()}
        model.export(tmp_path / "policy.onnx")
        assert model.training and model.normalizer.training and not model.net.training
        for key, value in model.normalizer.state_dict().items():
            torch.testing.assert_close(value, before[key])

    def test_file_is_replaced_atomically(self, tmp_path):
        """An existing file and sidecar are replaced; a failing export leaves both untouched; no temporary file."""
        path = tmp_path / "policy.pt2"
        path.write_bytes(b"old")
        Deterministic().export(path, format="torch.export")
        assert path.read_bytes() != b"old"
        content, sidecar = path.read_bytes(), (tmp_path / "policy.pt2.json").read_bytes()
        with pytest.raises(ValueError):
            Deterministic().export(path, format="torch.export", example_inputs=(torch.zeros(2, 6), torch.zeros(1)))
        with pytest.raises(ExportCheckError):
            Deterministic().export(path, format="torch.export", dtype="float16", tolerance=1e-9)
        assert path.read_bytes() == content and (tmp_path / "policy.pt2.json").read_bytes() == sidecar
        assert sorted(os.listdir(tmp_path)) == ["policy.pt2", "policy.pt2.json"]

    def test_example_inputs_are_used_for_tracing(self, tmp_path):
        """Given example observations work like the default sample."""
        model = Categorical()
        model.export(tmp_path / "policy.pt2", format="torch.export", example_inputs=torch.randn(3, 6))
        observations = torch.randn(4, 6)
        (actions,) = run_exported(tmp_path / "policy.pt2", "torch.export", observations)
        assert torch.equal(actions, expected_actions(model, observations)[0])


class TestErrors:
    def test_unknown_format_names_the_allowed_ones(self, tmp_path):
        with pytest.raises(
            ValueError, match=r"unknown export format 'tflite'.*\['onnx', 'torch.export', 'torchscript'\]"
        ):
            Deterministic().export(tmp_path / "p", format="tflite")

    def test_unknown_role_of_a_shared_model_names_the_roles(self, tmp_path):
        with pytest.raises(ValueError, match=r"unknown role 'critic'.*\['policy', 'value'\]"):
            Shared().export(tmp_path / "p.onnx", role="critic")

    def test_stochastic_export_is_not_implemented(self, tmp_path):
        with pytest.raises(NotImplementedError, match="deterministic=True"):
            Categorical().export(tmp_path / "p.onnx", deterministic=False)

    def test_mixin_without_deterministic_head_is_not_implemented(self, tmp_path):
        """A tabular model has no network to export."""

        class Table(TabularMixin, Model):
            def __init__(self):
                Model.__init__(self, gymnasium.spaces.Discrete(3), gymnasium.spaces.Discrete(2), "cpu")
                TabularMixin.__init__(self)
                self.q_table = torch.zeros(1, 3, 2)

            def compute(self, inputs, role):
                return self.q_table[0, inputs["states"].long().view(-1)].argmax(-1, keepdim=True), {}

        with pytest.raises(NotImplementedError, match="TabularMixin.*supported mixins are GaussianMixin, .*BetaMixin"):
            Table().export(tmp_path / "p.onnx")

    def test_dynamo_without_onnxscript_names_the_extra(self, tmp_path, monkeypatch):
        monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
        with pytest.raises(ImportError, match=r"needs onnxscript: pip install 'mixrl\[export\]'"):
            Deterministic().export(tmp_path / "p.onnx", dynamo=True)

    def test_example_inputs_with_missing_states(self, tmp_path):
        with pytest.raises(ValueError, match=r"2 recurrent state\(s\), got 1 tensor"):
            Recurrent("lstm").export(tmp_path / "p.onnx", example_inputs=torch.zeros(2, 6))


class History(DeterministicMixin, Model):
    """A linear policy over the last K=3 observations of d=2 values, stacked oldest first in ``states``."""

    K, D = 3, 2

    def __init__(self):
        Model.__init__(self, gymnasium.spaces.Box(-1.0, 1.0, (self.K * self.D,)), gymnasium.spaces.Box(-9, 9, (2,)))
        DeterministicMixin.__init__(self)
        self.net = nn.Linear(self.K * self.D, 2)

    def compute(self, inputs, role):
        return self.net(inputs["states"]), {}


class DataDependent(DeterministicMixin, Model):
    """Python control flow on the values: a trace records one branch, which the export check must catch."""

    def __init__(self):
        Model.__init__(self, OBS, gymnasium.spaces.Box(-9, 9, (1,)))
        DeterministicMixin.__init__(self)

    def compute(self, inputs, role):
        states = inputs["states"]
        return (states[:, :1] if bool((states[:, 0] > 0).all()) else -states[:, :1]), {}


class TestSidecar:
    @pytest.mark.parametrize("fmt", ["onnx", "torch.export"])
    def test_sidecar_describes_spaces_names_shapes_and_the_check(self, tmp_path, fmt):
        """<file>.json holds the spaces, symbolic-batch inputs/outputs, recurrent states, precision and the check."""
        result = Recurrent("gru").export(tmp_path / FILES[fmt], format=fmt, samples=17)
        sidecar = json.loads((tmp_path / f"{FILES[fmt]}.json").read_text())
        assert result.sidecar == os.fspath(tmp_path / f"{FILES[fmt]}.json") and result.metadata == sidecar
        assert sidecar["format_version"] == 1 and sidecar["file"] == FILES[fmt] and sidecar["format"] == fmt
        assert sidecar["role"] == "policy" and sidecar["deterministic"] and sidecar["normalizer"]
        assert sidecar["observation_space"] == {
            "type": "Box",
            "shape": [6],
            "dtype": "float32",
            "low": [-1.0] * 6,
            "high": [1.0] * 6,
        }
        assert sidecar["action_space"]["low"] == [-1.0, 0.0, 2.0] and sidecar["action_space"]["high"] == [1, 0.5, 3]
        assert sidecar["inputs"] == [
            {"name": "observations", "shape": ["batch", 6], "dtype": "float32"},
            {"name": "rnn_state_0", "shape": [2, "batch", 8], "dtype": "float32"},
        ]
        assert sidecar["outputs"][0] == {"name": "actions", "shape": ["batch", 3], "dtype": "float32"}
        assert sidecar["recurrent_states"] == [
            {"input": "rnn_state_0", "output": "next_rnn_state_0", "shape": [2, "batch", 8]}
        ]
        assert sidecar["precision"] == {"dtype": "float32", "quantize": None, "boundary_dtype": "float32"}
        assert sidecar["history"] is None and sidecar["check"]["samples"] == 17
        assert sidecar["check"]["max_abs_error"] < 1e-5 and sidecar["check"]["agreement"] == 1.0
        assert result.check is not None and result.check.max_abs_error == sidecar["check"]["max_abs_error"]

    def test_discrete_spaces_and_integer_actions(self, tmp_path):
        """MultiDiscrete keeps nvec and start; an integer-only output has no error, only agreement."""
        result = MultiCategorical().export(tmp_path / "policy.onnx")
        assert result.metadata["action_space"] == {"type": "MultiDiscrete", "nvec": [3, 2, 4], "start": [1, -1, 0]}
        assert result.metadata["outputs"] == [{"name": "actions", "shape": ["batch", 3], "dtype": "int64"}]
        assert result.check is not None and result.check.max_abs_error is None and result.check.agreement == 1.0
        assert not result.metadata["normalizer"]

    def test_check_false_writes_no_check(self, tmp_path):
        result = Gaussian().export(tmp_path / "policy.onnx", check=False)
        assert result.check is None and json.loads((tmp_path / "policy.onnx.json").read_text())["check"] is None


class TestCheck:
    def test_a_trace_that_misses_data_dependent_control_flow_is_refused(self, tmp_path):
        """The traced file keeps one branch; on random observations it differs and nothing is written."""
        with pytest.raises(ExportCheckError, match=r"worst absolute error [0-9.e-]+ \(tolerance 0.0001\)"):
            DataDependent().export(tmp_path / "policy.onnx", example_inputs=torch.ones(2, 6))
        assert os.listdir(tmp_path) == []

    def test_discrete_disagreement_is_reported_as_agreement(self, tmp_path):
        """A categorical int8 file asked to agree everywhere at an impossible level names the agreement."""
        with pytest.raises(ExportCheckError, match=r"action agreement [0-9.]+% \(minimum 100.1%\)"):
            Categorical().export(tmp_path / "policy.onnx", min_agreement=1.001)

    def test_the_check_is_logged(self, tmp_path, caplog):
        with caplog.at_level("INFO", logger="mixrl"):
            Gaussian().export(tmp_path / "policy.onnx")
        assert "worst absolute error" in caplog.text and "on 256 samples" in caplog.text


class TestHistory:
    @pytest.mark.parametrize("fmt", ["onnx", "torch.export"])
    def test_window_slides_and_actions_match_a_numpy_reference(self, tmp_path, fmt):
        """Feeding next_observation_history back: window = last K observations oldest first, actions W x + b."""
        model, (k, d) = History(), (History.K, History.D)
        result = model.export(tmp_path / FILES[fmt], format=fmt, history=k)
        assert result.metadata["history"]["length"] == k and result.metadata["history"]["observation_size"] == d
        assert [e["shape"] for e in result.metadata["inputs"]] == [["batch", d], ["batch", k, d]]
        weight, bias = model.net.weight.detach().numpy(), model.net.bias.detach().numpy()
        rng = np.random.default_rng(0)
        history = exported = np.zeros((4, k, d), np.float32)
        for _ in range(5):
            observation = rng.uniform(-1, 1, (4, d)).astype(np.float32)
            history = np.concatenate([history[:, 1:], observation[:, None]], axis=1)  # oldest first
            expected = history.reshape(4, k * d) @ weight.T + bias
            actions, exported = run_history(tmp_path / FILES[fmt], fmt, observation, exported)
            np.testing.assert_allclose(actions, expected, atol=1e-5)
            np.testing.assert_array_equal(exported, history)

    def test_history_must_divide_the_observation_size(self, tmp_path):
        with pytest.raises(ValueError, match=r"history=4: the model's observation size 6 is not K \* d"):
            History().export(tmp_path / "policy.onnx", history=4)

    def test_history_with_a_recurrent_model_is_not_implemented(self, tmp_path):
        with pytest.raises(NotImplementedError, match="recurrent"):
            Recurrent("gru").export(tmp_path / "policy.onnx", history=2)


def run_history(path, fmt, observation, history):
    if fmt == "onnx":
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"observations": observation, "observation_history": history})
    with torch.no_grad():
        out = torch.export.load(os.fspath(path)).module()(torch.from_numpy(observation), torch.from_numpy(history))
    return [value.numpy() for value in out]


PRECISIONS = {  # measured on the Gaussian test model (actions up to 3 before clipping): README numbers
    "float16": {"dtype": "float16"},
    "int8": {"quantize": "int8"},
}


class TestPrecision:
    @pytest.mark.parametrize("precision", list(PRECISIONS))
    @pytest.mark.parametrize("case", ["gaussian_with_normalizer", "categorical_with_start"])
    def test_reduced_precision_file_is_close_and_measured(self, tmp_path, precision, case):
        """float16 / int8 files keep float32 inputs and outputs, stay within the per-precision tolerance of act,
        and the sidecar's measured error is the one an independent run finds."""
        torch.manual_seed(0)
        model = FEED_FORWARD[case]()
        if case == "gaussian_with_normalizer":
            trained_normalizer(model)
        result = model.export(tmp_path / "policy.onnx", **PRECISIONS[precision])
        assert result.metadata["precision"]["quantize" if precision == "int8" else "dtype"] == precision
        observations = 2 + 3 * torch.randn(512, OBS.shape[0])
        (actions,) = run_exported(tmp_path / "policy.onnx", "onnx", observations)
        expected, _ = expected_actions(model, observations)
        assert actions.dtype == expected.dtype
        check = result.check
        assert check is not None
        if expected.is_floating_point():
            error = (actions - expected).abs().max().item()
            assert 0 < error <= {"float16": 2e-2, "int8": 1e-1}[precision]
            assert check.max_abs_error is not None and 0 < check.max_abs_error <= check.tolerance
        else:
            assert (actions == expected).all(-1).float().mean().item() >= 0.9 and check.agreement >= 0.9

    def test_float16_torch_export(self, tmp_path):
        """dtype="float16" works with torch.export too (float32 boundary, float16 weights inside)."""
        model = Gaussian()
        result = model.export(tmp_path / "policy.pt2", format="torch.export", dtype="float16")
        program = torch.export.load(os.fspath(tmp_path / "policy.pt2"))
        assert {p.dtype for p in program.state_dict.values()} == {torch.float16}
        observations = torch.randn(8, 6)
        (actions,) = run_exported(tmp_path / "policy.pt2", "torch.export", observations)
        assert actions.dtype == torch.float32 and result.check is not None
        torch.testing.assert_close(actions, expected_actions(model, observations)[0], atol=2e-2, rtol=0)

    def test_int8_needs_a_float32_onnx_file(self, tmp_path):
        with pytest.raises(ValueError, match="quantize='int8' quantises a float32 ONNX file"):
            Gaussian().export(tmp_path / "policy.pt2", format="torch.export", quantize="int8")
        with pytest.raises(ValueError, match=r"unknown export dtype 'bfloat16'"):
            Gaussian().export(tmp_path / "policy.onnx", dtype="bfloat16")


class TestTorchScriptDeprecation:
    @pytest.mark.filterwarnings("default")
    def test_torchscript_export_warns_and_points_to_torch_export(self, tmp_path):
        """format="torchscript" still works (and is checked) but warns, naming torch.export and onnx; torch's
        own torch.jit deprecation warnings are not silenced."""
        with (
            pytest.warns(FutureWarning, match=r"format='torch.export'.*format='onnx'"),
            pytest.warns(DeprecationWarning, match=r"`torch\.jit\.\w+` is deprecated"),
        ):
            result = Deterministic().export(tmp_path / "policy.pt", format="torchscript")
        assert result.check is not None and result.check.agreement == 1.0
