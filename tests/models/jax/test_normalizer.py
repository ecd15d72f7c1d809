"""``ObservationNormalizer`` (Flax): statistics in the ``"normalizer"`` collection of a JAX model."""

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import GaussianMixin, Model
from mixrl.models.jax._act import EVAL
from mixrl.models.jax.normalizer import COLLECTION, ObservationNormalizer, running_update, update_normalizers

from .conftest import DeterministicPolicy, build


class NormalizedPolicy(GaussianMixin, Model):
    """The documented pattern: the normaliser first in ``__call__``, updated only in train mode."""

    def __init__(self, observation_space=4, action_space=2, device=None, parent=None, name=None, **kwargs):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        GaussianMixin.__init__(self, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        states = ObservationNormalizer(self.num_observations, name="normalizer")(inputs["states"], update=self.training)
        mean = nn.Dense(self.num_actions, name="mean")(states)
        return mean, self.param("log_std", lambda _: jnp.zeros(self.num_actions)), {}


def batches(sizes=(1, 7, 64, 3), seed=0):
    """float32 batches with distinct means/scales per dimension."""
    rng = np.random.default_rng(seed)
    return [rng.normal(loc=5.0, scale=np.arange(1, 5), size=(n, 4)).astype(np.float32) for n in sizes]


def statistics(model):
    """``{"mean", "var", "count"}`` of the model's normaliser as NumPy arrays."""
    return {k: np.asarray(v) for k, v in model.state_dict.params[COLLECTION]["normalizer"].items()}


@pytest.fixture(scope="module")
def trained():
    """A model whose statistics have seen every batch of ``batches()`` through ``update_normalizers``.

    Shared by the tests of this module (compiled once); none of them changes its variables.
    """
    model = build(NormalizedPolicy)
    for batch in batches():
        params = update_normalizers(model, model.state_dict.params, {"states": batch}, role="policy")
        model.state_dict = model.state_dict.replace(params=params)
    return model


class TestStatistics:
    def test_running_statistics_equal_those_of_all_batches_seen(self, trained):
        """After batches of 1, 7, 64 and 3 rows: mean/var (ddof=0)/count of their concatenation."""
        stats = statistics(trained)
        data = np.concatenate(batches()).astype(np.float64)
        np.testing.assert_allclose(stats["mean"], data.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(stats["var"], data.var(axis=0), rtol=1e-5)
        assert stats["count"] == len(data)

    def test_init_starts_from_zero_mean_unit_variance(self):
        """init_state_dict creates the collection without folding its sample in."""
        stats = statistics(build(NormalizedPolicy))
        assert stats["count"] == 0 and not stats["mean"].any() and (stats["var"] == 1).all()

    def test_pure_update_with_leading_dimensions(self):
        """running_update flattens leading dimensions: a (2, 3, 4) batch is 6 observations."""
        x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 4)) * 3 + 1
        mean, var, count = running_update(jnp.zeros(4), jnp.ones(4), jnp.zeros(()), x)
        flat = np.asarray(x).reshape(-1, 4)
        np.testing.assert_allclose(mean, flat.mean(0), rtol=1e-5)
        np.testing.assert_allclose(var, flat.var(0), rtol=1e-5)
        assert count == 6

    def test_outputs_use_the_statistics(self, trained):
        """The normalised states fed to the network are clamp((x - mean) / sqrt(var + eps), -5, 5)."""
        model = trained
        stats = statistics(model)
        x = np.random.default_rng(1).normal(size=(9, 4)).astype(np.float32) * 20
        params = model.state_dict.params["params"]["mean"]
        _, _, outputs = model.act({"states": x}, role="policy")
        normalised = np.clip((x - stats["mean"]) / np.sqrt(stats["var"] + 1e-8), -5, 5)
        expected = normalised @ np.asarray(params["kernel"]) + np.asarray(params["bias"])
        np.testing.assert_allclose(outputs["mean_actions"], expected, rtol=1e-5, atol=1e-5)


