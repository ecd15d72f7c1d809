"""``ObservationNormalizer`` (torch): running statistics inside a model."""

import gymnasium
import numpy as np
import pytest
import torch

from mixrl.models.torch import GaussianMixin, Model
from mixrl.models.torch.normalizer import ObservationNormalizer


class NormalizedPolicy(GaussianMixin, Model):
    """The documented pattern: the model owns the normaliser and calls it first in ``compute``."""

    def __init__(self, observation_space=gymnasium.spaces.Box(-np.inf, np.inf, (4,)), device="cpu"):
        Model.__init__(self, observation_space, gymnasium.spaces.Box(-1, 1, (2,)), device)
        GaussianMixin.__init__(self)
        self.normalizer = ObservationNormalizer(self.num_observations)
        self.net = torch.nn.Linear(self.num_observations, self.num_actions)
        self.log_std = torch.nn.Parameter(torch.zeros(self.num_actions))

    def compute(self, inputs, role):
        return self.net(self.normalizer(inputs["states"])), self.log_std, {}


def batches(sizes=(1, 7, 64, 3), shape=(4,), seed=0):
    """Batches with distinct means/scales per dimension, so a wrong update formula shows."""
    rng = np.random.default_rng(seed)
    return [rng.normal(loc=5.0, scale=np.arange(1, np.prod(shape) + 1), size=(n, int(np.prod(shape)))) for n in sizes]


def reference(x, mean, var, epsilon=1e-8, clip=5.0):
    """NumPy oracle of the normalisation."""
    return np.clip((x - mean) / np.sqrt(var + epsilon), -clip, clip)


