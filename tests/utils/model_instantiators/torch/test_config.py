"""model_from_config and the resolved description every instantiated model keeps."""

import json
import logging

import gymnasium
import pytest
import torch
import yaml

from mixrl.utils.model_instantiators.torch import Shape, gaussian_model, model_from_config, shared_model

from .test_source import ACT3, CASES, RECURRENT, VECTOR, inputs_for, recurrent_inputs, shapes

OBS, ACT = gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Box(-1, 1, (2,))
POLICY_YAML = """
class: GaussianMixin
clip_actions: false
network:
  - {name: net, input: STATES, layers: [64, 64], activations: elu}
output: ACTIONS
"""
SHARED_YAML = """
class: Shared
roles:
  policy:
    class: GaussianMixin
    initial_log_std: -0.5
    network:
      - {name: net, input: STATES, layers: [32, 32], activations: elu}
    output: ACTIONS
  value: {class: DeterministicMixin, output: ONE}
"""
RUNNER_YAML = """
seed: 42
models:
  separate: {separate}
  policy:
    class: GaussianMixin
    clip_actions: False
    clip_log_std: True
    min_log_std: -20.0
    max_log_std: 2.0
    initial_log_std: 0.0
    network:
      - name: net
        input: STATES
        layers: [32, 32]
        activations: elu
    output: ACTIONS
  value:
    class: DeterministicMixin
    clip_actions: False
    network:
      - name: net
        input: STATES
        layers: [32, 32]
        activations: elu
    output: ONE
memory:
  class: RandomMemory
agent:
  class: PPO
  rollouts: 16
trainer:
  timesteps: 1000
"""


class TestModelFromConfig:
    def test_yaml_text_file_and_dict_build_the_same_model(self, tmp_path):
        """The three forms of a document give the model the instantiator builds from the same keywords."""
        path = tmp_path / "policy.yaml"
        path.write_text(POLICY_YAML)
        network = yaml.safe_load(POLICY_YAML)["network"]
        expected = shapes(gaussian_model(OBS, ACT, device="cpu", network=network, output="ACTIONS"))
        for config in (POLICY_YAML, path, str(path), yaml.safe_load(POLICY_YAML)):
            model = model_from_config(config, OBS, ACT, device="cpu")
            assert type(model).__name__ == "GaussianModel" and shapes(model) == expected

    @pytest.mark.parametrize("name", ["GaussianModel", "gaussian_model", "gaussian"])
    def test_kind_spellings(self, name):
        """The generated class and the instantiator name work as class too."""
        document = {**yaml.safe_load(POLICY_YAML), "class": name}
        assert type(model_from_config(document, OBS, ACT, "cpu")).__name__ == "GaussianModel"

    def test_shared_document(self):
        """class: Shared with roles: one model, heads named after the roles."""
        model = model_from_config(SHARED_YAML, OBS, ACT, "cpu")
        assert [name for name, _ in model.named_children()] == ["net_container", "policy_layer", "value_layer"]
        assert model.act({"states": torch.randn(3, 4)}, role="value")[0].shape == (3, 1)
        assert torch.all(model.log_std_parameter == -0.5)

    def test_skrl_runner_document_not_separate(self):
        """models: {separate: false}: role -> the same shared instance."""
        models = model_from_config(RUNNER_YAML.replace("{separate}", "False"), OBS, ACT, "cpu")
        assert list(models) == ["policy", "value"] and models["policy"] is models["value"]

    def test_skrl_runner_document_separate(self):
        """models: {separate: true}: role -> its own model."""
        models = model_from_config(RUNNER_YAML.replace("{separate}", "True"), OBS, ACT, "cpu")
        assert models["policy"] is not models["value"]
        assert type(models["value"]).__name__ == "DeterministicModel"

    def test_document_spaces_are_used_when_no_space_is_given(self):
        """observation_space / action_space in the document; arguments take precedence."""
        box = {"type": "Box", "low": -1, "high": 1, "shape": [3]}
        document = {**yaml.safe_load(POLICY_YAML), "observation_space": 7, "action_space": box}
        model = model_from_config(document, device="cpu")
        assert (model.num_observations, model.num_actions) == (7, 3)
        assert model_from_config(document, OBS, ACT, "cpu").num_actions == 2

    @pytest.mark.parametrize(
        ("document", "match"),
        [
            ({"class": "BetaMixin"}, r"unknown model class 'BetaMixin': expected one of"),
            ({"class": "GaussianMixin", "hidden": 8}, r"unknown keys \['hidden'\]; allowed:"),
            ("class: GaussianMixin\nnetwork: [{name: n, input: __import__('os').getcwd(), layers: []}]\n", "unknown"),
        ],
    )
    def test_errors_are_value_errors(self, document, match):
        """Unknown classes and keys list the allowed ones; strings are only parsed, never evaluated."""
        with pytest.raises(ValueError, match=match):
            model_from_config(document, OBS, ACT, "cpu")


