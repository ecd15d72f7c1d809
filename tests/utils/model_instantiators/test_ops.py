"""Every operation of the expression language has one meaning on both backends, checked against NumPy."""

import ast

import gymnasium
import numpy as np
import pytest

from mixrl.utils.model_instantiators._compile import compile_expression
from mixrl.utils.model_instantiators._expressions import parse_expression


def backend_ops(name: str):
    """``(ops table, to-backend array, to-NumPy)`` of a backend."""
    if name == "torch":
        torch = pytest.importorskip("torch")
        from mixrl.utils.model_instantiators.torch._ops import OPS

        return OPS, torch.as_tensor, lambda x: x.numpy()
    jnp = pytest.importorskip("jax.numpy")
    from mixrl.utils.model_instantiators.jax._ops import OPS

    return OPS, jnp.asarray, np.asarray


RNG = np.random.default_rng(0)
A = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
B = RNG.normal(size=(2, 3, 4, 2)).astype(np.float32)
SPACES = {"OBSERVATION_SPACE": gymnasium.spaces.MultiDiscrete([3, 2], start=[1, 0]), "ACTION_SPACE": None}


def evaluate(backend: str, text: str, env: dict) -> np.ndarray:
    ops, to_array, to_numpy = backend_ops(backend)
    expression = parse_expression(text, "input", ["A", "B", "D"])
    node = compile_expression(expression.tree, {}, SPACES, ops)
    return to_numpy(node({key: to_array(value) for key, value in env.items()}))


@pytest.mark.parametrize("backend", ["torch", "jax"])
class TestOps:
    def test_concatenate_joins_on_the_last_axis(self, backend):
        """concatenate([a, b]) of (2, 3, 4, 5) and (2, 3, 4, 2) arrays is (2, 3, 4, 7), as numpy on axis -1."""
        result = evaluate(backend, "concatenate([A, B])", {"A": A, "B": B})
        np.testing.assert_allclose(result, np.concatenate([A, B], axis=-1))

    def test_concatenate_of_flat_inputs_is_feature_concatenation(self, backend):
        """On (batch, features) inputs the last axis is the feature axis."""
        a, b = A.reshape(2, -1), B.reshape(2, -1)
        np.testing.assert_allclose(evaluate(backend, "concatenate([A, B, A])", {"A": a, "B": b}), np.c_[a, b, a])

    def test_permute_is_numpy_transpose(self, backend):
        """permute(x, (0, 3, 1, 2)) reorders the axes like numpy.transpose."""
        np.testing.assert_allclose(evaluate(backend, "permute(A, (0, 3, 1, 2))", {"A": A}), A.transpose(0, 3, 1, 2))

    def test_indexing_and_arithmetic_are_numpy_semantics(self, backend):
        """Slices, integer indices and + - * / with constants broadcast as in NumPy."""
        expected = 2 * A[:, 1, ..., 1:4] - B[:, 1, :, :1] / 4
        np.testing.assert_allclose(
            evaluate(backend, "2 * A[:, 1, ..., 1:4] - B[:, 1, :, :1] / 4", {"A": A, "B": B}), expected, rtol=1e-6
        )

    def test_out_of_range_index_is_an_error(self, backend):
        """An integer index past the axis is an IndexError on both backends (JAX would clamp it)."""
        with pytest.raises(IndexError):
            evaluate(backend, "A[:, 7]", {"A": A})

    def test_one_hot_of_multidiscrete_concatenates_the_components(self, backend):
        """MultiDiscrete([3, 2], start=[1, 0]) values (3, 1) and (1, 0) -> [0 0 1 | 0 1] and [1 0 0 | 1 0]."""
        values = np.array([[3, 1], [1, 0]])
        expected = np.array([[0, 0, 1, 0, 1], [1, 0, 0, 1, 0]], np.float32)
        result = evaluate(backend, "one_hot_encoding(OBSERVATION_SPACE, D)", {"D": values})
        assert result.dtype == np.float32
        np.testing.assert_array_equal(result, expected)

    @pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "elu", "softplus", "softsign", "selu", "softmax"])
    def test_activations_match_their_numpy_formulas(self, backend, name):
        """Output activations are elementwise (softmax over the last axis) and agree with the closed forms."""
        ops, to_array, to_numpy = backend_ops(backend)
        x = A.reshape(2, -1)
        formulas = {
            "relu": np.maximum(x, 0),
            "tanh": np.tanh(x),
            "sigmoid": 1 / (1 + np.exp(-x)),
            "elu": np.where(x > 0, x, np.expm1(x)),
            "softplus": np.log1p(np.exp(x)),
            "softsign": x / (1 + np.abs(x)),
            "selu": 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
            "softmax": np.exp(x) / np.exp(x).sum(-1, keepdims=True),
        }
        tree = parse_expression(f"{name}(net)", "output", ["net"]).tree
        result = to_numpy(compile_expression(tree, {}, SPACES, ops)({"net": to_array(x)}))
        np.testing.assert_allclose(result, formulas[name], rtol=1e-5, atol=1e-6)


def test_rendered_concatenate_uses_the_last_axis():
    """return_source renders concatenate on the last axis on both backends."""
    tree = ast.parse("concatenate([a, b])", mode="eval").body
    pytest.importorskip("torch")
    from mixrl.utils.model_instantiators._source import expression_source
    from mixrl.utils.model_instantiators.torch._source import FUNCTIONS as TORCH

    assert expression_source(tree, {}, TORCH) == "torch.cat([a, b], dim=-1)"
    pytest.importorskip("flax")
    from mixrl.utils.model_instantiators.jax._source import FUNCTIONS as JAX

    assert expression_source(tree, {}, JAX) == "jnp.concatenate([a, b], axis=-1)"
