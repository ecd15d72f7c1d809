"""Networks and legacy keywords to one description, and the plain data that describes it again."""

import ast

import pytest
import yaml

from mixrl.utils.model_instantiators import _description
from mixrl.utils.model_instantiators._description import parse_network
from mixrl.utils.model_instantiators._expressions import Shape


class TestNetwork:
    def test_containers_in_order(self):
        """Items become containers; a later input may read an earlier container."""
        network = parse_network(
            [
                {"name": "a", "input": "STATES", "layers": [8]},
                {"name": "b", "input": "a", "layers": [4], "activations": "relu"},
            ]
        )
        assert [c.name for c in network] == ["a", "b"] and network[1].input.names == {"a"}

    @pytest.mark.parametrize(
        ("network", "match"),
        [
            ([], "non-empty list"),
            ("net", "non-empty list"),
            ([{"name": "a", "input": "STATES"}], r"missing \['layers'\]"),
            ([{"name": "a", "input": "STATES", "layers": [], "activation": "relu"}], r"unknown \['activation'\]"),
            ([{"name": "1a", "input": "STATES", "layers": []}], "identifier"),
            ([{"name": "STATES", "input": "STATES", "layers": []}], "reserved"),
            ([{"name": "tanh", "input": "STATES", "layers": []}], "reserved"),
            ([{"name": "a", "input": "STATES", "layers": []}] * 2, "used twice"),
            ([{"name": "a", "input": 3, "layers": []}], "must be a string"),
            ([{"name": "a", "input": "STATES", "layers": 64}], "layers must be a list"),
        ],
    )
    def test_invalid_networks(self, network, match):
        """Structure errors name the item and the problem."""
        with pytest.raises(ValueError, match=match):
            parse_network(network)


class TestLegacyConversion:
    def test_seed_defaults(self):
        """No keyword: net = 256-256 ReLU on STATES, output tanh(ACTIONS)."""
        description = _description.describe([], "", {}, "tanh")
        (net,) = description.network
        assert [(layer.args["out_features"], layer.activation) for layer in net.layers] == [
            (256, "relu"),
            (256, "relu"),
        ]
        assert ast.unparse(description.output.expression.tree) == "tanh(ACTIONS)"

    def test_scale_shape_and_no_activation(self):
        """output_scale multiplies; output_shape STATES sizes the head; None drops the activation."""
        legacy = {"output_shape": Shape.STATES, "output_scale": 2, "output_activation": None, "input_shape": "ACTIONS"}
        description = _description.describe([], "", legacy, "tanh")
        assert ast.unparse(description.output.expression.tree) == "2.0 * ACTIONS"
        assert description.output.units == "STATES"
        assert description.network[0].input.tokens == {"ACTIONS"}

    @pytest.mark.parametrize(
        ("legacy", "error", "match"),
        [
            ({"hidden_activation": ["relu"], "hiddens": [8, 8]}, ValueError, "1 entries for 2 hiddens"),
            ({"input_shape": Shape.ONE}, ValueError, "input_shape must be one of"),
            ({"output_shape": 0}, ValueError, "output_shape must be a positive int"),
            ({"output_scale": "2"}, ValueError, "output_scale must be a number"),
            ({"output_activation": "swish"}, ValueError, "unknown activation 'swish'"),
        ],
    )
    def test_invalid_legacy_values(self, legacy, error, match):
        """Legacy values are validated like definitions."""
        with pytest.raises(error, match=match):
            _description.describe([], "", legacy, "tanh")

    def test_styles_do_not_mix(self):
        """network and legacy keywords together are a TypeError; output without network a ValueError."""
        network = [{"name": "a", "input": "STATES", "layers": [8]}]
        with pytest.raises(TypeError, match="not both"):
            _description.describe(network, "", {"hiddens": [8]}, None)
        with pytest.raises(ValueError, match="needs a network"):
            _description.describe([], "ONE", {}, None)

    def test_seed_default_markers_count_as_not_given(self):
        """LegacyDefault values (the signature defaults) are ignored; their repr shows the seed value."""
        marker = _description.LegacyDefault(Shape.STATES)
        assert repr(marker) == "Shape.STATES" and repr(_description.LegacyDefault([256, 256])) == "[256, 256]"
        description = _description.describe([], "", {"input_shape": marker, "hiddens": [8]}, None)
        assert ast.unparse(description.output.expression.tree) == "ACTIONS"


