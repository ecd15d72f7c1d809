"""Invalid descriptions (JAX) are clear errors, and no description string ever runs.

Every error here is raised before any parameter exists (parsing, or the shape-only dry run).
"""

import os

import gymnasium
import pytest

from mixrl.utils.model_instantiators.jax import (
    Shape,
    categorical_model,
    deterministic_model,
    gaussian_model,
    shared_model,
)


def mlp(input="STATES", layers=(8,), activations=None, name="n"):
    return [{"name": name, "input": input, "layers": list(layers), "activations": activations}]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"network": mlp(layers=[8, 8], activations=["relu", "relu", "relu"])}, "one entry per layer.*got 3 items"),
        ({"network": mlp(activations="swish")}, "unknown activation 'swish'.*'relu'"),
        ({"network": mlp(layers=["dense"])}, "unknown layer 'dense'"),
        ({"network": mlp(layers=[{"dense": 8}])}, "unknown layer.*'linear', 'conv2d', 'flatten', 'gru'"),
        ({"network": mlp(layers=[8, {"gru": 8}])}, "must be the first layer of its container"),
        ({"network": mlp(layers=[{"gru": {"units": 8}}])}, "unknown gru argument 'units'"),
        ({"network": mlp(layers=[{"rnn": {"hidden_size": 8, "nonlinearity": "sigmoid"}}])}, "invalid nonlinearity"),
        ({"network": mlp(layers=[{"gru": {"hidden_size": 8, "input_size": 6}}])}, "input_size=6 but the layer's input"),
        ({"network": mlp(layers=[{"lstm": {"hidden_size": 8, "bias": False}}])}, "bias=False is not available"),
        ({"network": mlp(input="STATE")}, "unknown name 'STATE'"),
        ({"network": mlp(input="sin(STATES)")}, "unknown function 'sin'.*'concatenate'"),
        ({"network": mlp(), "output": "gelu(ACTIONS)"}, "unknown function 'gelu'"),
        ({"network": mlp(), "output": "ACTIONS * ONE"}, "at most one distinct token"),
        ({"network": mlp(), "output": "other"}, "unknown name 'other'"),
        ({"network": mlp(layers=[{"conv2d": [4, 3]}])}, r"conv2d needs a \(batch, height, width, channels\) input"),
        (
            {"network": mlp(layers=[{"linear": {"out_features": 4, "in_features": 6}}])},
            "in_features=6 but the layer's input has 5",
        ),
        ({"network": mlp(layers=[{"flatten": [3, 4]}])}, r"layer 0 \(flatten\) cannot take an input of shape \(1, 5\)"),
        ({"network": mlp(input="STATES[:, 9]")}, "fails on a sample"),
        ({"network": mlp(), "output": "n"}, "has 8 features, expected 3"),
        ({"output": "ACTIONS"}, "needs a network"),
        ({"hiddens": [8, 8], "hidden_activation": ["relu"]}, "1 entries for 2 hiddens"),
        ({"input_shape": Shape.ONE}, "input_shape must be one of"),
        ({"num_envs": 0}, "num_envs must be a positive int"),
    ],
)
def test_invalid_descriptions_are_value_errors(obs, act, kwargs, match):
    """Each problem is a ValueError naming the bad part (skrl: silent drop, NotImplementedError or a late crash)."""
    with pytest.raises(ValueError, match=match):
        gaussian_model(obs, act, **kwargs)


def test_recurrent_layer_needs_flat_features(act):
    """A gru reading (N, 2, 3) states: flatten them in an earlier container."""
    with pytest.raises(ValueError, match=r"needs a \(batch, features\) input, got shape \(1, 2, 3\)"):
        gaussian_model(gymnasium.spaces.Box(-1, 1, (2, 3)), act, network=mlp(layers=[{"gru": 8}]))


def test_categorical_output_must_match_the_action_space(obs):
    """A categorical head of the wrong width is refused at construction."""
    with pytest.raises(ValueError, match="has 8 features, expected 3"):
        categorical_model(obs, gymnasium.spaces.Discrete(3), network=mlp())


def test_both_styles_are_a_type_error(obs, act):
    """network plus legacy keywords cannot be reconciled."""
    with pytest.raises(TypeError, match=r"not both"):
        deterministic_model(obs, act, network=mlp(), hiddens=[8])


def test_dict_states_must_be_indexed(act):
    """A Dict observation used whole is not an array: the error says how to index it."""
    space = gymnasium.spaces.Dict({"a": gymnasium.spaces.Box(0, 1, (2,))})
    with pytest.raises(ValueError, match=r"gives a dict, not an array.*STATES\['key'\]"):
        deterministic_model(space, act, network=mlp())


def test_generated_classes_are_built_by_the_instantiators(obs, act):
    """Calling a generated class without a description says which function builds it."""
    model = gaussian_model(obs, act, hiddens=[8])
    with pytest.raises(TypeError, match=r"call gaussian_model\(\.\.\.\) instead"):
        type(model)(obs, act)


class TestNothingIsExecuted:
    """W#2: skrl exec()s generated source, so these strings would run there."""

    @pytest.mark.parametrize(
        "where",
        [
            lambda e: {"network": mlp(input=e)},
            lambda e: {"network": mlp(), "output": e},
            lambda e: {"network": mlp(input=f"STATES[{e}]")},
            lambda e: {"network": mlp(input=f"concatenate([STATES, {e}])")},
        ],
    )
    def test_os_call_is_refused_and_never_made(self, obs, act, monkeypatch, where):
        """__import__('os').getcwd() is a ValueError and os.getcwd is never called."""
        calls = []
        monkeypatch.setattr(os, "getcwd", lambda: calls.append(1) or "/")
        with pytest.raises(ValueError):
            deterministic_model(obs, act, **where("__import__('os').getcwd()"))
        assert calls == []

    def test_no_marker_file_is_written(self, obs, act, tmp_path):
        """open(...).write(...) in an input, an output, a shared role output or return_source creates nothing."""
        marker = tmp_path / "marker"
        payload = f"open({str(marker)!r}, 'w').write('x')"
        for kwargs in ({"network": mlp(input=payload)}, {"network": mlp(), "output": payload}):
            with pytest.raises(ValueError, match="unknown function"):
                deterministic_model(obs, act, **kwargs)
            with pytest.raises(ValueError, match="unknown function"):
                deterministic_model(obs, act, return_source=True, **kwargs)
        with pytest.raises(ValueError, match="unknown function"):
            shared_model(obs, act, roles=["policy", "value"], parameters=[{"network": mlp()}, {"output": payload}])
        assert not marker.exists()

    def test_dict_key_text_is_only_a_key(self, act):
        """A key spelled like code is looked up as a string (and missing here), never run."""
        space = gymnasium.spaces.Dict({"a": gymnasium.spaces.Box(0, 1, (2,))})
        with pytest.raises(ValueError, match="fails on a sample"):
            deterministic_model(space, act, network=mlp(input="STATES[\"__import__('os').getcwd()\"]"))
