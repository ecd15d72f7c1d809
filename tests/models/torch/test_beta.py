import gymnasium
import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Beta, TransformedDistribution
from torch.distributions.transforms import AffineTransform

from mixrl.models.torch import DeterministicMixin, Model
from mixrl.models.torch.beta import BetaMixin

LOW, HIGH = np.array([-2.0, 0.0, 5.0], np.float32), np.array([2.0, 1.0, 6.0], np.float32)
SCALE = (HIGH - LOW).astype(np.float64)
# one unimodal, one U-shaped (both < 1) and one skewed dimension
ALPHA, BETA = np.array([2.0, 0.5, 5.0], np.float32), np.array([3.0, 0.7, 1.5], np.float32)
N = 64


class BetaPolicy(BetaMixin, Model):
    """Concentrations are parameters set by the test, broadcast over the batch."""

    def __init__(self, action_space=None, alpha=ALPHA, beta=BETA, **kwargs):
        Model.__init__(self, 4, action_space or gymnasium.spaces.Box(LOW, HIGH), "cpu")
        BetaMixin.__init__(self, **kwargs)
        self.alpha = torch.nn.Parameter(torch.as_tensor(alpha, dtype=torch.float32))
        self.beta = torch.nn.Parameter(torch.as_tensor(beta, dtype=torch.float32))

    def compute(self, inputs, role):
        batch = inputs["states"].shape[0]
        return self.alpha.expand(batch, -1), self.beta.expand(batch, -1), {}


def states(batch=N):
    return torch.zeros(batch, 4)


def scipy_log_prob(actions, alpha=ALPHA, beta=BETA):
    """Per-dimension log-density of the rescaled Beta, float64, from scipy.stats."""
    return stats.beta.logpdf(np.asarray(actions, np.float64), alpha, beta, loc=LOW, scale=SCALE)


def taken_actions(seed=0, batch=N):
    """Points strictly inside the Box, drawn uniformly."""
    return torch.as_tensor(np.random.default_rng(seed).uniform(LOW, HIGH, (batch, 3)), dtype=torch.float32)


class TestShapes:
    @pytest.mark.parametrize("reduction, width", [("sum", 1), ("mean", 1), ("prod", 1), ("none", 3)])
    def test_actions_log_prob_and_outputs_have_documented_shapes(self, reduction, width):
        """actions (N, A), log_prob (N, 1) or (N, A) for 'none', mean_actions (N, A), entropy (N, A)."""
        policy = BetaPolicy(reduction=reduction)
        actions, log_prob, outputs = policy.act({"states": states()}, role="policy")
        assert actions.shape == (N, 3) and log_prob.shape == (N, width)
        assert outputs["mean_actions"].shape == (N, 3)
        assert policy.get_entropy("policy").shape == (N, 3)

    def test_entropy_before_any_act_is_zero_and_there_is_no_distribution(self):
        """Agents may log the entropy before the first act: it is the scalar 0.0."""
        policy = BetaPolicy()
        assert policy.get_entropy("policy").item() == 0.0
        assert policy.distribution("policy") is None

    def test_invalid_reduction_is_rejected(self):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            BetaPolicy(reduction="max")

    @pytest.mark.parametrize(
        "space, match",
        [
            (gymnasium.spaces.Discrete(3), "needs a gymnasium Box action space.*got Discrete"),
            (3, "needs a gymnasium Box action space.*got int"),
            (gymnasium.spaces.Box(-np.inf, np.inf, (2,)), "finite Box bounds.*bad dimensions: \\[0, 1\\]"),
            (gymnasium.spaces.Box(np.float32([0, -1]), np.float32([1, -1])), "low < high.*bad dimensions: \\[1\\]"),
        ],
    )
    def test_a_space_without_finite_bounds_is_rejected_at_construction(self, space, match):
        """The Beta needs a Box with finite low < high in every dimension: ValueError naming what came."""
        with pytest.raises(ValueError, match=match):
            BetaPolicy(action_space=space, alpha=ALPHA[:2], beta=BETA[:2])


