"""Spaces as plain data (JSON / YAML) and back."""

import json

import gymnasium
import numpy as np
import pytest
import yaml

from mixrl.utils.spaces.description import decode_space, encode_space

spaces = gymnasium.spaces
ROUND_TRIP = {
    "none": None,
    "int": 5,
    "box-uniform": spaces.Box(-1, 1, (2, 3)),
    "box-per-dimension": spaces.Box(
        np.array([-1, 0, -np.inf], np.float32), np.array([1, 1, np.inf], np.float32), dtype=np.float32
    ),
    "box-uint8-image": spaces.Box(0, 255, (4, 4, 3), np.uint8),
    "box-float64": spaces.Box(-2.5, 2.5, (2,), np.float64),
    "discrete-start": spaces.Discrete(4, start=-1),
    "multidiscrete-2d": spaces.MultiDiscrete([[3, 2], [4, 5]], start=[[1, 0], [0, -2]]),
    "multibinary": spaces.MultiBinary(3),
    "multibinary-shape": spaces.MultiBinary([2, 2]),
    "tuple": spaces.Tuple([spaces.Discrete(2), spaces.Box(0, 1)]),
    "dict-nested": spaces.Dict(
        {"b": spaces.Discrete(3), "a": spaces.Dict({"x": spaces.Box(0, 1, (2,)), "y": spaces.MultiBinary(2)})}
    ),
}


class TestRoundTrip:
    @pytest.mark.parametrize("name", ROUND_TRIP)
    def test_through_yaml_and_json(self, name):
        """encode -> YAML / JSON text -> decode gives an equal space (Box bounds and dtypes exact)."""
        space = ROUND_TRIP[name]
        data = encode_space(space)
        for text in (yaml.safe_dump(data), json.dumps(data)):
            decoded = decode_space(yaml.safe_load(text))
            assert decoded == space
            if isinstance(space, spaces.Box):
                np.testing.assert_array_equal(decoded.low, space.low)
                assert decoded.dtype == space.dtype

    def test_sequences_stay_sequences(self):
        """A shape given as a tuple is written as a list of ints."""
        assert encode_space((3, 4)) == [3, 4] and decode_space([3, 4]) == [3, 4]

    def test_uniform_bounds_are_one_number(self):
        """Box(-1, 1, shape) is not written element by element."""
        assert encode_space(spaces.Box(-1, 1, (64, 64, 3))) == {
            "type": "Box",
            "low": -1.0,
            "high": 1.0,
            "shape": [64, 64, 3],
            "dtype": "float32",
        }

    @pytest.mark.parametrize("name", ROUND_TRIP)
    def test_strict_json_round_trip(self, name):
        """strict_json: standard JSON (no Infinity), bounds element by element, decoded to an equal space."""
        space = ROUND_TRIP[name]
        text = json.dumps(encode_space(space, strict_json=True), allow_nan=False)
        assert decode_space(json.loads(text)) == space

    def test_strict_json_writes_infinities_as_strings(self):
        """Box([-1, -inf], [1, inf]) -> low [-1.0, "-inf"], high [1.0, "inf"]; other strings are refused."""
        box = spaces.Box(np.array([-1, -np.inf], np.float32), np.array([1, np.inf], np.float32))
        data = encode_space(box, strict_json=True)
        assert data["low"] == [-1.0, "-inf"] and data["high"] == [1.0, "inf"]
        with pytest.raises(ValueError, match="invalid Box bound '1.5'"):
            decode_space({**data, "low": ["1.5", 0]})

    def test_dict_keeps_its_key_order(self):
        """Keys come back in the order the space had them."""
        space = spaces.Dict([("z", spaces.Discrete(2)), ("a", spaces.Discrete(3))])
        assert list(decode_space(encode_space(space)).spaces) == list(space.spaces)


class TestErrors:
    def test_unsupported_space_names_the_supported_ones(self):
        """Text (and anything else) is refused."""
        with pytest.raises(ValueError, match=r"cannot describe the space.*'Box'.*'Dict'"):
            encode_space(spaces.Text(5))

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            ("x", "expected null, an int"),
            ({"type": "Text"}, "type in"),
            ({"type": "Box", "low": 0}, r"missing \['high', 'shape'\]"),
            ({"type": "Discrete", "n": 3, "size": 2}, r"unknown \['size'\]"),
            ({"type": "Discrete", "n": 0}, "invalid Discrete"),
            ({"type": "Box", "low": 0, "high": 1, "shape": [2], "dtype": "object"}, "invalid dtype 'object'"),
            ({"type": "Box", "low": [0, 1, 2], "high": 1, "shape": [2]}, "invalid Box"),
            ({"type": "MultiDiscrete", "nvec": [2], "dtype": "float32"}, "invalid dtype 'float32'"),
            ({"type": "Tuple", "spaces": {"a": 1}}, "must be a list"),
            ({"type": "Tuple", "spaces": [{"type": "Discrete"}]}, r"space\[0\]: a Discrete needs \['n'\]"),
        ],
    )
    def test_malformed_data_names_where_and_what(self, data, match):
        """Every malformed description is a ValueError naming the place and the expected fields."""
        with pytest.raises(ValueError, match=match):
            decode_space(data)
