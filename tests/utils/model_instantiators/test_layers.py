"""Layer and activation forms, recurrent layers, and their canonical plain data."""

import pytest
import yaml

from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._layers import activations_data, layer_data, parse_layers


class TestLayers:
    @pytest.mark.parametrize(
        ("layer", "kind", "args"),
        [
            (64, "linear", {"out_features": 64}),
            ({"linear": 64}, "linear", {"out_features": 64}),
            ({"Linear": "ACTIONS"}, "linear", {"out_features": "ACTIONS"}),
            ({"linear": [32, False]}, "linear", {"out_features": 32, "bias": False}),
            (
                {"linear": {"features": Shape.ONE, "use_bias": True, "in_features": 5}},
                "linear",
                {"out_features": "ONE", "bias": True, "in_features": 5},
            ),
            ({"linear": {"out_features": "OBSERVATIONS_ACTIONS"}}, "linear", {"out_features": "STATES_ACTIONS"}),
            (
                {"conv2d": [8, 3, 2, "SAME", False]},
                "conv2d",
                {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": "same", "bias": False},
            ),
            (
                {"conv2d": {"features": 8, "kernel_size": [3, 5], "strides": 1, "use_bias": True}},
                "conv2d",
                {"out_channels": 8, "kernel_size": (3, 5), "stride": 1, "bias": True},
            ),
            ("flatten", "flatten", {}),
            ("FLATTEN", "flatten", {}),
            ({"flatten": [1, 2]}, "flatten", {"start_dim": 1, "end_dim": 2}),
            ({"flatten": {"start_dim": 2}}, "flatten", {"start_dim": 2}),
            ({"flatten": None}, "flatten", {}),
            ({"gru": 64}, "gru", {"hidden_size": 64}),
            ({"LSTM": [32, 2]}, "lstm", {"hidden_size": 32, "num_layers": 2}),
            (
                {"rnn": {"features": 16, "nonlinearity": "ReLU", "use_bias": False}},
                "rnn",
                {"hidden_size": 16, "nonlinearity": "relu", "bias": False},
            ),
            (
                {"gru": {"hidden_size": 8, "num_layers": 3, "input_size": "OBSERVATIONS"}},
                "gru",
                {"hidden_size": 8, "num_layers": 3, "input_size": "STATES"},
            ),
        ],
    )
    def test_every_form_of_the_spec_table(self, layer, kind, args):
        """Short, positional and dict forms (torch and JAX key names) give the same canonical layer."""
        (parsed,) = parse_layers([layer], None, "c")
        assert (parsed.kind, dict(parsed.args)) == (kind, args)

    @pytest.mark.parametrize(
        ("layer", "match"),
        [
            ("relu", "unknown layer 'relu'"),
            ({"transformer": 64}, "unknown layer"),
            ({"linear": 64, "conv2d": 3}, "one-key dict"),
            (True, "unknown layer"),
            (64.0, "unknown layer"),
            ({"linear": 0}, "positive int"),
            ({"linear": [1, 2, 3]}, "at most 2 positional"),
            ({"linear": {"units": 3}}, "unknown linear argument 'units'"),
            ({"linear": {"out_features": 3, "features": 3}}, "given twice"),
            ({"conv2d": [8]}, r"needs \['kernel_size'\]"),
            ({"conv2d": 8}, "list or a dict"),
            ({"conv2d": [8, 3, 1, "full"]}, "invalid padding"),
            ({"linear": [8, "yes"]}, "invalid bias"),
            ({"gru": 0}, "invalid hidden_size 0"),
            ({"gru": [8, 0]}, "invalid num_layers 0"),
            ({"lstm": [8, 1, True]}, "at most 2 positional"),
            ({"lstm": {"hidden_size": 8, "bidirectional": True}}, "unknown lstm argument 'bidirectional'"),
            ({"gru": {"hidden_size": 8, "nonlinearity": "relu"}}, "unknown gru argument 'nonlinearity'"),
            ({"rnn": {"hidden_size": 8, "nonlinearity": "gelu"}}, "invalid nonlinearity 'gelu'"),
            ({"gru": None}, r"gru needs \['hidden_size'\]"),
        ],
    )
    def test_invalid_layers_are_value_errors(self, layer, match):
        """Unknown layers (any string but flatten), bad argument forms and values are refused."""
        with pytest.raises(ValueError, match=match):
            parse_layers([layer], None, "c")

    @pytest.mark.parametrize(
        ("activations", "expected"),
        [
            ("ReLU", ["relu", "relu", None]),
            ([], [None, None, None]),
            (None, [None, None, None]),
            (["tanh"], ["tanh", "tanh", None]),
            (["elu", "", "relu"], ["elu", None, None]),
            (["elu", None, None], ["elu", None, None]),
        ],
    )
    def test_activation_forms(self, activations, expected):
        """One name, [], one-item list, per-layer list with ''/None; never after flatten."""
        layers = parse_layers([8, 8, "flatten"], activations, "c")
        assert [layer.activation for layer in layers] == expected

    def test_activation_errors(self):
        """Wrong list length and unknown names are refused (skrl drops unknown names silently)."""
        with pytest.raises(ValueError, match="one entry per layer.*got 2 items"):
            parse_layers([8, 8, 8], ["relu", "relu"], "c")
        with pytest.raises(ValueError, match="unknown activation 'gelu'"):
            parse_layers([8], "gelu", "c")


class TestRecurrentLayers:
    def test_a_recurrent_layer_is_the_first_of_its_container(self):
        """It runs on the container's input; layers before it belong in an earlier container."""
        (gru, linear) = parse_layers([{"gru": 8}, 4], "relu", "c")
        assert gru.recurrent and not linear.recurrent and gru.activation == "relu"
        with pytest.raises(ValueError, match="layer 1: a lstm layer must be the first layer of its container"):
            parse_layers([4, {"lstm": 8}], None, "c")


class TestPlainData:
    @pytest.mark.parametrize(
        "layers",
        [
            [64, {"linear": [32, False]}, {"linear": "ACTIONS"}],
            [{"conv2d": {"features": 8, "kernel_size": [3, 5], "strides": 2, "padding": "SAME"}}, "flatten"],
            [{"flatten": [1, 2]}, {"linear": {"out_features": 4, "in_features": 6}}],
            [{"gru": [8, 2]}, 4],
            [{"rnn": {"hidden_size": 4, "nonlinearity": "relu", "bias": False, "input_size": 3}}],
        ],
    )
    @pytest.mark.parametrize("activations", [None, "elu", ["tanh"], "one per layer"])
    def test_layer_and_activation_data_parse_back_to_the_same_layers(self, layers, activations):
        """layer_data / activations_data are plain YAML data that parse_layers reads as the same layers."""
        if activations == "one per layer":
            activations = [("relu", None, "elu")[i % 3] for i in range(len(layers))]
        parsed = parse_layers(layers, activations, "c")
        data = [layer_data(layer) for layer in parsed]
        names = activations_data(parsed)
        assert yaml.safe_load(yaml.safe_dump({"layers": data, "activations": names})) == {
            "layers": data,
            "activations": names,
        }
        assert parse_layers(data, names, "c") == parsed

    def test_short_forms_are_kept_short(self):
        """A plain linear layer is its int, a bare flatten its name, one shared activation one name."""
        parsed = parse_layers([8, {"linear": 4}, "flatten"], ["relu", "relu", None], "c")
        assert [layer_data(layer) for layer in parsed] == [8, 4, "flatten"]
        assert activations_data(parsed) == "relu"
        assert activations_data(parse_layers([8, 4], None, "c")) == []
