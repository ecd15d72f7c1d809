"""model_from_config, the resolved description, and msgpack checkpoints that rebuild their own model (JAX)."""

import json
import logging

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from mixrl.models.jax import DeterministicMixin, Model
from mixrl.utils.model_instantiators.jax import gaussian_model, load_model, model_from_config, save_model

from .conftest import close, params, shapes

OBS, ACT = gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-2, 2, (3,))
POLICY_YAML = """
class: GaussianMixin
clip_actions: false
network:
  - {name: net, input: STATES, layers: [8, 8], activations: elu}
output: ACTIONS
"""
SHARED_YAML = """
class: Shared
roles:
  policy:
    class: GaussianMixin
    initial_log_std: -0.5
    network:
      - {name: net, input: STATES, layers: [8, 8], activations: elu}
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
    initial_log_std: 0.0
    network:
      - {name: net, input: STATES, layers: [8, 8], activations: elu}
    output: ACTIONS
  value:
    class: DeterministicMixin
    network:
      - {name: net, input: STATES, layers: [8, 8], activations: elu}
    output: ONE
agent:
  class: PPO
"""
RECURRENT = [
    {"name": "features", "input": "STATES", "layers": [8], "activations": "relu"},
    {"name": "memory", "input": "features", "layers": [{"lstm": 8}]},
]


def trained(model):
    """Parameters that differ from a fresh build (so loading them is visible); NumPy arithmetic, no compilation."""
    changed = jax.tree_util.tree_map(lambda leaf: jnp.asarray(np.asarray(leaf) * 1.5 + 0.25), model.state_dict.params)
    model.state_dict = model.state_dict.replace(params=changed)
    return model


def outputs_of(model, inputs, role):
    return model.apply(model.state_dict.params, inputs, role)


class TestModelFromConfig:
    def test_yaml_text_file_and_dict_build_the_model_of_the_keywords(self, tmp_path):
        """The three forms of a document give the model the instantiator builds from the same keywords."""
        path = tmp_path / "policy.yaml"
        path.write_text(POLICY_YAML)
        network = yaml.safe_load(POLICY_YAML)["network"]
        expected = shapes(gaussian_model(OBS, ACT, network=network, output="ACTIONS").state_dict.params)
        for config in (POLICY_YAML, path, yaml.safe_load(POLICY_YAML)):
            model = model_from_config(config, OBS, ACT)
            assert type(model).__name__ == "GaussianModel" and shapes(model.state_dict.params) == expected

    def test_shared_document(self):
        """class: Shared with roles: one model, heads named after the roles, the policy's log-std settings."""
        model = model_from_config(SHARED_YAML, OBS, ACT)
        assert sorted(params(model)) == ["log_std_parameter", "net_container", "policy_layer", "value_layer"]
        np.testing.assert_array_equal(params(model)["log_std_parameter"], np.full(3, -0.5, np.float32))
        assert outputs_of(model, {"states": jnp.ones((2, 5))}, "value")[0].shape == (2, 1)

    @pytest.mark.parametrize("separate", [False, True])
    def test_skrl_runner_document(self, separate):
        """models: {separate: false} -> every role the same shared instance; true -> one model per role."""
        models = model_from_config(RUNNER_YAML.replace("{separate}", str(separate)), OBS, ACT)
        assert list(models) == ["policy", "value"] and (models["policy"] is models["value"]) is not separate
        assert type(models["value"]).__name__ == ("DeterministicModel" if separate else "SharedModel")

    def test_document_spaces_are_used_when_no_space_is_given(self):
        """observation_space / action_space in the document; arguments take precedence."""
        box = {"type": "Box", "low": -1, "high": 1, "shape": [3]}
        document = {**yaml.safe_load(POLICY_YAML), "observation_space": 5, "action_space": box}
        model = model_from_config(document)
        assert (model.num_observations, model.num_actions) == (5, 3)

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
            model_from_config(document, OBS, ACT)


class TestResolvedDescription:
    def test_description_content(self):
        """Kind, every mixin parameter, canonical network, output and the encoded spaces."""
        assert model_from_config(POLICY_YAML, OBS, ACT).description == {
            "class": "GaussianMixin",
            "clip_actions": False,
            "clip_log_std": True,
            "min_log_std": -20,
            "max_log_std": 2,
            "reduction": "sum",
            "initial_log_std": 0,
            "fixed_log_std": False,
            "network": [{"name": "net", "input": "STATES", "layers": [8, 8], "activations": "elu"}],
            "output": "ACTIONS",
            "observation_space": {"type": "Box", "low": -1.0, "high": 1.0, "shape": [5], "dtype": "float32"},
            "action_space": {"type": "Box", "low": -2.0, "high": 2.0, "shape": [3], "dtype": "float32"},
        }

    @pytest.mark.parametrize("document", [POLICY_YAML, SHARED_YAML], ids=["policy", "shared"])
    def test_description_rebuilds_the_model(self, document):
        """model_from_config(model.description): same class, parameter tree and outputs (with the same parameters)."""
        built = model_from_config(document, OBS, ACT)
        description = built.description
        assert yaml.safe_load(yaml.safe_dump(description)) == description == json.loads(json.dumps(description))
        rebuilt = model_from_config(description)
        assert type(rebuilt).__name__ == type(built).__name__ and rebuilt.description == description
        assert shapes(rebuilt.state_dict.params) == shapes(built.state_dict.params)
        states = {"states": jnp.ones((2, 5))}
        for role in ("policy", "value") if "roles" in description else ("policy",):
            got = rebuilt.apply(built.state_dict.params, states, role)[0]
            close(got, np.asarray(outputs_of(built, states, role)[0]))

    def test_description_is_a_copy(self):
        """Editing the returned dict does not change the model's description."""
        model = model_from_config(POLICY_YAML, OBS, ACT)
        model.description["class"] = "x"
        assert model.description["class"] == "GaussianMixin"

    def test_non_plain_parameter_leaves_the_model_without_description(self, caplog, tmp_path):
        """A parameter with no plain form: the model works, a warning names it, save_model refuses."""
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            model = gaussian_model(OBS, ACT, hiddens=[8], initial_log_std=jnp.array(0.5))
        assert model.description is None and "description.initial_log_std: ArrayImpl" in caplog.text
        with pytest.raises(ValueError, match="no resolved description"):
            save_model(model, tmp_path / "w.msgpack")
        assert list(tmp_path.iterdir()) == []