class TestLogProb:
    def test_log_prob_of_taken_actions_matches_scipy(self):
        """log_prob(taken) is the sum over dimensions of scipy.stats.beta.logpdf(loc=low, scale=high - low)."""
        taken = taken_actions()
        _, log_prob, _ = BetaPolicy().act({"states": states(), "taken_actions": taken})
        expected = scipy_log_prob(taken).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob.detach().numpy(), expected, rtol=1e-5, atol=1e-5)

    def test_log_prob_of_taken_actions_matches_torch_transformed_distribution(self):
        """Same value as Beta moved by AffineTransform(low, high - low) in torch.distributions."""
        taken = taken_actions(1)
        _, log_prob, _ = BetaPolicy(reduction="none").act({"states": states(), "taken_actions": taken})
        reference = TransformedDistribution(
            Beta(torch.tensor(ALPHA), torch.tensor(BETA)), AffineTransform(torch.tensor(LOW), torch.tensor(HIGH - LOW))
        )
        torch.testing.assert_close(log_prob, reference.log_prob(taken), rtol=1e-5, atol=1e-5)

    def test_log_prob_of_sampled_actions_matches_scipy(self):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        torch.manual_seed(0)
        policy = BetaPolicy(alpha=[2.0, 3.0, 5.0], beta=[3.0, 2.0, 1.5])  # densities vanish on the bounds
        actions, log_prob, _ = policy.act({"states": states(256)})
        expected = scipy_log_prob(actions.detach(), [2.0, 3.0, 5.0], [3.0, 2.0, 1.5]).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob.detach().numpy(), expected, rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("reduction, reduce", [("mean", np.mean), ("prod", np.prod)])
    def test_mean_and_prod_reductions_apply_to_the_rescaled_per_dimension_terms(self, reduction, reduce):
        """The log(high - low) Jacobian is subtracted per dimension before the reduction."""
        taken = taken_actions(2)
        _, log_prob, _ = BetaPolicy(reduction=reduction).act({"states": states(), "taken_actions": taken})
        expected = reduce(scipy_log_prob(taken), -1, keepdims=True)
        np.testing.assert_allclose(log_prob.detach().numpy(), expected, rtol=1e-4, atol=1e-5)

    def test_taken_actions_exactly_on_the_bounds_have_finite_log_probs_and_gradients(self):
        """Actions on low or high (where log x or log(1 - x) is -inf) are read eps inside: no NaN or inf."""
        policy = BetaPolicy()
        bounds = torch.from_numpy(np.stack([LOW, HIGH, np.where([True, False, True], LOW, HIGH)]))
        _, log_prob, _ = policy.act({"states": states(3), "taken_actions": bounds})
        assert torch.isfinite(log_prob).all()
        log_prob.sum().backward()
        assert torch.isfinite(policy.alpha.grad).all() and torch.isfinite(policy.beta.grad).all()


