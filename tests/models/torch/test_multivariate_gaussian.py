import copy
import math

import gymnasium
import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import MultivariateNormal

from mixrl.models.torch import Model
from mixrl.models.torch.distributions import multivariate_gaussian_entropy, multivariate_gaussian_log_prob
from mixrl.models.torch.multivariate_gaussian import MultivariateGaussianMixin

N = 32
LOG_2 = math.log(2.0)


class MultivariateGaussianPolicy(MultivariateGaussianMixin, Model):
    """MLP mean, state-independent log-std parameter (log 2) or a state-dependent head."""

    def __init__(self, observation_space, action_space, device="cpu", state_dependent=False, **kwargs):
        Model.__init__(self, observation_space, action_space, device)
        MultivariateGaussianMixin.__init__(self, **kwargs)
        self.net = torch.nn.Sequential(torch.nn.Linear(self.num_observations, 16), torch.nn.Tanh())
        self.mean = torch.nn.Linear(16, self.num_actions)
        self.state_dependent = state_dependent
        if state_dependent:
            self.log_std_head = torch.nn.Linear(16, self.num_actions)
        else:
            self.log_std = torch.nn.Parameter(torch.full((self.num_actions,), LOG_2))

    def compute(self, inputs, role):
        hidden = self.net(inputs["states"])
        log_std = self.log_std_head(hidden) if self.state_dependent else self.log_std
        return self.mean(hidden), log_std, {}


def reference(policy, states):
    """torch's MultivariateNormal with scale_tril = diag(std), from the network's outputs."""
    hidden = policy.net(states)
    log_std = policy.log_std_head(hidden) if policy.state_dependent else policy.log_std.expand(N, -1)
    return MultivariateNormal(policy.mean(hidden), scale_tril=torch.diag_embed(log_std.clamp(-20, 2).exp()))


@pytest.fixture
def states():
    torch.manual_seed(0)
    return torch.randn(N, 5)


@pytest.fixture
def policy_factory(box_obs, box_act):
    return lambda **kwargs: MultivariateGaussianPolicy(box_obs, box_act, **kwargs)


class TestShapes:
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_act_and_accessors_have_documented_shapes(self, policy_factory, states, state_dependent):
        """actions (N, A), log_prob (N, 1), mean_actions (N, A), entropy (N,), log-std (N, A)."""
        policy = policy_factory(state_dependent=state_dependent)
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 3)
        assert log_prob.shape == (N, 1)
        assert outputs["mean_actions"].shape == (N, 3)
        assert policy.get_entropy("policy").shape == (N,)
        assert policy.get_log_std("policy").shape == (N, 3)

    def test_accessors_before_any_act(self, policy_factory):
        """Entropy is 0.0 and distribution None before the first act; get_log_std says to act first."""
        policy = policy_factory()
        assert policy.get_entropy("policy").item() == 0.0
        assert policy.distribution("policy") is None
        with pytest.raises(RuntimeError, match="act"):
            policy.get_log_std("policy")

    def test_there_is_no_reduction_argument(self, policy_factory):
        """The log-density of the joint distribution is already one number per sample."""
        with pytest.raises(TypeError, match="reduction"):
            policy_factory(reduction="sum")


