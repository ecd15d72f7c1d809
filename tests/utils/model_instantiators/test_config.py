"""Configuration documents to instantiator calls (framework-free plan)."""

import ast
import logging
import pathlib

import gymnasium
import pytest
import yaml

import mixrl.utils.model_instantiators as instantiators
from mixrl.utils.model_instantiators import _config
from mixrl.utils.model_instantiators._config import plan, read_document

PACKAGE = pathlib.Path(instantiators.__file__).parent
POLICY = {"class": "GaussianMixin", "network": [{"name": "net", "input": "STATES", "layers": [8]}], "output": "ACTIONS"}
VALUE = {"class": "DeterministicMixin", "output": "ONE"}


class TestReading:
    def test_mapping_yaml_text_and_yaml_file_are_the_same_document(self, tmp_path):
        """A str with a line break is YAML text; another str or a path is a YAML file."""
        text = yaml.safe_dump(POLICY)
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        assert read_document(POLICY)[0] == read_document(text)[0] == read_document(path)[0] == POLICY
        assert read_document(str(path)) == (POLICY, str(path))

    def test_missing_file_is_file_not_found(self, tmp_path):
        """A path that does not exist is not mistaken for YAML text."""
        with pytest.raises(FileNotFoundError):
            read_document(str(tmp_path / "missing.yaml"))

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("class: [\n", "not a valid YAML document"),
            ("- a\n- b\n", "expected a mapping.*got list"),
            ("!!python/object/apply:os.getcwd []\n", "not a valid YAML document"),
        ],
    )
    def test_invalid_documents(self, text, match):
        """Broken YAML, a list, and Python tags (safe_load refuses them: nothing is executed)."""
        with pytest.raises(ValueError, match=match):
            read_document(text)

    def test_yaml_is_parsed_only_by_load_yaml_with_a_safe_loader(self):
        """Outside _config.py mixrl calls no yaml parsing function; load_yaml's loader constructs plain data only."""
        parsers = ("load", "safe_load", "unsafe_load", "full_load", "load_all", "safe_load_all", "parse", "compose")
        for path in PACKAGE.parent.parent.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml":
                    assert node.attr not in parsers or path.name == "_config.py", path
                if isinstance(node, ast.keyword):
                    assert node.arg != "Loader", path
        assert issubclass(_config._LOADER, yaml.constructor.SafeConstructor)
        assert not issubclass(_config._LOADER, yaml.constructor.FullConstructor)


class TestShapes:
    def test_one_model(self):
        """class names the instantiator; the other keys are its keywords; spaces are decoded."""
        document = {**POLICY, "clip_actions": True, "observation_space": {"type": "Discrete", "n": 3}}
        request = plan(document)
        ((build),) = request.builds
        assert build.function == "gaussian_model" and not request.runner
        assert dict(build.kwargs) == {"network": POLICY["network"], "output": "ACTIONS", "clip_actions": True}
        assert request.spaces == {"observation_space": gymnasium.spaces.Discrete(3), "action_space": None}

    def test_shared_model(self):
        """class: Shared with roles in order: structure, roles and parameters of shared_model."""
        (build,) = plan(
            {"class": "shared_model", "roles": {"policy": POLICY, "value": VALUE}, "sequence_length": 8}
        ).builds
        assert build.function == "shared_model"
        assert build.kwargs["structure"] == ["GaussianMixin", "DeterministicMixin"]
        assert build.kwargs["roles"] == ["policy", "value"] and build.kwargs["sequence_length"] == 8
        assert build.kwargs["parameters"][1] == {"output": "ONE"}

    def test_runner_shape_shared(self):
        """models: {separate: false, ...}: one shared build serving every role; agent sections are ignored."""
        request = plan(
            {"seed": 1, "agent": {"rollouts": 16}, "models": {"separate": False, "policy": POLICY, "value": VALUE}}
        )
        (build,) = request.builds
        assert request.runner and build.function == "shared_model" and build.roles == ("policy", "value")

    def test_runner_shape_separate(self, caplog):
        """separate: true (or missing, with a warning as in skrl): one build per role."""
        for models in ({"separate": True, "policy": POLICY, "value": VALUE}, {"policy": POLICY, "value": VALUE}):
            with caplog.at_level(logging.WARNING, logger="mixrl"):
                request = plan({"models": models})
            assert [(b.function, b.roles) for b in request.builds] == [
                ("gaussian_model", ("policy",)),
                ("deterministic_model", ("value",)),
            ]
        assert len(caplog.records) == 1 and "no 'separate' key" in caplog.records[0].getMessage()


class TestErrors:
    @pytest.mark.parametrize(
        ("document", "match"),
        [
            ({"network": []}, r"expected a 'class' key \(one of \['CategoricalMixin'"),
            ({"class": "BetaMixin"}, r"unknown model class 'BetaMixin': expected one of \['CategoricalMixin'"),
            ({**POLICY, "hidden": [8]}, r"unknown keys \['hidden'\]; allowed: \['action_space', 'class'"),
            ({**VALUE, "initial_log_std": 0}, r"unknown keys \['initial_log_std'\]"),
            ({"class": "Shared", "roles": {"policy": POLICY}}, "at least two role names"),
            (
                {"class": "Shared", "roles": {"a": POLICY, "b": {"output": "ONE"}}},
                r"roles\.b: expected a mapping with a 'class'",
            ),
            ({"class": "Shared", "roles": {"a": POLICY, "b": {"class": "Shared"}}}, "a role is one mixin"),
            ({"class": "Shared", "roles": {"a": POLICY, "b": VALUE}, "network": []}, r"unknown keys \['network'\]"),
            ({"class": "Shared", "roles": {"a": POLICY, "b": VALUE}, "single_forward_pass": "yes"}, "true or false"),
            ({"models": {"separate": "no", "policy": POLICY}}, "separate must be true or false"),
            ({"models": {"separate": True}}, "no roles"),
            ({"models": {"policy": POLICY}, "env": {}}, r"unknown keys \['env'\]; allowed: \['agent', 'memory'"),
            ({**POLICY, "observation_space": {"type": "Text"}}, "observation_space: expected null"),
        ],
    )
    def test_unknown_or_malformed_parts_are_value_errors(self, document, match):
        """Each error names the place and lists what is allowed."""
        with pytest.raises(ValueError, match=match):
            plan(document)


def test_skrl_import_path_exports_the_config_functions():
    """model_from_config and load_model are reachable from the skrl 1.x import path."""
    assert {"model_from_config", "load_model"} <= set(dir(instantiators))
