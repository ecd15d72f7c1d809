"""A failed load or migrate leaves the model bit-identical: every entry is checked before the first copy."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from ..models.jax.conftest import GaussianPolicy as JaxGaussianPolicy
from ..models.jax.conftest import build
from .conftest import GaussianPolicy, jax_bytes, torch_bytes


def bad_last_entry(kind: str, reference: torch.Tensor) -> torch.Tensor:
    """An entry with the right name and shape that cannot be copied (or only by dropping data)."""
    if kind == "meta":
        return torch.empty(reference.shape, device="meta")
    if kind == "sparse":
        return torch.ones(reference.shape).to_sparse()
    if kind == "complex64":
        return torch.ones(reference.shape, dtype=torch.complex64) * (1 + 2j)
    raise AssertionError(kind)


def poisoned_state(model, kind):
    state = {name: torch.randn_like(value) for name, value in model.state_dict().items()}
    last = list(state)[-1]
    state[last] = bad_last_entry(kind, state[last])
    return state, last


KINDS = ["meta", "sparse", "complex64"]


class TestTorchFailedLoads:
    @pytest.mark.parametrize("kind", KINDS)
    def test_load_refuses_the_checkpoint_and_changes_nothing(self, tmp_path, box_obs, box_act, kind):
        """load: a ValueError naming the entry; every parameter and buffer keeps its bytes."""
        model = GaussianPolicy(box_obs, box_act)
        state, last = poisoned_state(model, kind)
        path = tmp_path / "policy.pt"
        torch.save(state, path)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=rf"{path}.*{last}"):
            model.load(path)
        assert torch_bytes(model) == before

    @pytest.mark.parametrize("kind", KINDS)
    def test_migrate_from_a_file_refuses_and_changes_nothing(self, tmp_path, box_obs, box_act, kind):
        """migrate(path=...): the same checks before anything is copied."""
        model = GaussianPolicy(box_obs, box_act)
        state, last = poisoned_state(model, kind)
        path = tmp_path / "external.pt"
        torch.save(state, path)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=rf"{path}.*{last}"):
            model.migrate(path=str(path))
        assert torch_bytes(model) == before

    @pytest.mark.parametrize("kind", KINDS)
    def test_migrate_from_a_state_dict_refuses_and_changes_nothing(self, box_obs, box_act, kind):
        """migrate(state_dict=...): the same checks before anything is copied."""
        model = GaussianPolicy(box_obs, box_act)
        state, last = poisoned_state(model, kind)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=last):
            model.migrate(state_dict=state)
        assert torch_bytes(model) == before

    def test_floating_values_for_an_integer_buffer_are_refused(self, tmp_path, box_obs, box_act):
        """A float checkpoint entry for an int64 buffer would be truncated: refused, nothing copied."""
        model = GaussianPolicy(box_obs, box_act)
        model.register_buffer("steps", torch.tensor([3], dtype=torch.int64))
        state = {name: torch.randn(value.shape) for name, value in model.state_dict().items()}
        path = tmp_path / "policy.pt"
        torch.save(state, path)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match="steps"):
            model.load(path)
        assert torch_bytes(model) == before

    def test_compatible_dtypes_still_load(self, tmp_path, box_obs, box_act):
        """float64 values for float32 parameters are cast, as before."""
        model = GaussianPolicy(box_obs, box_act)
        state = {name: value.double() + 1 for name, value in model.state_dict().items()}
        path = tmp_path / "policy.pt"
        torch.save(state, path)
        model.load(path)
        for name, value in model.state_dict().items():
            assert value.dtype == torch.float32
            torch.testing.assert_close(value, state[name].float())


class TestJaxFailedLoads:
    def test_migrate_refuses_complex_values_and_changes_nothing(self, box_obs, box_act):
        """JAX migrate(state_dict=...) with a complex last entry: ValueError, state_dict unchanged."""
        model = build(JaxGaussianPolicy, box_obs, box_act)
        source = GaussianPolicy(box_obs, box_act)
        state, last = poisoned_state(source, "complex64")
        before = jax_bytes(model)
        with pytest.raises(ValueError, match="complex"):
            model.migrate(state_dict=state)
        assert jax_bytes(model) == before

    def test_migrate_refuses_meta_tensors_and_changes_nothing(self, box_obs, box_act):
        """A meta tensor has no data: a ValueError naming it, not a RuntimeError from the conversion."""
        model = build(JaxGaussianPolicy, box_obs, box_act)
        state, last = poisoned_state(GaussianPolicy(box_obs, box_act), "meta")
        before = jax_bytes(model)
        with pytest.raises(ValueError, match=last):
            model.migrate(state_dict=state)
        assert jax_bytes(model) == before

    def test_load_of_a_mismatched_tree_changes_nothing(self, tmp_path, box_obs, box_act):
        """A msgpack tree whose last leaf has the wrong dtype: ValueError, state_dict unchanged."""
        import flax.serialization

        model = build(JaxGaussianPolicy, box_obs, box_act)
        tree = flax.serialization.to_state_dict(model.state_dict.params)
        leaves = tree["params"]
        name = sorted(leaves)[-1]
        leaves[name] = (
            {k: np.asarray(v) + 1 for k, v in leaves[name].items()}
            if isinstance(leaves[name], dict)
            else (np.asarray(leaves[name]).astype(np.complex64))
        )
        first = sorted(leaves)[0]
        if isinstance(leaves[first], dict):
            leaves[first] = {k: np.asarray(v).astype(np.complex64) for k, v in leaves[first].items()}
        path = tmp_path / "policy.flax"
        path.write_bytes(flax.serialization.msgpack_serialize(tree))
        before = jax_bytes(model)
        with pytest.raises(ValueError, match=str(path)):
            model.load(path)
        assert jax_bytes(model) == before
        assert jnp.asarray(0).dtype  # jax still usable