class TestModes:
    def test_eval_mode_does_not_update(self, trained):
        """A mutable apply in eval mode leaves the statistics as they were."""
        model = trained
        before = statistics(model)
        _, changed = model.apply(
            model.state_dict.params, {"states": batches()[2]}, "policy", mode=EVAL, mutable=[COLLECTION]
        )
        for key, value in changed[COLLECTION]["normalizer"].items():
            np.testing.assert_array_equal(value, before[key])

    @pytest.mark.parametrize("mode", ["train", "eval"])
    def test_act_never_updates(self, trained, mode):
        """act only reads the statistics (its apply is not mutable), in either mode."""
        model = trained
        before = statistics(model)
        model.set_mode(mode)
        model.act({"states": batches()[2]}, role="policy")
        for key, value in statistics(model).items():
            np.testing.assert_array_equal(value, before[key])

    def test_update_inside_a_callers_jit(self):
        """update_normalizers is pure, so an agent can call it inside its own jax.jit."""
        model = build(NormalizedPolicy)
        update = jax.jit(lambda params, states: update_normalizers(model, params, {"states": states}, "policy"))
        params = update(model.state_dict.params, batches()[2])
        np.testing.assert_allclose(params[COLLECTION]["normalizer"]["mean"], batches()[2].mean(0), rtol=1e-5)

    def test_gradients_of_the_statistics_are_zero(self, trained):
        """A gradient with respect to the whole variables dict is zero for the statistics."""
        model = trained

        def loss(params):
            _, _, outputs = model.act({"states": batches()[2]}, role="policy", params=params)
            return jnp.sum(outputs["mean_actions"] ** 2)

        grads = jax.grad(loss)(model.state_dict.params)
        for leaf in jax.tree_util.tree_leaves(grads[COLLECTION]):
            assert not np.asarray(leaf).any()
        assert np.asarray(grads["params"]["mean"]["kernel"]).any()


class TestPersistence:
    def test_save_load_round_trip(self, trained, tmp_path):
        """Model.save / Model.load (msgpack) restore the statistics exactly."""
        model = trained
        model.save(tmp_path / "policy.msgpack")
        restored = build(NormalizedPolicy)
        restored.load(tmp_path / "policy.msgpack")
        for key, value in statistics(restored).items():
            np.testing.assert_array_equal(value, statistics(model)[key])


class TestErrors:
    def test_model_without_normalizer(self):
        model = build(DeterministicPolicy, gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Box(-1, 1, (2,)))
        with pytest.raises(ValueError, match="has no ObservationNormalizer"):
            update_normalizers(model, model.state_dict.params, {"states": np.zeros((2, 4), np.float32)}, "policy")

    def test_wrong_observation_shape_names_expected_and_received(self):
        with pytest.raises(ValueError, match=r"expects observations \(batch, 4\), got shape \(8, 5\)"):
            ObservationNormalizer(4).init(jax.random.PRNGKey(0), jnp.zeros((8, 5)))


class TestTorchParity:
    def test_same_data_gives_the_same_statistics_and_outputs(self, trained):
        """The torch and JAX normalisers agree on statistics and outputs after the same batches."""
        torch = pytest.importorskip("torch")
        from mixrl.models.torch.normalizer import ObservationNormalizer as TorchNormalizer

        model = trained
        reference = TorchNormalizer(4)
        for batch in batches():
            reference(torch.as_tensor(batch))
        stats = statistics(model)
        np.testing.assert_allclose(stats["mean"], reference.mean.numpy(), rtol=1e-5)
        np.testing.assert_allclose(stats["var"], reference.var.numpy(), rtol=1e-5)
        assert stats["count"] == reference.count.item()

        x = np.random.default_rng(2).normal(size=(16, 4)).astype(np.float32) * 10
        variables = {COLLECTION: model.state_dict.params[COLLECTION]["normalizer"]}
        mine = ObservationNormalizer(4).apply(variables, x, update=False)
        reference.eval()
        np.testing.assert_allclose(mine, reference(torch.as_tensor(x)).numpy(), rtol=1e-5, atol=1e-5)
