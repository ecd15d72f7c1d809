"""Framework-free description parsing: expression allow-list, layer/activation forms, legacy conversion."""

import ast
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixrl.utils.model_instantiators as instantiators
from mixrl.utils.model_instantiators import _common
from mixrl.utils.model_instantiators._common import Shape, parse_expression, parse_layers, parse_network, parse_output

PACKAGE = pathlib.Path(instantiators.__file__).parent


class TestShape:
    def test_values_and_alias(self):
        """Seed values; OBSERVATIONS is the same member as STATES."""
        assert [Shape.ONE.value, Shape.STATES.value, Shape.ACTIONS.value, Shape.STATES_ACTIONS.value] == [1, 0, -1, -2]
        assert Shape.OBSERVATIONS is Shape.STATES


class TestPackage:
    def test_seed_path_is_lazy_about_torch(self):
        """Importing the seed path and Shape loads no torch; the first function access does."""
        code = (
            "import sys; import mixrl.utils.model_instantiators as m; "
            "from mixrl.utils.model_instantiators import Shape; "
            "print('torch' in sys.modules); m.gaussian_model; print('torch' in sys.modules)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        assert out == ["False", "True"]

    def test_unknown_attribute_is_an_attribute_error(self):
        """Only the listed names are forwarded."""
        with pytest.raises(AttributeError, match="no_such"):
            instantiators.no_such  # noqa: B018

    def test_no_exec_eval_or_compile_anywhere_in_the_package(self):
        """W#2: the instantiator sources never call exec, eval or compile."""
        for path in PACKAGE.rglob("*.py"):
            calls = {
                node.func.id
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            }
            assert not calls & {"exec", "eval", "compile", "__import__"}, path


class TestInputExpressions:
    @pytest.mark.parametrize(
        ("text", "tokens", "unparsed"),
        [
            ("STATES", {"STATES"}, "STATES"),
            ("OBSERVATIONS", {"STATES"}, "STATES"),
            ("Shape.OBSERVATIONS_ACTIONS", {"STATES_ACTIONS"}, "STATES_ACTIONS"),
            ("STATES[:, 2:5]", {"STATES"}, "STATES[:, 2:5]"),
            ("STATES['STATES_vel']", {"STATES"}, "STATES['STATES_vel']"),
            ("STATES[1][..., -1]", {"STATES"}, "STATES[1][..., -1]"),
            ("2 * STATES - -1 / ACTIONS", {"STATES", "ACTIONS"}, "2 * STATES - -1 / ACTIONS"),
            ("concatenate([STATES, ACTIONS])", {"STATES", "ACTIONS"}, "concatenate([STATES, ACTIONS])"),
            ("permute(STATES, (0, 3, 1, 2))", {"STATES"}, "permute(STATES, (0, 3, 1, 2))"),
            ("one_hot_encoding(STATE_SPACE, STATES)", {"STATES"}, "one_hot_encoding(OBSERVATION_SPACE, STATES)"),
            (
                "one_hot_encoding(Shape.ACTION_SPACE['a'], ACTIONS)",
                {"ACTIONS"},
                "one_hot_encoding(ACTION_SPACE['a'], ACTIONS)",
            ),
        ],
    )
    def test_allowed_forms_are_normalised(self, text, tokens, unparsed):
        """Aliases and Shape. prefixes become canonical tokens; dict keys holding a token name are untouched."""
        expression = parse_expression(text, "input", [])
        assert expression.tokens == tokens
        assert ast.unparse(expression.tree) == unparsed

    def test_earlier_containers_are_names(self):
        """A container name is resolved only if defined earlier."""
        assert parse_expression("features + 1", "input", ["features"]).names == {"features"}
        with pytest.raises(ValueError, match="unknown name 'later'.*earlier container"):
            parse_expression("later", "input", ["features"])

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("__import__('os').getcwd()", "unknown function"),
            ("open('/tmp/x', 'w')", "unknown function 'open'"),
            ("STATES.__class__", "unknown name 'STATES.__class__'"),
            ("lambda: 0", "Lambda"),
            ("[s for s in STATES]", "ListComp"),
            ("STATES if 1 else ACTIONS", "IfExp"),
            ("STATES ** 2", "BinOp"),
            ("'text'", "Constant"),
            ("STATES[ACTIONS]", "not a valid index"),
            ("concatenate(STATES)", "non-empty list"),
            ("concatenate([STATES], dim=0)", "keyword"),
            ("permute(STATES, ACTIONS)", "tuple of ints"),
            ("one_hot_encoding(STATES, STATES)", "is not a space"),
            ("OBSERVATION_SPACE", "first argument of one_hot_encoding"),
            ("tanh(STATES)", "unknown function 'tanh'"),
            ("STATES +", "not a valid expression"),
            ("ONE", "unknown name 'ONE'"),
        ],
    )
    def test_anything_else_is_a_value_error_naming_it(self, text, match):
        """Nodes, names and functions outside the allow-list are refused with the offending part quoted."""
        with pytest.raises(ValueError, match=match):
            parse_expression(text, "input", [])

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    "STATES",
                    "ACTIONS",
                    "net",
                    "(",
                    ")",
                    "[",
                    "]",
                    ",",
                    ":",
                    "+",
                    "*",
                    ".",
                    "1",
                    "'k'",
                    "__import__",
                    "os",
                    "concatenate",
                    "permute",
                    "one_hot_encoding",
                    "OBSERVATION_SPACE",
                    "lambda",
                    " ",
                    "-",
                ]
            ),
            max_size=12,
        ).map("".join)
    )
    def test_any_text_parses_or_raises_value_error(self, text):
        """Property: parsing never raises anything but ValueError, and accepted trees use only allowed nodes."""
        allowed = (ast.expr_context, ast.operator, ast.unaryop, ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp)
        allowed += (ast.Call, ast.List, ast.Tuple, ast.Subscript, ast.Slice)
        try:
            expression = parse_expression(text, "input", ["net"])
        except ValueError:
            return
        assert all(isinstance(node, allowed) for node in ast.walk(expression.tree))


