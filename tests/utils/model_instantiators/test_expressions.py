"""The expression language: token spellings, the AST allow-list, output-expression rules."""

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixrl.utils.model_instantiators._description import parse_output
from mixrl.utils.model_instantiators._expressions import Shape, parse_expression


class TestShape:
    def test_values_and_alias(self):
        """skrl 1.x values; OBSERVATIONS is the same member as STATES."""
        assert [Shape.ONE.value, Shape.STATES.value, Shape.ACTIONS.value, Shape.STATES_ACTIONS.value] == [1, 0, -1, -2]
        assert Shape.OBSERVATIONS is Shape.STATES


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
            ("concatenate(STATES)", "one list of 1 to 256 items"),
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
