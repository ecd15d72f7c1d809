"""return_source (JAX) renders a standalone Flax class equivalent to the built model."""

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.utils.model_instantiators.jax import (
    Shape,
    categorical_model,
    deterministic_model,
    gaussian_model,
    multicategorical_model,
    multivariate_gaussian_model,
    shared_model,
)
from mixrl.utils.spaces.jax import flatten_tensorized_space, sample_space

from .conftest import close, shapes
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
        "input": "concatenate([STATES['pos'], -STATES['STATES_vel'][:, 0:3]])",
        "layers": [{"linear": [8, False]}, {"flatten": {"start_dim": 1}}],
    }
]
RECURRENT = [
    {"name": "features", "input": "STATES", "layers": [8], "activations": "relu"},
    {"name": "memory", "input": "features", "layers": [{"gru": [8, 2]}, 8], "activations": "tanh"},
]

CASES = {
    "categorical-legacy": (
        categorical_model,
        VECTOR,
        Discrete(3),
        {"hiddens": [8], "hidden_activation": "tanh"},
        "CategoricalModel",
    ),
    "multicategorical-one-hot": (
        multicategorical_model,
        Discrete(5),
        MultiDiscrete([2, 1]),
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
    "gaussian-dict-fixed-log-std": (
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
        return flatten_tensorized_space(sample_space(space, batch_size=n, backend="native", seed=1)).astype(jnp.float32)

    return {"states": flat(observation_space), "taken_actions": flat(action_space)}


def same_outputs(rendered, built, inputs, role=""):
    """``__call__`` of both classes with the built model's parameters: equal arrays, same output keys."""
    got = rendered.apply(built.state_dict.params, inputs, role)
    want = built.apply(built.state_dict.params, inputs, role)
    assert len(got) == len(want) and got[-1].keys() == want[-1].keys()
    for a, b in zip(got[:-1], want[:-1], strict=True):
        close(a, np.asarray(b))
    for a, b in zip(got[-1].get("rnn", []), want[-1].get("rnn", []), strict=True):
        close(a, np.asarray(b))


class TestSingleRole:
    @pytest.mark.parametrize("case", CASES)
    def test_rendered_class_has_the_same_parameters_and_outputs(self, case):
        """Executed text -> same parameter tree (names, shapes); with the built parameters, same __call__ outputs."""
        function, observation_space, action_space, kwargs, class_name = CASES[case]
        source = function(observation_space, action_space, return_source=True, **kwargs)
        assert isinstance(source, str) and f"class {class_name}(" in source and "exec" not in source
        built = function(observation_space, action_space, **kwargs)
        rendered = run_source(source)[class_name](observation_space, action_space)
        rendered.init_state_dict("policy")
        assert type(rendered).__name__ == class_name
        assert shapes(rendered.state_dict.params) == shapes(built.state_dict.params)
        same_outputs(rendered, built, inputs_for(observation_space, action_space))

    def test_rendered_model_acts_with_its_mixin_settings(self):
        """The rendered __init__ defaults carry the mixin arguments (reduction="none": per-dimension log-prob)."""
        source = gaussian_model(
            VECTOR, ACT3, return_source=True, clip_actions=True, min_log_std=-5, reduction="none", hiddens=[8]
        )
        assert "clip_actions=True," in source and "min_log_std=-5," in source and 'reduction="none",' in source
        rendered = run_source(source)["GaussianModel"](VECTOR, ACT3)
        rendered.init_state_dict("policy")
        actions, log_prob, _ = rendered.act({"states": jnp.ones((4, 5)) * 100}, role="policy")
        assert log_prob.shape == (4, 3) and float(jnp.abs(actions).max()) <= 1.0

    def test_imports_only_what_is_used(self):
        """one_hot_encoding / jax.numpy are imported only when the rendered body uses them."""
        source = categorical_model(VECTOR, Discrete(3), hiddens=[8], return_source=True)
        assert "import one_hot_encoding" not in source and "import jax.numpy" not in source
        source = multicategorical_model(
            Discrete(5), MultiDiscrete([2, 1]), network=ONE_HOT, output="ACTIONS", return_source=True
        )
        assert "from mixrl.utils.model_instantiators.jax import one_hot_encoding" in source


class TestShared:
    @pytest.mark.parametrize(
        "parameters",
        [
            [{"hiddens": [8], "output_scale": 2.0}, {"output_shape": Shape.ONE, "output_activation": None}],
            [
                {
                    "network": [
                        {"name": "a", "input": "STATES", "layers": [8]},
                        {"name": "b", "input": "a", "layers": [8]},
                    ],
                    "output": "tanh(ACTIONS)",
                    "initial_log_std": 1.0,
                },
                {"output": "concatenate([a, b]) * 2"},
            ],
        ],
        ids=["legacy", "definition"],
    )
    def test_rendered_shared_class_matches(self, parameters):
        """SharedModel text: same parameter tree; same outputs per role; unknown roles refused."""
        kwargs = dict(roles=["policy", "value"], parameters=parameters)
        source = shared_model(VECTOR, ACT3, return_source=True, **kwargs)
        built = shared_model(VECTOR, ACT3, **kwargs)
        rendered = run_source(source)["SharedModel"](VECTOR, ACT3)
        rendered.init_state_dict("policy")
        assert shapes(rendered.state_dict.params) == shapes(built.state_dict.params)
        inputs = inputs_for(VECTOR, ACT3)
        for role in ("policy", "value"):
            same_outputs(rendered, built, inputs, role)
        with pytest.raises(ValueError, match="unknown role 'critic'"):
            rendered.apply(built.state_dict.params, inputs, "critic")


class TestRecurrent:
    def test_rendered_recurrent_class_matches_in_rollout_and_training(self):
        """Same parameters, specification, outputs and final states: one step (eval) and B*L rows (train)."""
        kwargs = {"network": RECURRENT, "output": "tanh(ACTIONS)", "num_envs": 3, "sequence_length": 4}
        source = gaussian_model(VECTOR, ACT3, return_source=True, **kwargs)
        assert "RecurrentSequential(" in source and "def get_specification(self):" in source
        built = gaussian_model(VECTOR, ACT3, **kwargs)
        rendered = run_source(source)["GaussianModel"](VECTOR, ACT3)
        rendered.init_state_dict("policy", {"states": jnp.ones((3, 5)), "rnn": [jnp.zeros((2, 3, 8))]})
        assert shapes(rendered.state_dict.params) == shapes(built.state_dict.params)
        assert rendered.get_specification() == built.get_specification()
        for mode, rows in (("eval", 3), ("train", 8)):
            built.set_mode(mode)
            rendered.set_mode(mode)
            inputs = {
                "states": jnp.ones((rows, 5)),
                "rnn": [jnp.ones((2, rows, 8))],
                "terminated": jnp.arange(rows)[:, None] % 3 == 1,
            }
            same_outputs(rendered, built, inputs)