class TestMath:
    def test_scale_is_the_standard_deviation_not_the_variance(self, policy_factory, states):
        """W#4: with log_std = log 2 the std is 2 (skrl built scale_tril from the variance and gave 4)."""
        policy = policy_factory()
        policy.act({"states": states}, role="policy")
        dist = policy.distribution("policy")
        assert isinstance(dist, MultivariateNormal)
        torch.testing.assert_close(dist.stddev, torch.full((N, 3), 2.0))
        torch.testing.assert_close(dist.covariance_matrix[0], 4.0 * torch.eye(3))

    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_log_prob_of_taken_actions_matches_torch_multivariate_normal(self, policy_factory, states, state_dependent):
        """log_prob(taken) equals MultivariateNormal(mean, scale_tril=diag(std)).log_prob(taken)."""
        policy = policy_factory(state_dependent=state_dependent)
        taken = torch.randn(N, 3)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        torch.testing.assert_close(log_prob, reference(policy, states).log_prob(taken).unsqueeze(-1))
        torch.testing.assert_close(log_prob, policy.distribution("policy").log_prob(taken).unsqueeze(-1))

    def test_log_prob_of_sampled_actions_matches_torch_multivariate_normal(self, policy_factory, states):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        policy = policy_factory()
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        torch.testing.assert_close(log_prob, reference(policy, states).log_prob(actions).unsqueeze(-1))

    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_entropy_matches_torch_multivariate_normal(self, policy_factory, states, state_dependent):
        """get_entropy equals MultivariateNormal(...).entropy() (N,)."""
        policy = policy_factory(state_dependent=state_dependent)
        policy.act({"states": states}, role="policy")
        torch.testing.assert_close(policy.get_entropy("policy"), reference(policy, states).entropy())

    def test_sample_statistics_follow_mean_and_std(self, policy_factory):
        """Monte-Carlo: 1e5 samples have std 2 per dimension, no correlation, and entropy = -E[log p]."""
        torch.manual_seed(1)
        policy = policy_factory()
        with torch.no_grad():
            actions, log_prob, outputs = policy.act({"states": torch.zeros(100_000, 5)}, role="policy")
        torch.testing.assert_close(actions.mean(0), outputs["mean_actions"][0], atol=0.03, rtol=0)
        torch.testing.assert_close(torch.cov(actions.T), 4.0 * torch.eye(3), atol=0.06, rtol=0)
        torch.testing.assert_close(-log_prob.mean(), policy.get_entropy("policy").mean(), atol=0.02, rtol=0)

    def test_log_std_is_clamped_to_its_bounds(self, policy_factory, states):
        """clip_log_std clamps to [min_log_std, max_log_std] before anything else."""
        policy = policy_factory(min_log_std=-1.0, max_log_std=0.5)
        with torch.no_grad():
            policy.log_std.copy_(torch.tensor([-5.0, 0.0, 5.0]))
        policy.act({"states": states}, role="policy")
        torch.testing.assert_close(policy.get_log_std("policy"), torch.tensor([-1.0, 0.0, 0.5]).expand(N, 3))
        torch.testing.assert_close(policy.distribution("policy").stddev[0], torch.tensor([-1.0, 0.0, 0.5]).exp())


class TestPureFunctions:
    def test_log_prob_matches_scipy_multivariate_normal(self):
        """multivariate_gaussian_log_prob (N, 1) equals scipy's logpdf with cov = diag(std^2), per row."""
        rng = np.random.default_rng(0)
        mean, log_std, x = rng.normal(size=(3, 6, 4))
        ours = multivariate_gaussian_log_prob(*(torch.tensor(a) for a in (mean, log_std, x)))
        expected = [stats.multivariate_normal(mean[i], np.diag(np.exp(2 * log_std[i]))).logpdf(x[i]) for i in range(6)]
        assert ours.shape == (6, 1)
        np.testing.assert_allclose(ours.numpy()[:, 0], expected, rtol=1e-10)

    @pytest.mark.parametrize("shape", [(4,), (6, 4)])
    def test_entropy_matches_scipy_and_drops_the_last_axis(self, shape):
        """multivariate_gaussian_entropy: (A,) -> scalar, (N, A) -> (N,); values from scipy."""
        log_std = np.random.default_rng(1).normal(size=shape)
        ours = multivariate_gaussian_entropy(torch.tensor(log_std))
        rows = log_std.reshape(-1, shape[-1])
        expected = [stats.multivariate_normal(np.zeros(shape[-1]), np.diag(np.exp(2 * r))).entropy() for r in rows]
        assert ours.shape == shape[:-1]
        np.testing.assert_allclose(ours.numpy().reshape(-1), expected, rtol=1e-10)


