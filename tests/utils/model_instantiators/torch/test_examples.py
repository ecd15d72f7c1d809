"""skrl 1.x's instantiator API and the documented description examples, run with mixrl imports.

skrl 1.x's instantiator document has no code snippet ("Basic usage: TODO"), so its examples are its
signatures: every legacy-era parameter exists, in skrl 1.x's order, with the legacy default.
"""

import inspect

import gymnasium
import pytest
import torch

import mixrl.utils.model_instantiators as skrl_path
from mixrl.utils.model_instantiators.torch import Shape, deterministic_model, gaussian_model, shared_model

LEGACY_SIGNATURES = {
    "categorical_model": [
        "observation_space",
        "action_space",
        "device",
        "unnormalized_log_prob",
        "input_shape",
        "hiddens",
        "hidden_activation",
        "output_shape",
        "output_activation",
    ],
    "deterministic_model": [
        "observation_space",
        "action_space",
        "device",
        "clip_actions",
        "input_shape",
        "hiddens",
        "hidden_activation",
        "output_shape",
        "output_activation",
        "output_scale",
    ],
    "gaussian_model": [
        "observation_space",
        "action_space",
        "device",
        "clip_actions",
        "clip_log_std",
        "min_log_std",
        "max_log_std",
        "input_shape",
        "hiddens",
        "hidden_activation",
        "output_shape",
        "output_activation",
        "output_scale",
    ],
    "shared_model": ["observation_space", "action_space", "device", "structure", "roles", "parameters"],
}
LEGACY_SIGNATURES["multivariate_gaussian_model"] = LEGACY_SIGNATURES["gaussian_model"]
LEGACY_DEFAULTS = {
    "observation_space": None,
    "action_space": None,
    "device": None,
    "unnormalized_log_prob": True,
    "clip_actions": False,
    "clip_log_std": True,
    "min_log_std": -20,
    "max_log_std": 2,
    "roles": [],
    "parameters": [],
}

CONV_CRITIC_YAML = """
network:
  - name: features            # container name; its output is referable by this name
    input: permute(STATES, (0, 3, 1, 2))
    layers:
      - conv2d: {out_channels: 32, kernel_size: 8, stride: 4}
      - conv2d: [64, 4, 2]
      - flatten
    activations: relu
  - name: net
    input: concatenate([features, ACTIONS])
    layers: [256, {linear: 128}]
    activations: [elu, elu]
output: ONE                   # critic: one linear unit appended to the last container
"""


@pytest.mark.parametrize("name", LEGACY_SIGNATURES)
def test_legacy_signatures_lead_every_function(name):
    """Legacy-era parameters come first, in skrl 1.x's order, with the legacy defaults (categorical: True)."""
    parameters = inspect.signature(getattr(skrl_path, name)).parameters
    assert list(parameters)[: len(LEGACY_SIGNATURES[name])] == LEGACY_SIGNATURES[name]
    for key in LEGACY_SIGNATURES[name]:
        if key in LEGACY_DEFAULTS:
            assert parameters[key].default == LEGACY_DEFAULTS[key], key


def test_skrl_import_path_re_exports_the_torch_functions():
    """mixrl.utils.model_instantiators.<name> is the torch function; Shape is shared."""
    from mixrl.utils.model_instantiators import torch as backend

    for name in (
        "categorical_model",
        "multicategorical_model",
        "deterministic_model",
        "gaussian_model",
        "multivariate_gaussian_model",
        "shared_model",
        "one_hot_encoding",
        "model_from_config",
        "load_model",
    ):
        assert getattr(skrl_path, name) is getattr(backend, name)
    assert skrl_path.Shape is backend.Shape is Shape


def test_legacy_style_critic():
    """The legacy-style critic snippet (STATES_ACTIONS -> 400-300 ReLU -> ONE), verbatim apart from the spaces."""
    obs_space, act_space = gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Box(-1, 1, (2,))
    critic = deterministic_model(
        obs_space,
        act_space,
        device="cpu",
        input_shape=Shape.STATES_ACTIONS,
        hiddens=[400, 300],
        hidden_activation=["relu", "relu"],
        output_shape=Shape.ONE,
        output_activation=None,
    )
    values = critic.act({"states": torch.randn(2, 4), "taken_actions": torch.randn(2, 2)}, role="critic_1")[0]
    assert values.shape == (2, 1)


def test_conv_critic_yaml_definition():
    """The definition-style critic YAML, loaded with safe_load, builds the critic."""
    yaml = pytest.importorskip("yaml")
    definition = yaml.safe_load(CONV_CRITIC_YAML)
    critic = deterministic_model(
        gymnasium.spaces.Box(0, 1, (64, 64, 3)), gymnasium.spaces.Box(-1, 1, (2,)), device="cpu", **definition
    )
    assert critic.net_container[4].weight.shape == (1, 128)


def test_skrl_runner_flow():
    """The skrl 1.4 runner: all keywords, return_source first, then the model, then init_state_dict per role."""
    kwargs = dict(
        observation_space=gymnasium.spaces.Box(-1, 1, (4,)),
        action_space=gymnasium.spaces.Box(-1, 1, (2,)),
        device="cpu",
        clip_actions=False,
        clip_log_std=True,
        min_log_std=-20.0,
        max_log_std=2.0,
        initial_log_std=0.0,
        network=[{"name": "net", "input": "STATES", "layers": [64, 64], "activations": "elu"}],
        output="ACTIONS",
    )
    assert "class GaussianModel(GaussianMixin, Model):" in gaussian_model(return_source=True, **kwargs)
    policy = gaussian_model(**kwargs)
    policy.init_state_dict("policy")
    shared = shared_model(
        kwargs["observation_space"],
        kwargs["action_space"],
        "cpu",
        ["GaussianMixin", "DeterministicMixin"],
        ["policy", "value"],
        [{"network": kwargs["network"], "output": "ACTIONS"}, {"output": "ONE"}],
    )
    for role in ("policy", "value"):
        shared.init_state_dict(role)
    assert shared.act({"states": torch.randn(3, 4)}, role="value")[0].shape == (3, 1)


def test_skrl_1_0_shared_model_example():
    """The skrl 1.0-era shared-model call: structure=None and both roles repeating the same legacy trunk."""
    observation_space, action_space = gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Box(-1, 1, (2,))
    trunk = {"input_shape": Shape.STATES, "hiddens": [32, 32], "hidden_activation": ["elu", "elu"]}
    model = shared_model(
        observation_space,
        action_space,
        "cpu",
        structure=None,
        roles=["policy", "value"],
        parameters=[
            {"clip_actions": False, "clip_log_std": True, "min_log_std": -20, "max_log_std": 2, **trunk,
             "output_shape": Shape.ACTIONS, "output_activation": None, "output_scale": 1.0},
            {"clip_actions": False, **trunk, "output_shape": Shape.ONE, "output_activation": None, "output_scale": 1.0},
        ],
    )  # fmt: skip
    assert [name for name, _ in model.named_children()] == ["net_container", "policy_layer", "value_layer"]
    states = torch.randn(3, 4)
    assert model.act({"states": states}, role="policy")[0].shape == (3, 2)
    assert model.act({"states": states}, role="value")[0].shape == (3, 1)


def test_empty_hiddens_is_a_linear_policy():
    """hiddens=[]: the head alone, Linear(obs, act), then the legacy default tanh."""
    model = gaussian_model(4, 2, device="cpu", hiddens=[])
    assert [type(m) for m in model.net_container] == [torch.nn.Linear]
    x = torch.randn(2, 4)
    torch.testing.assert_close(model.compute({"states": x})[0], torch.tanh(model.net_container[0](x)))
