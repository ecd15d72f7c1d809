"""Invalid settings, inputs and outputs are ValueErrors at build time, naming the field, on both backends."""

import importlib
import re

import gymnasium
import numpy as np
import pytest

OBS, ACT = gymnasium.spaces.Box(-1, 1, (3,)), gymnasium.spaces.Box(-1, 1, (2,))
DISCRETE = gymnasium.spaces.Discrete(4, start=1)
NETWORK = [{"name": "net", "input": "STATES", "layers": [4], "activations": "relu"}]


@pytest.fixture(params=["torch", "jax"])
def backend(request):
    """The instantiator module of each backend."""
    pytest.importorskip(request.param)
    return importlib.import_module(f"mixrl.utils.model_instantiators.{request.param}")


class TestRoleSettings:
    @pytest.mark.parametrize(
        ("settings", "match"),
        [
            ({"initial_log_std": float("nan")}, "initial_log_std must be a finite number, got nan"),
            ({"initial_log_std": float("inf")}, "initial_log_std must be a finite number, got inf"),
            ({"min_log_std": "a"}, "min_log_std must be a finite number, got 'a'"),
            ({"min_log_std": 3, "max_log_std": -3}, "min_log_std=3 is above max_log_std=-3"),
            ({"clip_actions": "false"}, "clip_actions must be true or false, got 'false'"),
            ({"clip_log_std": 0}, "clip_log_std must be true or false, got 0"),
            ({"fixed_log_std": "no"}, "fixed_log_std must be true or false, got 'no'"),
        ],
    )
    def test_gaussian_settings_are_checked(self, backend, settings, match):
        """A YAML 'false' (a string, truthy), NaN / inf log-std values and min > max are refused."""
        with pytest.raises(ValueError, match=match):
            backend.gaussian_model(OBS, ACT, network=NETWORK, output="ACTIONS", **settings)

    def test_a_yaml_string_flag_in_a_config_is_refused(self, backend):
        """clip_actions: 'false' in a document names the field."""
        text = "class: DeterministicMixin\nclip_actions: 'false'\nhiddens: [4]\n"
        with pytest.raises(ValueError, match="clip_actions must be true or false, got 'false'"):
            backend.model_from_config(text, OBS, ACT)

    def test_a_shared_role_setting_names_the_role(self, backend):
        """In a shared model the message starts with the role."""
        parameters = [{"network": NETWORK, "output": "ACTIONS", "clip_actions": "yes"}, {"output": "ONE"}]
        with pytest.raises(ValueError, match="role 'policy': clip_actions must be true or false, got 'yes'"):
            backend.shared_model(OBS, ACT, roles=["policy", "value"], parameters=parameters)

    @pytest.mark.parametrize(
        ("function", "space", "match"),
        [
            ("categorical_model", ACT, "CategoricalMixin acts in a Discrete action space, got Box"),
            ("gaussian_model", DISCRETE, "GaussianMixin acts in a Box action space, got Discrete"),
            ("multivariate_gaussian_model", DISCRETE, "MultivariateGaussianMixin acts in a Box action space"),
        ],
    )
    def test_an_action_space_of_the_wrong_type_is_refused(self, backend, function, space, match):
        """A categorical model of a Box action space (it acted before) or a Gaussian of a Discrete one."""
        with pytest.raises(ValueError, match=match):
            getattr(backend, function)(OBS, space, network=NETWORK, output="ACTIONS")


class TestExpressions:
    @pytest.mark.parametrize(
        ("output", "match"),
        [("ACTIONS / 0", "'ACTIONS / 0' divides by zero"), ("ACTIONS * 1e400", "is not a finite number")],
    )
    def test_outputs_that_cannot_be_finite_are_refused(self, backend, output, match):
        """A division by a literal zero or an infinite constant is an error naming the output."""
        with pytest.raises(ValueError, match=re.escape(f"output expression {output!r}: ") + f".*{match}"):
            backend.deterministic_model(OBS, ACT, network=NETWORK, output=output)

    @pytest.mark.parametrize("selection", ["STATES[:, 100:101]", "STATES[:, 3:]", "STATES[..., 5:1]"])
    def test_an_input_that_selects_nothing_is_refused(self, backend, selection):
        """STATES[:, 100:101] of a 3-wide observation built and acted on (batch, 0) before."""
        network = [{"name": "net", "input": selection, "layers": [4]}]
        match = re.escape(f"container 'net': input '{selection}' is empty (shape (1, 0))") + r".*'STATES': \(1, 3\)"
        with pytest.raises(ValueError, match=match):
            backend.deterministic_model(OBS, ACT, network=network, output="ACTIONS")

    def test_an_integer_index_out_of_range_is_refused(self, backend):
        """STATES[:, 100] names the input and the size it indexes."""
        network = [{"name": "net", "input": "STATES[:, 100]", "layers": [4]}]
        with pytest.raises(ValueError, match=r"input 'STATES\[:, 100\]' fails on a sample.*100.*size 3"):
            backend.deterministic_model(OBS, ACT, network=network, output="ACTIONS")


class TestOneHotEncoding:
    @pytest.mark.parametrize(("values", "bad"), [([[1.5]], "[1.5]"), ([[0], [5]], "[0.0, 5.0]"), ([[2], [7]], "[7.0]")])
    def test_values_outside_the_space_are_refused(self, backend, values, bad):
        """Discrete(4, start=1) takes the integers 1..4: 1.5 (acted before), 0, 5 and 7 are named."""
        array = np.asarray(values, np.float32)
        with pytest.raises(ValueError, match=re.escape(f"expected integers in [1, 5), got {bad}")):
            backend.one_hot_encoding(DISCRETE, array if backend.__name__.endswith("jax") else _torch(array))

    def test_valid_values_are_encoded(self, backend):
        """1 and 4 of Discrete(4, start=1) are the first and last one-hot columns."""
        array = np.asarray([[1], [4]], np.float32)
        encoded = backend.one_hot_encoding(DISCRETE, array if backend.__name__.endswith("jax") else _torch(array))
        np.testing.assert_array_equal(np.asarray(encoded), [[1, 0, 0, 0], [0, 0, 0, 1]])


def _torch(array):
    import torch

    return torch.as_tensor(array)