class TestSampling:
    def test_actions_lie_inside_the_box_even_for_extreme_concentrations(self):
        """Tiny and huge concentrations push samples onto the bounds: never past them, log-probs finite."""
        torch.manual_seed(0)
        policy = BetaPolicy(alpha=[1e-3, 1e3, 0.05], beta=[1e-3, 1e-3, 1e3])
        actions, log_prob, _ = policy.act({"states": states(10_000)})
        assert (actions >= torch.tensor(LOW)).all() and (actions <= torch.tensor(HIGH)).all()
        assert torch.isfinite(log_prob).all()

    @pytest.mark.parametrize("alpha, beta", [(ALPHA, BETA), ([0.05, 0.2, 0.1], [0.2, 0.05, 0.1])])
    def test_sample_mean_and_variance_follow_the_closed_forms(self, alpha, beta):
        """Monte-Carlo (1e5): mean low + s a/(a+b), variance s^2 ab/((a+b)^2 (a+b+1)); small a, b included."""
        torch.manual_seed(1)
        a, b = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
        with torch.no_grad():
            actions, _, outputs = BetaPolicy(alpha=alpha, beta=beta).act({"states": states(100_000)})
        mean = LOW + SCALE * a / (a + b)
        variance = SCALE**2 * a * b / ((a + b) ** 2 * (a + b + 1))
        np.testing.assert_allclose(outputs["mean_actions"][0].numpy(), mean, rtol=1e-6)
        np.testing.assert_allclose((actions.double().mean(0).numpy() - LOW) / SCALE, (mean - LOW) / SCALE, atol=0.005)
        np.testing.assert_allclose(actions.double().var(0).numpy(), variance, rtol=0.03)

    def test_entropy_matches_scipy_and_minus_the_mean_log_prob(self):
        """get_entropy = scipy.stats.beta(a, b, loc, scale).entropy() element-wise; Monte-Carlo -E[log p] agrees."""
        torch.manual_seed(2)
        policy = BetaPolicy()
        with torch.no_grad():
            _, log_prob, _ = policy.act({"states": states(100_000)})
        expected = stats.beta(ALPHA, BETA, loc=LOW, scale=SCALE).entropy()
        np.testing.assert_allclose(policy.get_entropy()[0].detach().numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(-log_prob.double().mean().item(), expected.sum(), atol=0.02)


class TestGradients:
    def test_gradients_flow_to_alpha_and_beta_through_the_sampled_actions(self):
        """Reparameterised: actions.sum().backward() reaches both concentrations."""
        policy = BetaPolicy()
        actions, _, _ = policy.act({"states": states()})
        actions.sum().backward()
        assert (policy.alpha.grad.abs() > 0).all() and (policy.beta.grad.abs() > 0).all()

    def test_pathwise_gradient_of_the_mean_action_is_unbiased(self):
        """Monte-Carlo (1e5): d E[x]/d a = b/(a+b)^2 and d E[x]/d b = -a/(a+b)^2 with x = (action - low)/s."""
        torch.manual_seed(3)
        policy = BetaPolicy()
        actions, _, _ = policy.act({"states": states(100_000)})
        actions.sum().backward()
        a, b = ALPHA.astype(np.float64), BETA.astype(np.float64)
        np.testing.assert_allclose(policy.alpha.grad.numpy() / (100_000 * SCALE), b / (a + b) ** 2, rtol=0.03)
        np.testing.assert_allclose(policy.beta.grad.numpy() / (100_000 * SCALE), -a / (a + b) ** 2, rtol=0.03)

    def test_log_prob_of_sampled_actions_is_differentiable(self):
        """SAC differentiates log_prob(sample) through the sample: finite, non-zero gradients."""
        policy = BetaPolicy()
        _, log_prob, _ = policy.act({"states": states()})
        log_prob.sum().backward()
        assert torch.isfinite(policy.alpha.grad).all() and (policy.alpha.grad.abs() > 0).all()


class TestDistributionAccessor:
    def test_distribution_is_a_beta_moved_by_the_box_rescale(self):
        """distribution() = TransformedDistribution(Beta, AffineTransform(low, high - low)) with act's log-prob."""
        policy = BetaPolicy(reduction="none")
        taken = taken_actions(3)
        _, log_prob, _ = policy.act({"states": states(), "taken_actions": taken})
        dist = policy.distribution()
        assert isinstance(dist, TransformedDistribution) and isinstance(dist.base_dist, Beta)
        assert isinstance(dist.transforms[0], AffineTransform)
        torch.testing.assert_close(dist.log_prob(taken), log_prob)
        sample = dist.sample()
        assert (sample >= torch.tensor(LOW)).all() and (sample <= torch.tensor(HIGH)).all()

    def test_distribution_moments_and_entropy_have_closed_forms(self):
        """mean, stddev (logged by PPO) and entropy() match scipy.stats.beta with loc and scale."""
        policy = BetaPolicy()
        policy.act({"states": states(2)})
        dist, reference = policy.distribution(), stats.beta(ALPHA, BETA, loc=LOW, scale=SCALE)
        np.testing.assert_allclose(dist.mean[0].detach().numpy(), reference.mean(), rtol=1e-6)
        np.testing.assert_allclose(dist.stddev[0].detach().numpy(), reference.std(), rtol=1e-5)
        np.testing.assert_allclose(dist.entropy()[0].detach().numpy(), reference.entropy(), rtol=1e-5, atol=1e-5)


class TestRoles:
    def test_shared_model_dispatches_the_value_role_to_the_deterministic_mixin(self):
        """A Beta policy + value model without an act override routes each role to its own mixin."""

        class ActorCritic(BetaMixin, DeterministicMixin, Model):
            def __init__(self):
                Model.__init__(self, 4, gymnasium.spaces.Box(LOW, HIGH), "cpu")
                BetaMixin.__init__(self, role="policy")
                DeterministicMixin.__init__(self, role="value")
                self.net = torch.nn.Linear(4, 7)

            def compute(self, inputs, role):
                out = self.net(inputs["states"])
                if role == "policy":
                    concentrations = torch.nn.functional.softplus(out[:, :6]) + 1.0
                    return concentrations[:, :3], concentrations[:, 3:], {}
                return out[:, 6:], {}

        model = ActorCritic()
        actions, log_prob, _ = model.act({"states": states()}, role="policy")
        value, none, _ = model.act({"states": states()}, role="value")
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1) and value.shape == (N, 1) and none is None
        assert model.get_entropy("policy").shape == (N, 3)
        with pytest.raises(ValueError, match="DeterministicMixin, which has no get_entropy"):
            model.get_entropy("value")


class TestReadmeExample:
    def test_softplus_policy_on_pendulum_acts_inside_the_bounds(self):
        """The documented pattern: concentrations softplus(x) + 1 from a network head."""

        class Policy(BetaMixin, Model):
            def __init__(self, observation_space, action_space, device=None):
                Model.__init__(self, observation_space, action_space, device)
                BetaMixin.__init__(self, reduction="sum")
                self.net = torch.nn.Sequential(torch.nn.Linear(self.num_observations, 64), torch.nn.ELU())
                self.concentrations = torch.nn.Linear(64, 2 * self.num_actions)

            def compute(self, inputs, role):
                out = torch.nn.functional.softplus(self.concentrations(self.net(inputs["states"]))) + 1.0
                alpha, beta = out.chunk(2, dim=-1)
                return alpha, beta, {}

        space = gymnasium.spaces.Box(-2.0, 2.0, (1,))
        policy = Policy(gymnasium.spaces.Box(-8.0, 8.0, (3,)), space, device="cpu")
        actions, log_prob, outputs = policy.act({"states": torch.randn(4096, 3)}, role="policy")
        assert actions.shape == (4096, 1) and log_prob.shape == (4096, 1) and outputs["mean_actions"].shape == (4096, 1)
        assert actions.abs().max() <= 2.0 and torch.isfinite(log_prob).all()