class TestOutputExpressions:
    def test_token_and_empty_output(self):
        """A token is recorded; "" means the last container."""
        output = parse_output("2 * tanh(Shape.ACTIONS)", ["net"])
        assert (output.token, output.units, ast.unparse(output.expression.tree)) == (
            "ACTIONS",
            "ACTIONS",
            "2 * tanh(ACTIONS)",
        )
        empty = parse_output("", ["a", "b"])
        assert empty.token is None and ast.unparse(empty.expression.tree) == "b"

    def test_two_distinct_tokens_are_refused(self):
        """At most one distinct token (skrl silently prefers ONE)."""
        with pytest.raises(ValueError, match="at most one distinct token"):
            parse_output("ACTIONS + ONE", ["net"])

    def test_input_tokens_and_indexing_are_not_outputs(self):
        """STATES and subscripts belong to inputs only."""
        with pytest.raises(ValueError, match="unknown name 'STATES'"):
            parse_output("STATES", ["net"])
        with pytest.raises(ValueError, match="Subscript"):
            parse_output("net[:, 0]", ["net"])


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
            ({"lstm": 64}, "unknown layer"),
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
        description = _common.describe([], "", {}, "tanh")
        (net,) = description.network
        assert [(layer.args["out_features"], layer.activation) for layer in net.layers] == [
            (256, "relu"),
            (256, "relu"),
        ]
        assert ast.unparse(description.output.expression.tree) == "tanh(ACTIONS)"

    def test_scale_shape_and_no_activation(self):
        """output_scale multiplies; output_shape STATES sizes the head; None drops the activation."""
        legacy = {"output_shape": Shape.STATES, "output_scale": 2, "output_activation": None, "input_shape": "ACTIONS"}
        description = _common.describe([], "", legacy, "tanh")
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
            _common.describe([], "", legacy, "tanh")

    def test_styles_do_not_mix(self):
        """network and legacy keywords together are a TypeError; output without network a ValueError."""
        network = [{"name": "a", "input": "STATES", "layers": [8]}]
        with pytest.raises(TypeError, match="not both"):
            _common.describe(network, "", {"hiddens": [8]}, None)
        with pytest.raises(ValueError, match="needs a network"):
            _common.describe([], "ONE", {}, None)

    def test_seed_default_markers_count_as_not_given(self):
        """SeedDefault values (the signature defaults) are ignored; their repr shows the seed value."""
        marker = _common.SeedDefault(Shape.STATES)
        assert repr(marker) == "Shape.STATES" and repr(_common.SeedDefault([256, 256])) == "[256, 256]"
        description = _common.describe([], "", {"input_shape": marker, "hiddens": [8]}, None)
        assert ast.unparse(description.output.expression.tree) == "ACTIONS"