class TestClippingAndGradients:
    def test_clipped_actions_stay_inside_each_dimension_of_the_box(self, policy_factory, states):
        """clip_actions clamps per dimension to low=[-1, 0, 5], high=[1, 1, 6]."""
        policy = policy_factory(clip_actions=True)
        actions, _, _ = policy.act({"states": states}, role="policy")
        assert (actions >= torch.tensor([-1.0, 0.0, 5.0])).all() and (actions <= torch.tensor([1.0, 1.0, 6.0])).all()

    def test_clipped_action_log_prob_uses_the_unclipped_gaussian(self, policy_factory, states):
        """The documented semantics: density of the unclipped Gaussian at the clipped action."""
        policy = policy_factory(clip_actions=True)
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        torch.testing.assert_close(log_prob, reference(policy, states).log_prob(actions).unsqueeze(-1))

    def test_clipping_needs_a_box_action_space(self, box_obs):
        """clip_actions=True with an int action space cannot read bounds: ValueError at construction."""
        with pytest.raises(ValueError, match="MultivariateGaussianMixin.*Box action space.*got int"):
            MultivariateGaussianPolicy(box_obs, 3, clip_actions=True)

    def test_gradients_flow_through_reparameterised_actions(self, policy_factory, states):
        """SAC relies on d(actions)/d(mean) and d(actions)/d(log_std)."""
        policy = policy_factory()
        actions, _, _ = policy.act({"states": states}, role="policy")
        assert actions.requires_grad
        actions.sum().backward()
        assert policy.mean.weight.grad.abs().sum() > 0
        assert policy.log_std.grad.abs().sum() > 0

    def test_log_prob_gradient_matches_torch_multivariate_normal(self, policy_factory, states):
        """d log_prob(taken) / d log_std equals the gradient through torch's MultivariateNormal."""
        policy = policy_factory()
        taken = torch.randn(N, 3)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        ours = torch.autograd.grad(log_prob.sum(), policy.log_std)[0]
        theirs = torch.autograd.grad(reference(policy, states).log_prob(taken).sum(), policy.log_std)[0]
        torch.testing.assert_close(ours, theirs)


class TwoRoles(MultivariateGaussianMixin, Model):
    """Two multivariate Gaussian heads with different clip settings in one model."""

    def __init__(self):
        Model.__init__(self, 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)), "cpu")
        MultivariateGaussianMixin.__init__(self, clip_actions=True, role="clipped")
        MultivariateGaussianMixin.__init__(self, clip_actions=False, role="free")
        self.log_std = torch.nn.Parameter(torch.zeros(2))

    def compute(self, inputs, role):
        return torch.full((inputs["states"].shape[0], 2), 50.0), self.log_std, {}


class TestRolesAndCompatibility:
    def test_each_role_keeps_its_own_settings(self):
        """Registering a second role does not overwrite the first one's clip_actions."""
        model = TwoRoles()
        states = torch.zeros(8, 2)
        assert model.act({"states": states}, role="clipped")[0].max() <= 1.0
        assert model.act({"states": states}, role="free")[0].min() > 40.0

    def test_unknown_role_on_a_multi_role_model_is_an_error(self):
        """The error lists the registered roles."""
        with pytest.raises(ValueError, match="unknown role 'value'.*'clipped', 'free'"):
            TwoRoles().act({"states": torch.zeros(1, 2)}, role="value")

    def test_no_global_distribution_state_is_changed(self, policy_factory, states):
        """Acting and building the distribution leave torch.distributions' default validation alone."""
        before = torch.distributions.Distribution._validate_args
        policy = policy_factory()
        policy.act({"states": states}, role="policy")
        policy.distribution("policy")
        assert torch.distributions.Distribution._validate_args == before

    def test_deepcopy_after_act(self, policy_factory, states):
        """TRPO deep-copies a policy that has acted: the copy works and reads get_log_std after acting."""
        policy = policy_factory()
        policy.act({"states": states}, role="policy")
        clone = copy.deepcopy(policy)
        assert clone.distribution("policy") is None
        clone.act({"states": states}, role="policy")
        torch.testing.assert_close(clone.get_log_std("policy"), torch.full((N, 3), LOG_2))