class TestCheckpoints:
    @pytest.mark.parametrize("document", [POLICY_YAML, SHARED_YAML], ids=["policy", "shared"])
    def test_saved_and_loaded_models_give_the_same_outputs(self, tmp_path, document):
        """save_model writes <path> (msgpack) and <path>.model.yaml; load_model: same outputs, eval mode."""
        model = trained(model_from_config(document, OBS, ACT))
        save_model(model, tmp_path / "agent.msgpack")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.msgpack", "agent.msgpack.model.yaml"]
        assert yaml.safe_load((tmp_path / "agent.msgpack.model.yaml").read_text()) == model.description
        loaded = load_model(tmp_path / "agent.msgpack")
        assert loaded.training is False and loaded.description == model.description
        states = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
        for role in ("policy", "value") if "roles" in model.description else ("policy",):
            for got, want in zip(
                outputs_of(loaded, {"states": states}, role)[:-1],
                outputs_of(model, {"states": states}, role)[:-1],
                strict=True,
            ):
                close(got, np.asarray(want))

    def test_fixed_log_std_travels_in_the_description(self, tmp_path):
        """A constant log-std is not in the weights: the description restores it."""
        model = gaussian_model(OBS, ACT, hiddens=[8], initial_log_std=-1.5, fixed_log_std=True)
        save_model(model, tmp_path / "policy.msgpack")
        loaded = load_model(tmp_path / "policy.msgpack")
        np.testing.assert_array_equal(
            outputs_of(loaded, {"states": jnp.ones((1, 5))}, "policy")[1], np.full(3, -1.5, np.float32)
        )

    def test_recurrent_model_round_trip(self, tmp_path):
        """Recurrent keywords travel too: same specification, outputs and final states."""
        document = {"class": "GaussianMixin", "network": RECURRENT, "output": "ACTIONS", "num_envs": 2}
        model = trained(model_from_config(document, OBS, ACT))
        save_model(model, tmp_path / "rnn.msgpack")
        loaded = load_model(tmp_path / "rnn.msgpack")
        assert (
            loaded.get_specification()
            == model.get_specification()
            == {"rnn": {"sequence_length": 16, "sizes": [(1, 2, 8)] * 2}}
        )
        inputs = {"states": jnp.ones((2, 5)), "rnn": [jnp.ones((1, 2, 8)), -jnp.ones((1, 2, 8))]}
        got, want = outputs_of(loaded, inputs, "policy"), outputs_of(model, inputs, "policy")
        close(got[0], np.asarray(want[0]))
        for a, b in zip(got[2]["rnn"], want[2]["rnn"], strict=True):
            close(a, np.asarray(b))

    def test_missing_sidecar_names_it(self, tmp_path):
        """Weights whose description went missing: ValueError naming <path>.model.yaml."""
        model_from_config(POLICY_YAML, OBS, ACT).save(tmp_path / "policy.msgpack")
        assert (tmp_path / "policy.msgpack.model.yaml").exists()  # Model.save writes it, as in torch
        (tmp_path / "policy.msgpack.model.yaml").unlink()
        with pytest.raises(ValueError, match=r"policy\.msgpack\.model\.yaml: missing"):
            load_model(tmp_path / "policy.msgpack")

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
        (tmp_path / "policy.msgpack").write_bytes(b"")
        (tmp_path / "policy.msgpack.model.yaml").write_text(text)
        with pytest.raises(ValueError, match=rf"policy\.msgpack\.model\.yaml: {match}"):
            load_model(tmp_path / "policy.msgpack")

    def test_weights_that_do_not_fit_the_description(self, tmp_path):
        """The sidecar of another model: the weights do not match, ValueError naming the weights file."""
        save_model(model_from_config(POLICY_YAML, OBS, ACT), tmp_path / "policy.msgpack")
        save_model(model_from_config(SHARED_YAML, OBS, ACT), tmp_path / "shared.msgpack")
        other = (tmp_path / "shared.msgpack.model.yaml").read_text().splitlines(keepends=True)
        undigested = "".join(line for line in other if not line.startswith("# weights sha256:"))  # else: digest error
        (tmp_path / "policy.msgpack.model.yaml").write_text(undigested)
        with pytest.raises(ValueError, match=r"policy\.msgpack: the parameter trees differ"):
            load_model(tmp_path / "policy.msgpack")

    def test_hand_written_models_are_refused_by_save_model(self, tmp_path):
        """Only instantiated models carry a description; Model.save still works for the others."""

        class Critic(DeterministicMixin, Model):
            def __init__(self, observation_space=OBS, action_space=ACT, device=None, **kwargs):
                Model.__init__(self, observation_space, action_space, device, **kwargs)
                DeterministicMixin.__init__(self)

            @nn.compact
            def __call__(self, inputs, role):
                return nn.Dense(1)(inputs["states"]), {}

        critic = Critic()
        critic.init_state_dict("critic")
        with pytest.raises(ValueError, match="Critic has no resolved description"):
            save_model(critic, tmp_path / "critic.msgpack")
        assert list(tmp_path.iterdir()) == []
