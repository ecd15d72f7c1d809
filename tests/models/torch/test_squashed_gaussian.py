import math

import gymnasium
import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import AffineTransform, TanhTransform

from mixrl.models.torch import GaussianMixin, Model

LOW, HIGH = np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32)


class Squashed(GaussianMixin, Model):
    """A Gaussian policy whose mean and log-std are set directly by the test."""

    def __init__(self, low=LOW, high=HIGH, reduction="sum"):
        Model.__init__(self, 3, gymnasium.spaces.Box(low, high), "cpu")
        GaussianMixin.__init__(self, reduction=reduction, squash=True)
        self.mean = torch.nn.Parameter(torch.tensor([0.3, -0.4]))
        self.log_std = torch.nn.Parameter(torch.tensor([-0.5, 0.2]))

    def compute(self, inputs, role):
        return self.mean.expand(inputs["states"].shape[0], -1), self.log_std, {}


def change_of_variables(actions, mean, log_std, low=LOW, high=HIGH):
    """Reference log-density in float64: log N(u) - log|d a / d u| with a = c + h tanh(u), u = atanh((a - c) / h)."""
    a, mean, std = actions.double(), mean.double(), log_std.double().exp()
    center, half = torch.tensor((high + low) / 2).double(), torch.tensor((high - low) / 2).double()
    y = (a - center) / half
    u = torch.atanh(y)
    log_normal = -0.5 * ((u - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)
    return (log_normal - torch.log(half * (1 - y**2))).sum(-1, keepdim=True)


class TestSquashedGaussian:
    def test_actions_lie_inside_the_box_and_the_mean_is_squashed(self):
        """Samples stay in (low, high); outputs['mean_actions'] = center + half * tanh(mean)."""
        model = Squashed()
        actions, _, outputs = model.act({"states": torch.zeros(5000, 3)})
        assert (actions >= torch.tensor(LOW)).all() and (actions <= torch.tensor(HIGH)).all()
        expected = torch.tensor([0.0, 0.5]) + torch.tensor([2.0, 0.5]) * torch.tanh(model.mean)
        torch.testing.assert_close(outputs["mean_actions"][0], expected)

    def test_log_prob_of_taken_actions_matches_the_change_of_variables(self):
        """Against a float64 reference written from the formula, and torch's TransformedDistribution."""
        model = Squashed()
        taken = torch.tensor([[1.5, 0.2], [-1.9, 0.9], [0.0, 0.5]])
        _, log_prob, _ = model.act({"states": torch.zeros(3, 3), "taken_actions": taken})
        expected = change_of_variables(taken, model.mean.detach(), model.log_std.detach())
        torch.testing.assert_close(log_prob.double(), expected, atol=1e-4, rtol=1e-5)
        torch_dist = model.distribution()
        assert isinstance(torch_dist, TransformedDistribution)
        torch.testing.assert_close(log_prob, torch_dist.log_prob(taken).sum(-1, keepdim=True), atol=1e-4, rtol=1e-5)

    def test_log_prob_of_sampled_actions_matches_the_reference(self):
        """The sampling path (computed from the pre-squash draw) agrees with the formula on the returned actions."""
        torch.manual_seed(0)
        model = Squashed()
        actions, log_prob, _ = model.act({"states": torch.zeros(256, 3)})
        expected = change_of_variables(actions, model.mean.detach(), model.log_std.detach())
        torch.testing.assert_close(log_prob.double(), expected, atol=2e-3, rtol=1e-4)

    def test_density_integrates_to_one_over_the_box(self):
        """Numerical integration of exp(log_prob) over a fine 1-D grid of the bounded interval gives 1."""
        model = Squashed(low=np.array([-2.0], np.float32), high=np.array([2.0], np.float32))
        with torch.no_grad():
            model.mean.data, model.log_std.data = torch.tensor([0.4]), torch.tensor([-0.3])
        grid = torch.linspace(-2.0, 2.0, 200_001)[1:-1].unsqueeze(1)
        _, log_prob, _ = model.act({"states": torch.zeros(len(grid), 3), "taken_actions": grid})
        mass = torch.trapezoid(log_prob.squeeze(1).double().exp(), grid.squeeze(1).double())
        assert abs(mass.item() - 1.0) < 1e-3

    def test_sample_histogram_follows_the_density(self):
        """Monte-Carlo: the fraction of 1e5 samples below 0 equals the Gaussian mass of u < atanh(0) = 0."""
        torch.manual_seed(1)
        model = Squashed(low=np.array([-2.0], np.float32), high=np.array([2.0], np.float32))
        with torch.no_grad():
            model.mean.data, model.log_std.data = torch.tensor([0.4]), torch.tensor([-0.3])
            actions = model.act({"states": torch.zeros(100_000, 3)})[0]
        expected = Normal(0.4, math.exp(-0.3)).cdf(torch.tensor(0.0))
        assert abs((actions < 0).float().mean().item() - expected.item()) < 0.01

    def test_saturated_actions_have_finite_log_probs_and_gradients(self):
        """A mean far outside (tanh = 1 in float32) and taken actions exactly on the bounds: no NaN or inf."""
        model = Squashed()
        with torch.no_grad():
            model.mean.data = torch.tensor([40.0, -40.0])
        actions, log_prob, _ = model.act({"states": torch.zeros(64, 3)})
        assert torch.equal(actions[0], torch.tensor(HIGH[:1].tolist() + LOW[1:].tolist()))
        assert torch.isfinite(log_prob).all()
        log_prob.sum().backward()
        assert torch.isfinite(model.mean.grad).all() and torch.isfinite(model.log_std.grad).all()
        bounds = torch.from_numpy(np.stack([LOW, HIGH]))
        taken_log_prob = model.act({"states": torch.zeros(2, 3), "taken_actions": bounds})[1]
        assert torch.isfinite(taken_log_prob).all()

    def test_reduction_none_gives_per_dimension_terms(self):
        """The log-det correction is applied per dimension before the reduction."""
        taken = torch.tensor([[1.5, 0.2]])
        per_dim = Squashed(reduction="none").act({"states": torch.zeros(1, 3), "taken_actions": taken})[1]
        summed = Squashed().act({"states": torch.zeros(1, 3), "taken_actions": taken})[1]
        assert per_dim.shape == (1, 2)
        torch.testing.assert_close(per_dim.sum(-1, keepdim=True), summed)

    def test_gradients_flow_through_squashed_actions(self):
        """SAC needs d(actions)/d(mean) and d(actions)/d(log_std) through tanh."""
        model = Squashed()
        actions, _, _ = model.act({"states": torch.zeros(16, 3)})
        actions.sum().backward()
        assert model.mean.grad.abs().sum() > 0 and model.log_std.grad.abs().sum() > 0

    def test_default_is_unsquashed(self):
        """squash is opt-in: the default Gaussian is unchanged."""

        class Plain(Squashed):
            def __init__(self):
                Model.__init__(self, 3, gymnasium.spaces.Box(LOW, HIGH), "cpu")
                GaussianMixin.__init__(self)
                self.mean = torch.nn.Parameter(torch.tensor([5.0, 5.0]))
                self.log_std = torch.nn.Parameter(torch.zeros(2))

        assert Plain().act({"states": torch.zeros(100, 3)})[0].max() > 2.0

    @pytest.mark.parametrize(
        "space, match",
        [
            (gymnasium.spaces.Discrete(3), "squash=True\\) needs a gymnasium Box"),
            (gymnasium.spaces.Box(-np.inf, np.inf, (2,)), "finite Box bounds"),
        ],
    )
    def test_squash_needs_a_bounded_box(self, space, match):
        """Bounds are read at construction: a non-Box or unbounded space is a ValueError."""

        class Bad(GaussianMixin, Model):
            def __init__(self):
                Model.__init__(self, 3, space, "cpu")
                GaussianMixin.__init__(self, squash=True)

        with pytest.raises(ValueError, match=match):
            Bad()

    def test_distribution_samples_inside_the_box(self):
        """distribution() is a proper torch TransformedDistribution with tanh and the affine rescale."""
        model = Squashed()
        model.act({"states": torch.zeros(4, 3)})
        dist = model.distribution()
        assert isinstance(dist.transforms[0], TanhTransform) and isinstance(dist.transforms[1], AffineTransform)
        sample = dist.sample()
        assert (sample >= torch.tensor(LOW)).all() and (sample <= torch.tensor(HIGH)).all()
