"""Tests for mixrl.utils.spaces.torch (and the shared logic in mixrl.utils.spaces._common)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Text, Tuple
from hypothesis import given, settings
from hypothesis import strategies as st

from mixrl.utils.spaces.torch import (
    compute_space_size,
    convert_gym_space,
    flatten_tensorized_space,
    sample_space,
    tensorize_space,
    unflatten_tensorized_space,
    untensorize_space,
)

from .helpers import SIZE_CASES, assert_sample_equal, fake_gym_space, keys_in_order, seeded_sample, spaces

CPU = torch.device("cpu")


class TestComputeSpaceSize:
    @pytest.mark.parametrize(("space", "size", "occupied"), SIZE_CASES)
    def test_matches_the_size_table(self, space, size, occupied):
        """Element counts and occupied widths follow the spec table, as Python ints."""
        assert compute_space_size(space) == size
        assert compute_space_size(space, occupied_size=True) == occupied
        assert type(compute_space_size(space)) is int

    @pytest.mark.parametrize("space", [2.5, 3.0, True, (2, 1.5)])
    def test_floats_and_bools_raise_type_error(self, space):
        """Only ints are sizes: floats (even integral ones) and bools raise TypeError."""
        with pytest.raises(TypeError):
            compute_space_size(space)

    def test_unsupported_space_raises_value_error_naming_it(self):
        """An unsupported space raises ValueError naming the received type and the supported ones."""
        with pytest.raises(ValueError, match=r"Text.*Box, Discrete"):
            compute_space_size(Text(5))


class TestConvertGymSpace:
    def test_box_keeps_bounds_shape_and_dtype(self):
        """A gym Box becomes a gymnasium Box with the same low/high/shape/dtype."""
        low, high = np.zeros((2, 3), np.float64), np.ones((2, 3), np.float64)
        space = convert_gym_space(fake_gym_space("Box", low=low, high=high, shape=(2, 3), dtype=np.float64))
        assert space == Box(low, high, (2, 3), np.float64)

    def test_squeeze_batch_dimension_drops_the_first_box_dimension(self):
        """With squeeze_batch_dimension a (4, 3) Box becomes a (3,) Box built from low[0] and high[0]."""
        low = np.array([[0.0, 1.0, 2.0]] * 4, np.float32)
        gym_box = fake_gym_space("Box", low=low, high=low + 1, shape=(4, 3), dtype=np.float32)
        space = convert_gym_space(gym_box, squeeze_batch_dimension=True)
        assert space == Box(np.array([0.0, 1.0, 2.0], np.float32), np.array([1.0, 2.0, 3.0], np.float32), (3,))

    def test_discrete_multidiscrete_multibinary_keep_their_parameters(self):
        """Discrete keeps n and start, MultiDiscrete keeps nvec, MultiBinary keeps n."""
        assert convert_gym_space(fake_gym_space("Discrete", n=5, start=2)) == Discrete(5, start=2)
        assert convert_gym_space(fake_gym_space("MultiDiscrete", nvec=np.array([3, 4]))) == MultiDiscrete([3, 4])
        assert convert_gym_space(fake_gym_space("MultiBinary", n=6)) == MultiBinary(6)

    def test_tuple_and_dict_convert_recursively(self):
        """Tuple and Dict sub-spaces are converted too."""
        discrete = fake_gym_space("Discrete", n=3, start=0)
        space = convert_gym_space(fake_gym_space("Dict", spaces={"t": fake_gym_space("Tuple", spaces=(discrete,))}))
        assert space == Dict(t=Tuple((Discrete(3),)))

    def test_gymnasium_space_passes_through_unchanged(self):
        """A gymnasium space is returned as the same object; None gives None."""
        space = Box(-1, 1, (2,))
        assert convert_gym_space(space) is space
        assert convert_gym_space(None) is None

    @pytest.mark.parametrize("space", [fake_gym_space("Graph"), object(), 3])
    def test_unsupported_space_raises_value_error(self, space):
        """Unknown gym classes and non-spaces raise ValueError."""
        with pytest.raises(ValueError, match="unsupported space"):
            convert_gym_space(space)


class TestTensorizeSpace:
    def test_box_numpy_becomes_float32_with_batch_dimension(self):
        """A float64 Box sample becomes a float32 (1, *shape) tensor."""
        x = tensorize_space(Box(-1, 1, (2, 2), np.float64), np.array([[0.5, 1.0], [-1.0, 0.0]]), device=CPU)
        assert x.dtype == torch.float32
        assert torch.equal(x, torch.tensor([[[0.5, 1.0], [-1.0, 0.0]]]))

    def test_existing_tensor_is_only_reshaped(self):
        """A float64 tensor keeps its dtype and is reshaped to (-1, *shape)."""
        x = tensorize_space(Box(-1, 1, (2,)), torch.arange(4, dtype=torch.float64))
        assert x.dtype == torch.float64
        assert x.shape == (2, 2)

    @pytest.mark.parametrize("value", [3, np.int64(3), np.array(3), np.array([3])])
    def test_discrete_scalar_or_array_becomes_int32_column(self, value):
        """A Discrete value (number or array) becomes an int32 (1, 1) tensor."""
        x = tensorize_space(Discrete(5), value, device=CPU)
        assert x.dtype == torch.int32
        assert torch.equal(x, torch.tensor([[3]], dtype=torch.int32))

    def test_multidiscrete_list_and_multibinary_become_int32(self):
        """MultiDiscrete lists give (-1, *nvec.shape) and MultiBinary gives (-1, *shape), both int32."""
        md = tensorize_space(MultiDiscrete([5, 3]), [4, 2], device=CPU)
        mb = tensorize_space(MultiBinary([2, 2]), np.array([[1, 0], [0, 1]], np.int8), device=CPU)
        assert md.dtype == mb.dtype == torch.int32
        assert torch.equal(md, torch.tensor([[4, 2]], dtype=torch.int32))
        assert mb.shape == (1, 2, 2)

    def test_tuple_and_dict_keep_their_structure(self):
        """A Tuple sample becomes a tuple and a Dict sample a dict with the same keys."""
        space = Dict(b=Discrete(3), a=Tuple((Box(0, 1, (1,)), Discrete(2))))
        x = tensorize_space(space, {"b": 1, "a": (np.array([0.5]), 0)}, device=CPU)
        assert_sample_equal(x, {"a": (np.array([[0.5]]), np.array([[0]])), "b": np.array([[1]])})

    @pytest.mark.parametrize(
        ("space", "value"), [(Box(0, 1, (1,)), "0.5"), (Tuple((Discrete(2),)), 1), (Dict(a=Discrete(2)), {"b": 1})]
    )
    def test_mismatched_value_raises_value_error(self, space, value):
        """A value not matching the space raises ValueError naming what was expected."""
        with pytest.raises(ValueError, match="expected"):
            tensorize_space(space, value, device=CPU)

    def test_none_gives_none(self):
        """A None space or value gives None."""
        assert tensorize_space(None, np.zeros(2)) is None
        assert tensorize_space(Discrete(2), None) is None


class TestUntensorizeSpace:
    def test_single_discrete_gives_a_python_int(self):
        """A (1, 1) Discrete tensor squeezes to an int, or stays a (1, 1) array without squeezing."""
        value = untensorize_space(Discrete(4), torch.tensor([[2]]))
        assert value == 2 and type(value) is int
        array = untensorize_space(Discrete(4), torch.tensor([[2]]), squeeze_batch_dimension=False)
        assert isinstance(array, np.ndarray)
        np.testing.assert_array_equal(array, np.array([[2]]))

    def test_box_uses_the_space_dtype_and_squeezes_a_single_batch(self):
        """A bfloat16 (1, 2) tensor becomes a float64 (2,) array for a float64 Box; a batch of 3 keeps (3, 2)."""
        space = Box(-1, 1, (2,), np.float64)
        value = untensorize_space(space, torch.tensor([[0.5, -1.0]], dtype=torch.bfloat16))
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, np.array([0.5, -1.0]))
        assert untensorize_space(space, torch.zeros(3, 2)).shape == (3, 2)

    def test_batched_discrete_and_multidiscrete_shapes(self):
        """Batches keep (-1, 1) for Discrete and (-1, *nvec.shape) for MultiDiscrete."""
        np.testing.assert_array_equal(untensorize_space(Discrete(4), torch.tensor([1, 3])), np.array([[1], [3]]))
        value = untensorize_space(MultiDiscrete([4, 4]), torch.tensor([[1.0, 3.0]]))
        assert value.dtype == np.int64
        np.testing.assert_array_equal(value, np.array([1, 3]))

    def test_tuple_and_dict_structures(self):
        """Tuple values come back as tuples and Dict values as dicts."""
        space = Dict(x=Tuple((Discrete(3), MultiBinary(2))))
        value = untensorize_space(space, {"x": (torch.tensor([[2]]), torch.tensor([[1, 0]]))})
        assert_sample_equal(value, {"x": (2, np.array([1, 0]))})

    def test_non_tensor_raises_and_none_gives_none(self):
        """A list is not a tensor (ValueError); a None space or value gives None."""
        with pytest.raises(ValueError, match="expected a torch.Tensor"):
            untensorize_space(Discrete(2), [1])
        assert untensorize_space(None, torch.zeros(1)) is None
        assert untensorize_space(Discrete(2), None) is None


class TestFlattenTensorizedSpace:
    def test_two_dimensional_tensor_is_returned_as_is(self):
        """The hot-path fast path returns the very same 2-D tensor."""
        x = torch.zeros(3, 4)
        assert flatten_tensorized_space(x) is x

    def test_tensors_are_reshaped_to_batch_by_features(self):
        """A 1-D tensor becomes (1, -1) and a (2, 2, 3) tensor becomes (2, 6)."""
        assert flatten_tensorized_space(torch.arange(3)).shape == (1, 3)
        assert flatten_tensorized_space(torch.zeros(2, 2, 3)).shape == (2, 6)

    def test_tuple_concatenates_in_order_with_type_promotion(self):
        """Tuple items are concatenated in order; int32 with float32 gives float32."""
        x = flatten_tensorized_space((torch.tensor([[1.5]]), torch.tensor([[[2, 3]]], dtype=torch.int32)))
        assert x.dtype == torch.float32
        assert torch.equal(x, torch.tensor([[1.5, 2.0, 3.0]]))

    def test_dict_concatenates_in_sorted_key_order(self):
        """Dict items are concatenated by sorted key, not insertion order."""
        x = flatten_tensorized_space(OrderedDict(b=torch.tensor([[2.0]]), a=torch.tensor([[1.0, 1.0]])))
        assert torch.equal(x, torch.tensor([[1.0, 1.0, 2.0]]))

    def test_unsupported_type_raises_and_none_gives_none(self):
        """A NumPy array is not a tensor (ValueError); None gives None."""
        with pytest.raises(ValueError, match="cannot flatten a ndarray"):
            flatten_tensorized_space(np.zeros((2, 2, 2)))
        assert flatten_tensorized_space(None) is None


class TestUnflattenTensorizedSpace:
    def test_dict_slices_by_occupied_width_in_sorted_key_order_keeping_dtype(self):
        """A (1, 7) float tensor for Dict(a=Box(2, 3), b=Discrete) splits into a (1, 2, 3) and b [[2.]]."""
        space = Dict(OrderedDict(b=Discrete(4), a=Box(-1, 1, (2, 3))))
        value = unflatten_tensorized_space(space, torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 2.0]]))
        assert list(value) == ["a", "b"]
        assert torch.equal(value["a"], torch.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]))
        assert torch.equal(value["b"], torch.tensor([[2.0]]))

    def test_tuple_gives_a_tuple_of_leaf_shapes(self):
        """Tuple(Discrete, MultiDiscrete([[2, 2], [2, 2]]), MultiBinary(2)) splits widths 1 + 4 + 2 into a tuple."""
        space = Tuple((Discrete(3), MultiDiscrete([[2, 2], [2, 2]]), MultiBinary(2)))
        value = unflatten_tensorized_space(space, torch.arange(14).reshape(2, 7))
        assert isinstance(value, tuple)
        assert torch.equal(value[0], torch.tensor([[0], [7]]))
        assert torch.equal(value[1], torch.tensor([[[1, 2], [3, 4]], [[8, 9], [10, 11]]]))
        assert torch.equal(value[2], torch.tensor([[5, 6], [12, 13]]))

    def test_int_and_sequence_spaces(self):
        """An int space n gives (-1, n) and a sequence space gives (-1, *shape)."""
        assert unflatten_tensorized_space(6, torch.zeros(2, 6)).shape == (2, 6)
        assert unflatten_tensorized_space((2, 3), torch.zeros(2, 6)).shape == (2, 2, 3)

    def test_wrong_width_raises_naming_both_widths(self):
        """A width-5 tensor for a width-7 space raises ValueError naming 5 and 7."""
        with pytest.raises(ValueError, match=r"width 5.*expected width 7"):
            unflatten_tensorized_space(Dict(a=Box(-1, 1, (2, 3)), b=Discrete(4)), torch.zeros(1, 5))

    def test_none_gives_none(self):
        """A None space or tensor gives None."""
        assert unflatten_tensorized_space(None, torch.zeros(1, 2)) is None
        assert unflatten_tensorized_space(Discrete(2), None) is None


class TestRoundTrips:
    @settings(max_examples=50, deadline=None)
    @given(space=spaces, seed=st.integers(0, 2**16))
    def test_unflatten_inverts_flatten(self, space, seed):
        """unflatten(flatten(tensorize(s))) equals tensorize(s) with tuples kept and dicts in sorted key order."""
        x = tensorize_space(space, seeded_sample(space, seed), device=CPU)
        value = unflatten_tensorized_space(space, flatten_tensorized_space(x))
        assert_sample_equal(value, x)
        assert all(order == sorted(order) for order in keys_in_order(value))

    @settings(max_examples=50, deadline=None)
    @given(space=spaces, seed=st.integers(0, 2**16))
    def test_untensorize_inverts_tensorize(self, space, seed):
        """untensorize(tensorize(s)) gives back the original sample."""
        sample = seeded_sample(space, seed)
        assert_sample_equal(untensorize_space(space, tensorize_space(space, sample, device=CPU)), sample)

    @settings(max_examples=50, deadline=None)
    @given(space=spaces, seed=st.integers(0, 2**16))
    def test_batches_round_trip_without_squeezing(self, space, seed):
        """A sampled batch of 3 survives tensorize, flatten, unflatten and untensorize."""
        batch = sample_space(space, batch_size=3, seed=seed)
        flat = flatten_tensorized_space(tensorize_space(space, batch, device=CPU))
        value = untensorize_space(space, unflatten_tensorized_space(space, flat), squeeze_batch_dimension=False)
        assert_sample_equal(value, batch)


class TestSampleSpace:
    def test_native_batch_shapes_and_dtypes(self):
        """A batch of 4 gives Box (4, 2, 3) float32, Discrete (4, 1) and MultiDiscrete (4, 3) tensors."""
        space = Tuple((Box(-1, 1, (2, 3)), Discrete(4), MultiDiscrete([5, 3, 2]), MultiBinary(2)))
        box, discrete, multi, binary = sample_space(space, batch_size=4, backend="native", device=CPU)
        assert all(isinstance(item, torch.Tensor) for item in (box, discrete, multi, binary))
        assert (box.shape, box.dtype) == ((4, 2, 3), torch.float32)
        assert (discrete.shape, multi.shape, binary.shape) == ((4, 1), (4, 3), (4, 2))

    def test_default_is_a_numpy_batch_of_one(self):
        """Without arguments a Dict sample is a dict of NumPy arrays with batch size 1."""
        value = sample_space(Dict(a=Box(-1, 1, (2,)), b=Discrete(3)))
        assert isinstance(value["a"], np.ndarray) and value["a"].shape == (1, 2)
        assert value["b"].shape == (1, 1)

    def test_discrete_respects_start(self):
        """Discrete(3, start=10) samples lie in 10..12."""
        value = sample_space(Discrete(3, start=10), batch_size=200, seed=0)
        assert value.min() >= 10 and value.max() <= 12

    def test_seed_is_reproducible_and_no_seed_draws_fresh_batches(self):
        """The same seed gives the same batch; without a seed two batches differ."""
        space = Box(-1, 1, (3,))
        np.testing.assert_array_equal(
            sample_space(space, batch_size=2, seed=7), sample_space(space, batch_size=2, seed=7)
        )
        assert not np.array_equal(sample_space(space, batch_size=2), sample_space(space, batch_size=2))

    def test_callers_space_is_not_reseeded(self):
        """An unseeded Tuple with a seeded sub-space keeps drawing what that sub-space's seed dictates."""
        expected = seeded_sample(Box(-1, 1, (3,)), 1)
        space = Tuple((Box(-1, 1, (3,)),))
        space.spaces[0].seed(1)
        sample_space(space, batch_size=2)
        np.testing.assert_array_equal(space.spaces[0].sample(), expected)

    @pytest.mark.parametrize(("space", "backend"), [(Discrete(2), "torch"), (4, "numpy"), ((2, 3), "numpy")])
    def test_bad_backend_or_size_only_space_raises_value_error(self, space, backend):
        """An unknown backend or an int/sequence space raises ValueError."""
        with pytest.raises(ValueError):
            sample_space(space, backend=backend)

    def test_none_gives_none(self):
        """A None space gives None."""
        assert sample_space(None) is None
