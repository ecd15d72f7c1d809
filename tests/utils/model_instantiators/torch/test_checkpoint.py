"""Checkpoints that rebuild their own model: Model.save writes <path>.model.yaml, load_model reads both."""

import gymnasium
import pytest
import torch
import yaml

import mixrl.utils.model_instantiators as skrl_path
from mixrl.models.torch import DeterministicMixin, Model
from mixrl.utils.model_instantiators.torch import load_model, model_from_config

from .test_config import POLICY_YAML, SHARED_YAML
from .test_source import RECURRENT

OBS, ACT = gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Box(-2, 2, (2,))


def trained(model):
    """Weights that differ from a fresh build (so loading them is visible)."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    return model


class TestRoundTrip:
    def test_yaml_policy_saved_and_loaded_gives_the_same_mean_actions(self, tmp_path):
        """Build from YAML, save, load_model: same mean actions; the loaded model is in eval mode."""
        policy = trained(model_from_config(POLICY_YAML, OBS, ACT, "cpu")).eval()
        policy.save(tmp_path / "policy.pt")
        loaded = load_model(tmp_path / "policy.pt", device="cpu")
        assert loaded.training is False and loaded.description == policy.description
        states = torch.randn(5, 4)
        want = policy.act({"states": states}, role="policy")[2]["mean_actions"]
        torch.testing.assert_close(loaded.act({"states": states}, role="policy")[2]["mean_actions"], want)

    def test_shared_model_round_trip(self, tmp_path):
        """A shared policy/value model: same mean actions and values after load_model."""
        model = trained(model_from_config(SHARED_YAML, OBS, ACT, "cpu")).eval()
        model.save(tmp_path / "agent.pt")
        loaded = load_model(str(tmp_path / "agent.pt"))
        states = torch.randn(5, 4)
        for role, key in (("policy", "mean_actions"), ("value", None)):
            got, want = loaded.act({"states": states}, role=role), model.act({"states": states}, role=role)
            torch.testing.assert_close(got[2][key] if key else got[0], want[2][key] if key else want[0])

    def test_recurrent_model_round_trip(self, tmp_path):
        """Recurrent keywords travel too: same specification, outputs and final states."""
        document = {"class": "GaussianMixin", "network": RECURRENT, "output": "ACTIONS", "num_envs": 3}
        model = trained(model_from_config(document, gymnasium.spaces.Box(-1, 1, (5,)), ACT, "cpu")).eval()
        model.save(tmp_path / "rnn.pt")
        loaded = load_model(tmp_path / "rnn.pt")
        assert loaded.get_specification() == model.get_specification()
        inputs = {"states": torch.randn(3, 5), "rnn": [torch.randn(2, 3, 6)]}
        got, want = loaded.compute(inputs, "policy"), model.compute(inputs, "policy")
        torch.testing.assert_close(got[0], want[0])
        torch.testing.assert_close(got[2]["rnn"][0], want[2]["rnn"][0])

    def test_sidecar_is_a_config_document(self, tmp_path):
        """<path>.model.yaml holds the description; model_from_config reads it directly."""
        model = model_from_config(POLICY_YAML, OBS, ACT, "cpu")
        model.save(tmp_path / "policy.pt")
        sidecar = tmp_path / "policy.pt.model.yaml"
        assert yaml.safe_load(sidecar.read_text()) == model.description
        assert type(model_from_config(sidecar)).__name__ == "GaussianModel"

    def test_hand_written_models_get_no_sidecar(self, tmp_path):
        """Only instantiated models carry a description."""

        class Critic(DeterministicMixin, Model):
            def __init__(self):
                Model.__init__(self, OBS, ACT, "cpu")
                DeterministicMixin.__init__(self)
                self.net = torch.nn.Linear(4, 1)

        Critic().save(tmp_path / "critic.pt")
        assert [path.name for path in tmp_path.iterdir()] == ["critic.pt"]

    def test_skrl_import_path_re_exports(self):
        """from mixrl.utils.model_instantiators import load_model, model_from_config."""
        assert skrl_path.load_model is load_model and skrl_path.model_from_config is model_from_config


class TestErrors:
    def test_missing_sidecar_names_it(self, tmp_path):
        """Weights without a description: ValueError naming <path>.model.yaml."""
        model = model_from_config(POLICY_YAML, OBS, ACT, "cpu")
        torch.save(model.state_dict(), tmp_path / "policy.pt")
        with pytest.raises(ValueError, match=r"policy\.pt\.model\.yaml: missing"):
            load_model(tmp_path / "policy.pt")

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("class: [GaussianMixin\n", "corrupted model description"),
            (
                "class: GaussianMixin\nhiddens: [8]\nlayers: 3\n",
                r"not a valid model description: .*unknown keys \['layers'\]",
            ),
            ("models: {policy: {class: GaussianMixin}}\n", "describes several models"),
        ],
    )
    def test_corrupted_or_invalid_sidecar_names_it(self, tmp_path, text, match):
        """A sidecar that is not a valid single-model description: ValueError naming the sidecar."""
        model = model_from_config(POLICY_YAML, OBS, ACT, "cpu")
        model.save(tmp_path / "policy.pt")
        (tmp_path / "policy.pt.model.yaml").write_text(text)
        with pytest.raises(ValueError, match=rf"policy\.pt\.model\.yaml: {match}"):
            load_model(tmp_path / "policy.pt")

    def test_weights_that_do_not_fit_the_description(self, tmp_path):
        """A sidecar of another model: the weights do not match, ValueError naming the weights file."""
        model_from_config(POLICY_YAML, OBS, ACT, "cpu").save(tmp_path / "policy.pt")
        model_from_config(SHARED_YAML, OBS, ACT, "cpu").save(tmp_path / "shared.pt")
        other = (tmp_path / "shared.pt.model.yaml").read_text().splitlines(keepends=True)
        undigested = "".join(line for line in other if not line.startswith("# weights sha256:"))  # else: digest error
        (tmp_path / "policy.pt.model.yaml").write_text(undigested)
        with pytest.raises(ValueError, match=r"policy\.pt does not match SharedModel"):
            load_model(tmp_path / "policy.pt")

    def test_weights_are_loaded_with_weights_only(self, tmp_path):
        """A weights file holding arbitrary objects is refused (weights_only=True)."""
        model = model_from_config(POLICY_YAML, OBS, ACT, "cpu")
        model.save(tmp_path / "policy.pt")
        torch.save({"net_container.0.weight": gymnasium.spaces.Discrete(2)}, tmp_path / "policy.pt")
        sidecar = tmp_path / "policy.pt.model.yaml"  # a sidecar without weights digest: the weights are read
        sidecar.write_text("".join(line for line in sidecar.read_text().splitlines(True) if "sha256" not in line))
        with pytest.raises(ValueError, match="refusing to load objects other than tensors"):
            load_model(tmp_path / "policy.pt")