def same(a, b):
    """Descriptions are equal up to the original text of their expressions (data is normalised)."""
    unparse = [ast.unparse(c.input.tree) for c in a.network], [ast.unparse(c.input.tree) for c in b.network]
    layers = [c.layers for c in a.network], [c.layers for c in b.network]
    output = (ast.unparse(a.output.expression.tree), a.output.token, a.output.units)
    return (
        [c.name for c in a.network] == [c.name for c in b.network]
        and unparse[0] == unparse[1]
        and layers[0] == layers[1]
        and output == (ast.unparse(b.output.expression.tree), b.output.token, b.output.units)
    )


class TestRecurrentNetworks:
    def test_one_recurrent_layer_per_model(self):
        """A model has one recurrent state list (SPEC 10): a second recurrent container is refused."""
        network = [
            {"name": "a", "input": "STATES", "layers": [{"gru": 8}]},
            {"name": "b", "input": "a", "layers": [{"lstm": 8}]},
        ]
        with pytest.raises(ValueError, match=r"at most one recurrent.*\['a', 'b'\]"):
            parse_network(network)


class TestPlainData:
    @pytest.mark.parametrize(
        ("network", "output"),
        [
            ([{"name": "net", "input": "OBSERVATIONS", "layers": [64, 64], "activations": "elu"}], "Shape.ACTIONS"),
            (
                [
                    {"name": "f", "input": "permute(STATES, (0, 3, 1, 2))", "layers": [{"conv2d": [4, 3]}, "flatten"]},
                    {"name": "net", "input": "concatenate([f, ACTIONS])", "layers": [{"gru": 8}, 4], "activations": []},
                ],
                "2 * tanh(ONE)",
            ),
            ([{"name": "a", "input": "STATES['pos'][:, 1:]", "layers": []}], ""),
        ],
    )
    def test_definition_data_describes_the_same_network(self, network, output):
        """data = {network, output} in canonical form: plain YAML, and describe() reads it as the same description."""
        description = _description.describe(network, output, {}, "tanh")
        data = yaml.safe_load(yaml.safe_dump(dict(description.data)))
        assert set(data) == {"network", "output"}
        assert same(_description.describe(data["network"], data["output"], {}, "tanh"), description)

    @pytest.mark.parametrize(
        "legacy",
        [
            {},
            {"hiddens": [8, 8], "hidden_activation": ["relu", "tanh"], "output_shape": Shape.STATES},
            {"input_shape": Shape.STATES_ACTIONS, "hiddens": 8, "output_shape": Shape.ONE, "output_activation": None},
            {"hiddens": [], "output_scale": 2.5, "output_shape": 7},
        ],
    )
    def test_legacy_data_is_the_legacy_keywords_with_seed_defaults(self, legacy):
        """Legacy descriptions stay legacy (output_shape may size the head by any token), defaults filled in."""
        description = _description.describe([], "", legacy, "tanh")
        data = yaml.safe_load(yaml.safe_dump(dict(description.data)))
        assert set(data) == set(_description.LEGACY_KEYS)
        assert same(_description.describe([], "", data, None), description)

    def test_seed_defaults_are_written_out(self):
        """No keyword at all: the resolved data names the seed network."""
        assert _description.describe([], "", {}, "tanh").data == {
            "input_shape": "STATES",
            "hiddens": [256, 256],
            "hidden_activation": "relu",
            "output_shape": "ACTIONS",
            "output_activation": "tanh",
            "output_scale": 1.0,
        }