class TestStatistics:
    def test_running_statistics_equal_those_of_all_batches_seen(self):
        """After batches of 1, 7, 64 and 3 rows: mean/var (ddof=0)/count of their concatenation."""
        normalizer = ObservationNormalizer(4)
        seen = batches()
        for batch in seen:
            normalizer(torch.as_tensor(batch, dtype=torch.float32))
        data = np.concatenate(seen).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(normalizer.mean.numpy(), data.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(normalizer.var.numpy(), data.var(axis=0), rtol=1e-12, atol=1e-12)
        assert normalizer.count.item() == len(data)

    def test_float32_statistics_stay_close(self):
        """dtype=torch.float32 statistics are float32 and agree to float32 precision."""
        normalizer = ObservationNormalizer(4, dtype=torch.float32)
        seen = batches()
        for batch in seen:
            normalizer(torch.as_tensor(batch, dtype=torch.float32))
        data = np.concatenate(seen).astype(np.float32)
        assert normalizer.mean.dtype == torch.float32
        np.testing.assert_allclose(normalizer.var.numpy(), data.var(axis=0), rtol=1e-5)

    def test_leading_dimensions_and_multidimensional_observations(self):
        """A (T, B, 3, 2) input updates (3, 2) statistics with all T*B observations."""
        normalizer = ObservationNormalizer((3, 2))
        x = torch.randn(5, 4, 3, 2, dtype=torch.float64) * 2 + 1
        out = normalizer(x)
        flat = x.reshape(-1, 3, 2).numpy()
        np.testing.assert_allclose(normalizer.mean.numpy(), flat.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(out.numpy(), reference(x.numpy(), flat.mean(axis=0), flat.var(axis=0)), atol=1e-9)
        assert out.shape == x.shape and normalizer.count.item() == 20

    def test_eval_mode_reads_without_updating(self):
        """In eval mode the statistics do not change and the output uses the stored ones."""
        normalizer = ObservationNormalizer(4)
        normalizer(torch.as_tensor(batches()[2], dtype=torch.float32))
        normalizer.eval()
        state = {k: v.clone() for k, v in normalizer.state_dict().items()}
        x = torch.randn(9, 4) * 10
        out = normalizer(x)
        for key, value in normalizer.state_dict().items():
            assert torch.equal(value, state[key])
        expected = reference(x.double().numpy(), state["mean"].numpy(), state["var"].numpy())
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
        assert out.dtype == torch.float32

    def test_train_mode_normalises_with_the_updated_statistics(self):
        """The first train-mode call sees its own batch: the output has mean 0 and std 1 per dimension."""
        normalizer = ObservationNormalizer(4, clip=None)
        out = normalizer(torch.as_tensor(batches()[2], dtype=torch.float32))
        torch.testing.assert_close(out.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(out.std(0, correction=0), torch.ones(4), atol=1e-5, rtol=0)

    def test_output_is_clamped(self):
        """Values beyond clip standard deviations are clamped to +-clip."""
        normalizer = ObservationNormalizer(2, clip=2.0)
        normalizer.eval()  # mean 0, var 1
        out = normalizer(torch.tensor([[10.0, -0.5], [-10.0, 1.5]]))
        torch.testing.assert_close(out, torch.tensor([[2.0, -0.5], [-2.0, 1.5]]))

    def test_gradient_reaches_the_input_not_the_statistics(self):
        """Statistics are buffers updated without autograd; the output is differentiable in x."""
        normalizer = ObservationNormalizer(4)
        x = torch.randn(8, 4, requires_grad=True)
        normalizer(x).sum().backward()
        assert x.grad is not None and not normalizer.mean.requires_grad and normalizer.mean.grad_fn is None

    def test_integer_observations_become_float(self):
        out = ObservationNormalizer(3)(torch.tensor([[1, 2, 3], [3, 2, 1]]))
        assert out.dtype == torch.get_default_dtype()


class TestInsideModel:
    def test_statistics_are_persistent_buffers_of_the_model(self):
        """mean/var/count are in the model's state dict and move with .to()."""
        model = NormalizedPolicy()
        assert {"normalizer.mean", "normalizer.var", "normalizer.count"} <= set(model.state_dict())
        model.to("meta")
        assert model.normalizer.mean.device.type == "meta"

    def test_act_updates_in_train_mode_only(self):
        """set_mode("train"): act folds the states in; set_mode("eval"): nothing changes."""
        model = NormalizedPolicy()
        model.set_mode("train")
        model.act({"states": torch.randn(10, 4)}, role="policy")
        assert model.normalizer.count.item() == 10
        model.set_mode("eval")
        model.act({"states": torch.randn(10, 4)}, role="policy")
        assert model.normalizer.count.item() == 10

    def test_save_load_round_trip(self, tmp_path):
        """Model.save / Model.load restore the statistics exactly."""
        model = NormalizedPolicy()
        model.train()
        for batch in batches():
            model.act({"states": torch.as_tensor(batch, dtype=torch.float32)}, role="policy")
        model.save(tmp_path / "policy.pt")
        restored = NormalizedPolicy()
        restored.load(tmp_path / "policy.pt")
        for key, value in model.state_dict().items():
            assert torch.equal(restored.state_dict()[key], value), key
        states = torch.randn(5, 4)
        torch.testing.assert_close(
            restored.act({"states": states}, role="policy")[2]["mean_actions"],
            model.eval().act({"states": states}, role="policy")[2]["mean_actions"],
        )

    def test_update_parameters_with_buffers_copies_the_statistics(self):
        """A target model takes the statistics with include_buffers=True."""
        source, target = NormalizedPolicy(), NormalizedPolicy()
        source.normalizer(torch.randn(32, 4) + 3)
        target.update_parameters(source, include_buffers=True)
        assert torch.equal(target.normalizer.mean, source.normalizer.mean)
        assert torch.equal(target.normalizer.count, source.normalizer.count)


class TestErrors:
    def test_wrong_observation_shape_names_expected_and_received(self):
        with pytest.raises(ValueError, match=r"expects observations \(batch, 4\), got shape \(8, 5\)"):
            ObservationNormalizer(4)(torch.zeros(8, 5))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"size_or_shape": 0},
            {"size_or_shape": None},
            {"size_or_shape": (3, 0)},
            {"size_or_shape": 4, "epsilon": -1.0},
            {"size_or_shape": 4, "clip": 0.0},
            {"size_or_shape": 4, "dtype": torch.int64},
        ],
    )
    def test_invalid_arguments(self, kwargs):
        with pytest.raises(ValueError):
            ObservationNormalizer(**kwargs)
