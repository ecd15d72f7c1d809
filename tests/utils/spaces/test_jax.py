"""Tests for mixrl.utils.spaces.jax (jax.Array outputs by default, NumPy with ``_jax=False``)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from gymnasium.spaces import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mixrl.utils.spaces import _common  # noqa: E402
from mixrl.utils.spaces.jax import (  # noqa: E402
    compute_space_size,
    convert_gym_space,
    flatten_tensorized_space,
    sample_space,
    tensorize_space,
    unflatten_tensorized_space,
    untensorize_space,
)

from .helpers import SIZE_CASES, assert_sample_equal, fake_gym_space, keys_in_order, seeded_sample, spaces  # noqa: E402


class TestComputeSpaceSize:
    def test_is_the_shared_implementation(self):
        """The jax backend re-exports the framework-free implementation."""
        assert compute_space_size is _common.compute_space_size

    @pytest.mark.parametrize(("space", "size", "occupied"), SIZE_CASES)
    def test_matches_the_size_table(self, space, size, occupied):
        """Element counts and occupied widths follow the spec table."""
        assert (compute_space_size(space), compute_space_size(space, occupied_size=True)) == (size, occupied)

    def test_float_raises_type_error(self):
        """A float size raises TypeError."""
        with pytest.raises(TypeError):
            compute_space_size(2.5)


class TestConvertGymSpace:
    def test_is_the_shared_implementation_and_converts(self):
        """The jax backend re-exports the shared converter, which turns a gym Discrete into a gymnasium one."""
        assert convert_gym_space is _common.convert_gym_space
        assert convert_gym_space(fake_gym_space("Discrete", n=4, start=1)) == Discrete(4, start=1)


class TestTensorizeSpace:
    def test_box_numpy_becomes_float32_jax_array(self):
        """A float64 NumPy Box sample becomes a float32 (1, *shape) jax.Array."""
        x = tensorize_space(Box(-1, 1, (2,), np.float64), np.array([0.5, -1.0]))
        assert isinstance(x, jax.Array) and x.dtype == jnp.float32
        np.testing.assert_array_equal(x, np.array([[0.5, -1.0]]))

    def test_existing_jax_array_is_only_reshaped(self):
        """A float16 jax.Array keeps its dtype and becomes (-1, *shape)."""
        x = tensorize_space(Box(-1, 1, (2,)), jnp.zeros(4, dtype=jnp.float16))
        assert (x.dtype, x.shape) == (jnp.float16, (2, 2))

    def test_discrete_and_multidiscrete_become_int32(self):
        """A Discrete int becomes int32 (1, 1) and a MultiDiscrete list int32 (1, K)."""
        discrete = tensorize_space(Discrete(5), 3)
        multi = tensorize_space(MultiDiscrete([5, 3]), [4, 2])
        assert discrete.dtype == multi.dtype == jnp.int32
        np.testing.assert_array_equal(discrete, np.array([[3]]))
        np.testing.assert_array_equal(multi, np.array([[4, 2]]))

    def test_numpy_output_without_jax(self):
        """With _jax=False the leaves are NumPy arrays with the same shapes and dtypes."""
        x = tensorize_space(Tuple((Discrete(5), MultiBinary(2))), (3, np.array([1, 0])), _jax=False)
        assert isinstance(x, tuple) and all(isinstance(item, np.ndarray) for item in x)
        assert (x[0].dtype, x[1].shape) == (np.int32, (1, 2))

    def test_dict_keeps_keys_and_mismatch_raises(self):
        """A Dict sample becomes a dict of arrays; a string for a Box raises ValueError."""
        x = tensorize_space(Dict(b=Discrete(3), a=Box(0, 1, (1,))), {"b": 1, "a": np.array([0.5])})
        assert_sample_equal(x, {"a": np.array([[0.5]]), "b": np.array([[1]])})
        with pytest.raises(ValueError, match="expected"):
            tensorize_space(Box(0, 1, (1,)), "0.5")

    def test_none_gives_none(self):
        """A None space or value gives None."""
        assert tensorize_space(None, np.zeros(2)) is None
        assert tensorize_space(Discrete(2), None) is None


class TestUntensorizeSpace:
    @pytest.mark.parametrize("x", [jnp.array([[2]]), np.array([[2]])])
    def test_single_discrete_gives_a_python_int(self, x):
        """A (1, 1) Discrete array (jax or NumPy) squeezes to the int 2, or stays (1, 1) without squeezing."""
        value = untensorize_space(Discrete(4), x)
        assert value == 2 and type(value) is int
        np.testing.assert_array_equal(untensorize_space(Discrete(4), x, squeeze_batch_dimension=False), [[2]])

    def test_bfloat16_is_upcast_and_space_dtype_used(self):
        """A bfloat16 (1, 2) array becomes a float32 (2,) NumPy array for a float32 Box."""
        value = untensorize_space(Box(-1, 1, (2,)), jnp.array([[0.5, -1.0]], dtype=jnp.bfloat16))
        assert isinstance(value, np.ndarray) and value.dtype == np.float32
        np.testing.assert_array_equal(value, np.array([0.5, -1.0]))

    def test_structures_and_batches(self):
        """Tuple gives a tuple, Dict a dict; a batch of 2 MultiDiscrete values keeps (2, K)."""
        space = Dict(x=Tuple((Discrete(3), MultiDiscrete([4, 4]))))
        value = untensorize_space(space, {"x": (jnp.array([[2], [0]]), jnp.array([[1, 3], [0, 2]]))})
        assert_sample_equal(value, {"x": (np.array([[2], [0]]), np.array([[1, 3], [0, 2]]))})

    def test_list_raises_value_error(self):
        """A list is not an array: ValueError naming the expected types."""
        with pytest.raises(ValueError, match="expected a jax.Array or a NumPy array"):
            untensorize_space(Discrete(2), [1])


class TestFlattenTensorizedSpace:
    def test_two_dimensional_array_of_the_output_kind_is_returned_as_is(self):
        """A 2-D jax.Array (or a 2-D NumPy array with _jax=False) is returned unchanged."""
        x, y = jnp.zeros((3, 4)), np.zeros((3, 4))
        assert flatten_tensorized_space(x) is x
        assert flatten_tensorized_space(y, _jax=False) is y

    def test_numpy_input_gives_a_jax_array_of_batch_by_features(self):
        """A (2, 2, 3) NumPy array becomes a (2, 6) jax.Array; a 1-D one (1, -1)."""
        x = flatten_tensorized_space(np.zeros((2, 2, 3)))
        assert isinstance(x, jax.Array) and x.shape == (2, 6)
        assert flatten_tensorized_space(jnp.arange(3)).shape == (1, 3)

    def test_dict_concatenates_in_sorted_key_order_with_promotion(self):
        """Dict items are concatenated by sorted key; int32 with float32 gives float32."""
        x = flatten_tensorized_space(OrderedDict(b=jnp.array([[2]], dtype=jnp.int32), a=jnp.array([[1.0, 1.5]])))
        assert x.dtype == jnp.float32
        np.testing.assert_array_equal(x, np.array([[1.0, 1.5, 2.0]]))

    def test_tuple_without_jax_gives_numpy(self):
        """With _jax=False a tuple concatenates in order into a NumPy array."""
        x = flatten_tensorized_space((np.array([[1]]), jnp.array([[[2, 3]]])), _jax=False)
        assert isinstance(x, np.ndarray)
        np.testing.assert_array_equal(x, np.array([[1, 2, 3]]))

    def test_unsupported_type_raises_and_none_gives_none(self):
        """A string raises ValueError; None gives None."""
        with pytest.raises(ValueError, match="cannot flatten a str"):
            flatten_tensorized_space("abc")
        assert flatten_tensorized_space(None) is None


class TestUnflattenTensorizedSpace:
    def test_dict_slices_by_occupied_width_in_sorted_key_order_keeping_dtype(self):
        """A (1, 7) float array for Dict(a=Box(2, 3), b=Discrete) splits into a (1, 2, 3) and b [[2.]]."""
        space = Dict(OrderedDict(b=Discrete(4), a=Box(-1, 1, (2, 3))))
        value = unflatten_tensorized_space(space, jnp.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 2.0]]))
        assert list(value) == ["a", "b"]
        np.testing.assert_array_equal(value["a"], np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]))
        assert value["b"].dtype == jnp.float32
        np.testing.assert_array_equal(value["b"], np.array([[2.0]]))

    def test_tuple_gives_a_tuple_and_numpy_without_jax(self):
        """Tuple(Discrete, MultiBinary(2)) splits widths 1 + 2 into a tuple of NumPy arrays with _jax=False."""
        value = unflatten_tensorized_space(
            Tuple((Discrete(3), MultiBinary(2))), jnp.arange(6).reshape(2, 3), _jax=False
        )
        assert isinstance(value, tuple) and isinstance(value[0], np.ndarray)
        np.testing.assert_array_equal(value[0], np.array([[0], [3]]))
        np.testing.assert_array_equal(value[1], np.array([[1, 2], [4, 5]]))

    def test_int_and_sequence_spaces(self):
        """An int space n gives (-1, n) and a sequence space gives (-1, *shape)."""
        assert unflatten_tensorized_space(6, jnp.zeros((2, 6))).shape == (2, 6)
        assert unflatten_tensorized_space([2, 3], np.zeros((2, 6))).shape == (2, 2, 3)

    def test_wrong_width_raises_naming_both_widths(self):
        """A width-5 array for a width-10 Tuple raises ValueError naming 5 and 10."""
        space = Tuple((Box(-1, 1, (2, 3)), Discrete(4), MultiDiscrete([5, 3, 2])))
        with pytest.raises(ValueError, match=r"width 5.*expected width 10"):
            unflatten_tensorized_space(space, jnp.zeros((1, 5)))


class TestRoundTrips:
    @settings(max_examples=50, deadline=None)
    @given(space=spaces, seed=st.integers(0, 2**16))
    def test_unflatten_inverts_flatten(self, space, seed):
        """unflatten(flatten(tensorize(s))) equals tensorize(s) with tuples kept and dicts in sorted key order."""
        x = tensorize_space(space, seeded_sample(space, seed))
        value = unflatten_tensorized_space(space, flatten_tensorized_space(x))
        assert_sample_equal(value, x)
        assert all(order == sorted(order) for order in keys_in_order(value))

    @settings(max_examples=50, deadline=None)
    @given(space=spaces, seed=st.integers(0, 2**16), use_jax=st.booleans())
    def test_untensorize_inverts_tensorize(self, space, seed, use_jax):
        """untensorize(tensorize(s)) gives back the original sample, from jax or NumPy arrays."""
        sample = seeded_sample(space, seed)
        assert_sample_equal(untensorize_space(space, tensorize_space(space, sample, _jax=use_jax)), sample)


class TestSampleSpace:
    def test_native_batch_shapes(self):
        """A batch of 4 gives Box (4, 2, 3), Discrete (4, 1) and MultiDiscrete (4, 3) jax.Arrays."""
        space = Dict(box=Box(-1, 1, (2, 3)), discrete=Discrete(4), multi=MultiDiscrete([5, 3, 2]))
        value = sample_space(space, batch_size=4, backend="native")
        assert all(isinstance(item, jax.Array) for item in value.values())
        assert {key: item.shape for key, item in value.items()} == {
            "box": (4, 2, 3),
            "discrete": (4, 1),
            "multi": (4, 3),
        }

    def test_numpy_by_default_and_for_native_without_jax(self):
        """The default backend and native with _jax=False both give NumPy arrays."""
        assert isinstance(sample_space(Box(-1, 1, (2,))), np.ndarray)
        assert isinstance(sample_space(Discrete(3), backend="native", _jax=False), np.ndarray)

    def test_discrete_respects_start_and_seed_reproduces(self):
        """Discrete(3, start=-1) samples lie in -1..1 and the same seed gives the same batch."""
        first = sample_space(Discrete(3, start=-1), batch_size=100, backend="native", seed=3)
        assert first.min() >= -1 and first.max() <= 1
        np.testing.assert_array_equal(first, sample_space(Discrete(3, start=-1), batch_size=100, seed=3))

    def test_bad_backend_raises_and_none_gives_none(self):
        """An unknown backend raises ValueError; a None space gives None."""
        with pytest.raises(ValueError, match="unknown backend"):
            sample_space(Discrete(2), backend="jax")
        assert sample_space(None) is None
