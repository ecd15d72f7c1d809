"""Shared test data for the torch and jax space utilities: the size table, fake gym spaces, strategies."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.spaces import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple
from hypothesis import strategies as st

# (space, number of elements, occupied width in a flat tensor), worked out by hand from the spec table
SIZE_CASES = [
    (None, 0, 0),
    (5, 5, 5),
    (np.int64(4), 4, 4),
    ((2, 3), 6, 6),
    ([2, 3, 4], 24, 24),
    (Box(-1, 1, (2, 3)), 6, 6),
    (Box(-1, 1, ()), 1, 1),
    (Discrete(4), 4, 1),
    (Discrete(3, start=-1), 3, 1),
    (MultiDiscrete([5, 3, 2]), 10, 3),
    (MultiDiscrete([[2, 3], [4, 5]]), 14, 4),
    (MultiBinary(5), 5, 5),
    (MultiBinary([2, 3]), 6, 6),
    (Dict(a=Box(-1, 1, (2, 3)), b=Discrete(4)), 10, 7),
    (Tuple((Box(-1, 1, (2, 3)), Discrete(4), MultiDiscrete([5, 3, 2]))), 20, 10),
    (Dict(outer=Tuple((Discrete(2), Box(0, 1, (3,)))), x=MultiBinary(2)), 7, 6),
]


def fake_gym_space(name: str, **attributes: Any) -> Any:
    """An object that looks like an old ``gym.spaces.<name>`` instance (gym itself is not installed)."""
    cls = type(name, (), {"__module__": f"gym.spaces.{name.lower()}"})
    space = cls()
    space.__dict__.update(attributes)
    return space


def assert_sample_equal(actual: Any, expected: Any) -> None:
    """Same nesting (tuple stays tuple, dict keys), same shapes and values; dtype not compared."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple), f"expected a tuple, got {type(actual).__name__}"
        assert len(actual) == len(expected)
        for item, expected_item in zip(actual, expected, strict=True):
            assert_sample_equal(item, expected_item)
    elif isinstance(expected, Mapping):
        assert isinstance(actual, dict), f"expected a dict, got {type(actual).__name__}"
        assert set(actual) == set(expected)
        for key in expected:
            assert_sample_equal(actual[key], expected[key])
    else:
        actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        assert actual.shape == expected.shape
        np.testing.assert_array_equal(actual, expected)


def keys_in_order(value: Any) -> list:
    """Every dict's key order, depth first, to check that unflattened dicts use sorted keys."""
    if isinstance(value, Mapping):
        return [list(value)] + [order for item in value.values() for order in keys_in_order(item)]
    if isinstance(value, tuple):
        return [order for item in value for order in keys_in_order(item)]
    return []


_shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)
leaf_spaces = st.one_of(
    _shapes.map(lambda shape: Box(-10.0, 10.0, shape, dtype=np.float32)),
    st.builds(lambda n, start: Discrete(n, start=start), st.integers(1, 6), st.integers(-5, 5)),
    st.lists(st.integers(1, 6), min_size=1, max_size=4).map(MultiDiscrete),
    _shapes.map(MultiBinary),
)


def _composite(children: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.lists(st.sampled_from(["e", "d", "c", "b", "a"]), min_size=1, max_size=3, unique=True)
    dicts = keys.flatmap(
        lambda names: st.lists(children, min_size=len(names), max_size=len(names)).map(
            lambda subs: Dict(OrderedDict(zip(names, subs, strict=True)))  # insertion order, often unsorted
        )
    )
    return st.one_of(st.lists(children, min_size=1, max_size=3).map(lambda subs: Tuple(tuple(subs))), dicts)


# leaf spaces and Dict/Tuple spaces nested up to depth 2
spaces = st.one_of(leaf_spaces, _composite(leaf_spaces), _composite(st.one_of(leaf_spaces, _composite(leaf_spaces))))


def seeded_sample(space: Any, seed: int) -> Any:
    """One sample of ``space`` after seeding it."""
    space.seed(seed)
    return space.sample()
