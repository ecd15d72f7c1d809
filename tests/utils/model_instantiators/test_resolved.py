"""The resolved description: plain data only, and the documents it is made of."""

import gymnasium
import numpy as np
import pytest

from mixrl.utils.model_instantiators._description import describe
from mixrl.utils.model_instantiators._expressions import Shape
from mixrl.utils.model_instantiators._kinds import MIXINS
from mixrl.utils.model_instantiators._shared import describe_shared, single_role
from mixrl.utils.model_instantiators._sidecar import plain, resolved_description


def test_plain_converts_enums_tuples_and_numpy_scalars():
    """Shape by name, tuples as lists, numpy scalars (bool too) as Python values."""
    value = {"a": np.bool_(True), "b": np.float32(0.5), "c": (1, np.int64(2)), "d": Shape.ONE, "e": None}
    converted = plain(value)
    assert converted == {"a": True, "b": 0.5, "c": [1, 2], "d": "ONE", "e": None}
    assert type(converted["a"]) is bool and type(converted["c"][1]) is int


@pytest.mark.parametrize(("value", "match"), [({"x": object()}, r"description\.x: object"), ({1: 2}, "keys must be")])
def test_plain_refuses_anything_else(value, match):
    """Objects with no plain form are a ValueError naming where they are."""
    with pytest.raises(ValueError, match=match):
        plain(value)


def test_single_document_has_kind_parameters_description_and_spaces():
    """class, mixin keywords, log-std settings, the description data, recurrent keywords, spaces."""
    mixin = MIXINS["gaussianmixin"]
    description = describe([], "", {"hiddens": [8]}, "tanh")
    role = single_role(mixin, dict(mixin.parameters), {"initial_log_std": 0, "fixed_log_std": True}, description)
    document = resolved_description(
        [role], True, {"num_envs": 4, "sequence_length": 8}, (gymnasium.spaces.Discrete(3), (2,))
    )
    assert list(document)[:2] == ["class", "clip_actions"] and document["fixed_log_std"] is True
    assert document["hiddens"] == [8] and document["num_envs"] == 4
    assert document["observation_space"] == {"type": "Discrete", "n": 3, "start": 0}
    assert document["action_space"] == [2]


def test_shared_document_keeps_the_trunk_in_the_first_role():
    """class: Shared, roles in order; only the first role carries the network."""
    network = [{"name": "net", "input": "STATES", "layers": [8]}]
    _, roles = describe_shared("", ["policy", "value"], [{"network": network, "output": "ACTIONS"}, {"output": "ONE"}])
    document = resolved_description(roles, True, None, (3, 2))
    assert document["class"] == "Shared" and list(document["roles"]) == ["policy", "value"]
    assert "network" in document["roles"]["policy"] and "network" not in document["roles"]["value"]
    assert "num_envs" not in document
