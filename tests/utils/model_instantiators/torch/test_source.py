"""return_source renders a standalone class equivalent to the built model."""

import gymnasium
import pytest
import torch

from mixrl.utils.model_instantiators.torch import (
    Shape,
    categorical_model,
    deterministic_model,
    gaussian_model,
    multicategorical_model,
    multivariate_gaussian_model,
    shared_model,
)
from mixrl.utils.spaces.torch import flatten_tensorized_space, sample_space

from .test_definition import CNN

Box, Dict, Discrete, MultiDiscrete = (
    getattr(gymnasium.spaces, n) for n in ("Box", "Dict", "Discrete", "MultiDiscrete")
)
IMAGE, ACT2 = Box(0, 1, (64, 64, 3)), Box(-1, 1, (2,))
VECTOR, ACT3 = Box(-1, 1, (5,)), Box(-1, 1, (3,))
DICT = Dict({"pos": Box(-1, 1, (2,)), "STATES_vel": Box(-1, 1, (3,))})
ONE_HOT = [{"name": "n", "input": "one_hot_encoding(OBSERVATION_SPACE, STATES)", "layers": [8], "activations": "relu"}]
DICT_NET = [
    {
        "name": "n",
        "input": "concatenate([STATES['pos'], -STATES['STATES_vel'][:, 1:]])",
        "layers": [{"linear": [8, False]}],
    }
]

CASES = {
    "categorical-legacy": (
        categorical_model,
        VECTOR,
        Discrete(4),
        {"hiddens": [16], "hidden_activation": "tanh"},
        "CategoricalModel",
    ),
    "multicategorical-one-hot": (
        multicategorical_model,
        Discrete(6),
        MultiDiscrete([3, 2]),
        {"network": ONE_HOT, "output": "ACTIONS", "reduction": "mean"},
        "MultiCategoricalModel",
    ),
    "deterministic-cnn": (deterministic_model, IMAGE, ACT2, {"network": CNN, "output": "ONE"}, "DeterministicModel"),
    "deterministic-critic": (
        deterministic_model,
        VECTOR,
        ACT3,
        {
            "input_shape": Shape.STATES_ACTIONS,
            "output_shape": Shape.ONE,
            "output_activation": None,
            "hiddens": [8, 8],
            "clip_actions": True,
        },
        "DeterministicModel",
    ),
    "gaussian-dict": (
        gaussian_model,
        DICT,
        ACT3,
        {
            "network": DICT_NET,
            "output": "2 * tanh(ACTIONS)",
            "reduction": "mean",
            "initial_log_std": -0.5,
            "fixed_log_std": True,
        },
        "GaussianModel",
    ),
    "multivariate-legacy": (
        multivariate_gaussian_model,
        VECTOR,
        ACT3,
        {"hiddens": 8, "output_scale": 0.5},
        "MultivariateGaussianModel",
    ),
}


def run_source(source: str) -> dict:
    """Execute rendered text in a fresh namespace (what a user copying it would do)."""
    namespace: dict = {}
    exec(compile(source, "<rendered>", "exec"), namespace)  # noqa: S102 - the test checks the rendered text
    return namespace


def inputs_for(observation_space, action_space, n=3):
    def flat(space):
        return flatten_tensorized_space(
            sample_space(space, batch_size=n, backend="native", device="cpu", seed=1)
        ).float()

    return {"states": flat(observation_space), "taken_actions": flat(action_space)}


def shapes(model):
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


class TestSingleRole:
    @pytest.mark.parametrize("case", CASES)
    def test_rendered_class_has_identical_state_dict_and_outputs(self, case):
        """Executed text -> same keys, shapes, requires_grad flags; with copied weights, same compute outputs."""
        function, observation_space, action_space, kwargs, class_name = CASES[case]
        source = function(observation_space, action_space, device="cpu", return_source=True, **kwargs)
        assert isinstance(source, str) and f"class {class_name}(" in source and "exec" not in source
        built = function(observation_space, action_space, device="cpu", **kwargs)
        rendered = run_source(source)[class_name](observation_space, action_space, device="cpu")
        assert type(rendered).__name__ == class_name
        assert shapes(rendered) == shapes(built)
        assert {k: p.requires_grad for k, p in rendered.named_parameters()} == {
            k: p.requires_grad for k, p in built.named_parameters()
        }
        rendered.load_state_dict(built.state_dict())
        inputs = inputs_for(observation_space, action_space)
        for a, b in zip(rendered.compute(inputs), built.compute(inputs), strict=True):
            if isinstance(a, torch.Tensor):
                torch.testing.assert_close(a, b)

    def test_mixin_settings_become_constructor_defaults(self):
        """The rendered __init__ defaults carry the instantiator's mixin arguments."""
        source = gaussian_model(VECTOR, ACT3, clip_actions=True, min_log_std=-5, reduction="mean", return_source=True)
        assert "clip_actions=True," in source and "min_log_std=-5," in source and 'reduction="mean",' in source

    def test_imports_only_what_is_used(self):
        """one_hot_encoding is imported only when an expression uses it."""
        assert "import one_hot_encoding" not in gaussian_model(VECTOR, ACT3, return_source=True)
        source = multicategorical_model(
            Discrete(6), MultiDiscrete([3, 2]), network=ONE_HOT, output="ACTIONS", return_source=True
        )
        assert "from mixrl.utils.model_instantiators.torch import one_hot_encoding" in source

    def test_rendered_constructor_passes_the_mixin_settings(self):
        """The rendered __init__ hands its settings to the mixin by keyword (reduction="none": per-dimension)."""
        kwargs = {"clip_actions": True, "reduction": "none", "hiddens": [8]}
        rendered = run_source(gaussian_model(VECTOR, ACT3, return_source=True, **kwargs))["GaussianModel"](
            VECTOR, ACT3, "cpu"
        )
        inputs = {"states": torch.randn(4, 5), "taken_actions": torch.zeros(4, 3)}
        assert rendered.act(inputs, role="policy")[1].shape == (4, 3)