SHARED_CASES = {
    "shared-legacy": dict(
        roles=["policy", "value"],
        parameters=[
            {"hiddens": [16], "output_scale": 2.0, "fixed_log_std": True},
            {"output_shape": Shape.ONE, "output_activation": None},
        ],
    ),
    "shared-definition-no-cache": dict(
        structure="DeterministicMixin, DeterministicMixin",
        roles=["actor", "critic"],
        parameters=[{"network": RECURRENT[:1], "output": "tanh(ACTIONS)"}, {"output": "features"}],
        single_forward_pass=False,
    ),
    "shared-recurrent": dict(
        roles=["policy", "value"],
        parameters=[{"network": RECURRENT, "output": "ACTIONS"}, {"output": "ONE"}],
        num_envs=4,
        sequence_length=8,
    ),
}


def rebuilt_matches(built, inputs, roles):
    """model_from_config(built.description) has the same class, state dict and (with its weights) outputs."""
    description = built.description
    assert yaml.safe_load(yaml.safe_dump(description)) == description == json.loads(json.dumps(description))
    rebuilt = model_from_config(description, device="cpu").train(built.training)
    assert type(rebuilt).__name__ == type(built).__name__ and shapes(rebuilt) == shapes(built)
    assert rebuilt.description == description and rebuilt.get_specification() == built.get_specification()
    rebuilt.load_state_dict(built.state_dict())
    for role in roles:
        torch.testing.assert_close(rebuilt.compute(inputs, role)[0], built.compute(inputs, role)[0])


class TestResolvedDescription:
    @pytest.mark.parametrize("case", CASES)
    def test_single_role_description_rebuilds_the_model(self, case):
        """Every single-role form (legacy, CNN, Dict spaces, one-hot, ...) round-trips through its description."""
        function, observation_space, action_space, kwargs, _ = CASES[case]
        built = function(observation_space, action_space, device="cpu", **kwargs)
        rebuilt_matches(built, inputs_for(observation_space, action_space), [""])

    @pytest.mark.parametrize("case", SHARED_CASES)
    def test_shared_description_rebuilds_the_model(self, case):
        """Shared models: roles, trunk in the first role, single_forward_pass and recurrent keywords."""
        built = shared_model(VECTOR, ACT3, device="cpu", **SHARED_CASES[case]).eval()
        inputs = recurrent_inputs(built, 4) if built.get_specification() else inputs_for(VECTOR, ACT3)
        rebuilt_matches(built, inputs, SHARED_CASES[case]["roles"])

    def test_description_content(self):
        """Kind, every mixin parameter, canonical network, output and the encoded spaces."""
        model = model_from_config(POLICY_YAML, OBS, ACT, "cpu")
        assert model.description == {
            "class": "GaussianMixin",
            "clip_actions": False,
            "clip_log_std": True,
            "min_log_std": -20,
            "max_log_std": 2,
            "reduction": "sum",
            "initial_log_std": 0,
            "fixed_log_std": False,
            "network": [{"name": "net", "input": "STATES", "layers": [64, 64], "activations": "elu"}],
            "output": "ACTIONS",
            "observation_space": {"type": "Box", "low": -1.0, "high": 1.0, "shape": [4], "dtype": "float32"},
            "action_space": {"type": "Box", "low": -1.0, "high": 1.0, "shape": [2], "dtype": "float32"},
        }

    def test_description_is_a_copy(self):
        """Editing the returned dict does not change the model's description."""
        model = gaussian_model(OBS, ACT, device="cpu")
        model.description["class"] = "x"
        assert model.description["class"] == "GaussianMixin"

    def test_non_plain_parameter_leaves_the_model_without_description(self, caplog, tmp_path):
        """A parameter with no plain form: the model works, a warning names it, save writes no sidecar."""
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model = gaussian_model(OBS, ACT, device="cpu", initial_log_std=torch.tensor(0.5))
        assert model.description is None and "description.initial_log_std: Tensor" in caplog.text
        model.save(tmp_path / "w.pt")
        assert [path.name for path in tmp_path.iterdir()] == ["w.pt"]

    def test_legacy_description_logs_the_legacy_note_at_most_once(self, caplog):
        """Rebuilding a legacy description is quiet apart from the one-time legacy info."""
        built = gaussian_model(OBS, ACT, device="cpu", hiddens=[8])
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model_from_config(built.description, device="cpu")
        assert not caplog.records