class TestShared:
    @pytest.mark.parametrize("single_forward_pass", [True, False])
    @pytest.mark.parametrize(
        "parameters",
        [
            [{"hiddens": [16], "output_scale": 2.0}, {"output_shape": Shape.ONE, "output_activation": None}],
            [
                {
                    "network": [
                        {"name": "a", "input": "STATES", "layers": [8]},
                        {"name": "b", "input": "a", "layers": [4]},
                    ],
                    "output": "tanh(ACTIONS)",
                    "initial_log_std": 1.0,
                },
                {"output": "concatenate([a, b]) * 2"},
            ],
        ],
        ids=["legacy", "definition"],
    )
    def test_rendered_shared_class_matches(self, parameters, single_forward_pass):
        """SharedModel text: same state dict; same outputs per role."""
        kwargs = dict(roles=["policy", "value"], parameters=parameters, single_forward_pass=single_forward_pass)
        source = shared_model(VECTOR, ACT3, return_source=True, **kwargs)
        assert ("shared_cache" in source) is single_forward_pass
        built = shared_model(VECTOR, ACT3, device="cpu", **kwargs)
        rendered = run_source(source)["SharedModel"](VECTOR, ACT3, "cpu")
        assert shapes(rendered) == shapes(built)
        rendered.load_state_dict(built.state_dict())
        inputs = inputs_for(VECTOR, ACT3)
        for role in ("policy", "value"):
            torch.testing.assert_close(rendered.compute(inputs, role)[0], built.compute(inputs, role)[0])
        with pytest.raises(ValueError, match="unknown role 'critic'"):
            rendered.compute(inputs, "critic")


RECURRENT = [
    {"name": "features", "input": "STATES", "layers": [8], "activations": "relu"},
    {"name": "memory", "input": "features", "layers": [{"gru": [6, 2]}, 4], "activations": "tanh"},
]


def recurrent_inputs(model, rows, terminated=False):
    sizes = model.get_specification()["rnn"]["sizes"]
    inputs = {"states": torch.randn(rows, 5), "rnn": [torch.randn(s[0], rows, s[2]) for s in sizes]}
    if terminated:
        inputs["terminated"] = torch.arange(rows).reshape(rows, 1) % 3 == 1
    return inputs


class TestRecurrent:
    @pytest.mark.parametrize(
        ("function", "kwargs", "class_name"),
        [
            (gaussian_model, {"network": RECURRENT, "output": "tanh(ACTIONS)"}, "GaussianModel"),
            (
                deterministic_model,
                {"network": [{"name": "net", "input": "STATES", "layers": [{"lstm": 6}]}], "output": "ONE"},
                "DeterministicModel",
            ),
        ],
        ids=["gaussian-gru", "deterministic-lstm-only"],
    )
    def test_rendered_recurrent_class_matches_in_rollout_and_training(self, function, kwargs, class_name):
        """Same state dict, specification, outputs and final states, one step (eval) and B*L rows (train)."""
        kwargs = {**kwargs, "num_envs": 3, "sequence_length": 4}
        source = function(VECTOR, ACT3, return_source=True, **kwargs)
        assert "sequence_forward(" in source and "def get_specification(self):" in source
        built = function(VECTOR, ACT3, device="cpu", **kwargs)
        rendered = run_source(source)[class_name](VECTOR, ACT3, device="cpu")
        assert shapes(rendered) == shapes(built) and rendered.get_specification() == built.get_specification()
        rendered.load_state_dict(built.state_dict())
        for mode, rows in (("eval", 3), ("train", 8)):
            built.set_mode(mode)
            rendered.set_mode(mode)
            inputs = recurrent_inputs(built, rows, terminated=mode == "train")
            got, want = rendered.compute(inputs, "policy"), built.compute(inputs, "policy")
            torch.testing.assert_close(got[0], want[0])
            for a, b in zip(got[-1]["rnn"], want[-1]["rnn"], strict=True):
                torch.testing.assert_close(a, b)

    @pytest.mark.parametrize("single_forward_pass", [True, False])
    def test_rendered_recurrent_shared_class_matches(self, single_forward_pass):
        """SharedModel text with a recurrent trunk: same outputs per role and the same final states."""
        kwargs = dict(
            roles=["policy", "value"],
            parameters=[{"network": RECURRENT, "output": "ACTIONS"}, {"output": "ONE"}],
            single_forward_pass=single_forward_pass,
            num_envs=3,
        )
        built = shared_model(VECTOR, ACT3, device="cpu", **kwargs).eval()
        rendered = run_source(shared_model(VECTOR, ACT3, return_source=True, **kwargs))["SharedModel"](VECTOR, ACT3)
        rendered.load_state_dict(built.state_dict())
        rendered.eval()
        inputs = recurrent_inputs(built, 3)
        for role in ("policy", "value"):
            got, want = rendered.compute(inputs, role), built.compute(inputs, role)
            torch.testing.assert_close(got[0], want[0])
            torch.testing.assert_close(got[-1]["rnn"][0], want[-1]["rnn"][0])
