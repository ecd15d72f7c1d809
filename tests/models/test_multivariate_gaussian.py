"""MultivariateGaussianMixin on both backends, against scipy.stats.multivariate_normal."""

import math

import gymnasium
import numpy as np
import pytest
from scipy import stats

from .conftest import HIGH, LOW, N
from .test_gaussian import reference


def scipy_log_prob(mean, std, x):
    """Row by row scipy.stats.multivariate_normal(mean, diag(std^2)).logpdf, as (N, 1)."""
    rows = zip(mean, std, x, strict=True)
    return np.array([[stats.multivariate_normal(m, np.diag(s**2)).logpdf(t)] for m, s, t in rows])


def build(backend, box_obs, box_act, **kwargs):
    return backend.build("MultivariateGaussianPolicy", box_obs, box_act, **kwargs)


class TestShapes:
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_actions_log_prob_mean_actions_and_entropy_shapes(self, backend, box_obs, box_act, states, state_dependent):
        """actions (N, A), log_prob (N, 1), mean_actions (N, A), entropy (N,)."""
        policy = build(backend, box_obs, box_act, state_dependent=state_dependent)
        actions, log_prob, outputs = backend.act(policy, {"states": states})
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1) and outputs["mean_actions"].shape == (N, 3)
        assert backend.entropy(policy, outputs).shape == (N,)

    def test_there_is_no_reduction_argument(self, backend, box_obs, box_act):
        """The log-density of the joint distribution is already one number per sample."""
        with pytest.raises(TypeError, match="reduction"):
            backend.models.MultivariateGaussianPolicy(box_obs, box_act, reduction="sum")


class TestMath:
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_log_prob_of_taken_actions_matches_scipy(self, backend, box_obs, box_act, states, state_dependent):
        """log_prob(taken) equals scipy's multivariate normal with covariance diag(std^2) (not diag(std^4))."""
        policy = build(backend, box_obs, box_act, state_dependent=state_dependent)
        taken = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken})
        np.testing.assert_allclose(log_prob, scipy_log_prob(*reference(backend, policy, states), taken), rtol=1e-5)

    def test_log_prob_of_sampled_actions_matches_scipy(self, backend, box_obs, box_act, states):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        policy = build(backend, box_obs, box_act)
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=0)
        np.testing.assert_allclose(log_prob, scipy_log_prob(*reference(backend, policy, states), actions), rtol=1e-5)

    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_entropy_matches_scipy(self, backend, box_obs, box_act, states, state_dependent):
        """get_entropy equals scipy.stats.multivariate_normal(mean, diag(std^2)).entropy() per row (N,)."""
        policy = build(backend, box_obs, box_act, state_dependent=state_dependent)
        _, _, outputs = backend.act(policy, {"states": states})
        _, std = reference(backend, policy, states)
        expected = [stats.multivariate_normal(np.zeros(3), np.diag(s**2)).entropy() for s in std]
        np.testing.assert_allclose(backend.entropy(policy, outputs), expected, rtol=1e-5)

    def test_samples_have_std_two_no_correlation_and_entropy_minus_mean_log_prob(self, backend, box_obs, box_act):
        """Monte-Carlo (1e5) with log_std = log 2: covariance 4 I (skrl: 16 I), mean of the network, -E[log p] =
        entropy = 3/2 (1 + log 2 pi) + 3 log 2."""
        policy = build(backend, box_obs, box_act)
        states = np.zeros((100_000, 5), np.float32)
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=1)
        mean, _ = reference(backend, policy, states[:1])
        np.testing.assert_allclose(actions.mean(0), mean[0], atol=0.03)
        np.testing.assert_allclose(np.cov(actions.T), 4.0 * np.eye(3), atol=0.06)
        entropy = 1.5 * (1 + math.log(2 * math.pi)) + 3 * math.log(2.0)
        np.testing.assert_allclose(-log_prob.mean(), entropy, atol=0.02)

    def test_log_std_is_clamped_to_its_bounds(self, backend, box_obs, box_act, states):
        """clip_log_std clamps log_std = [-5, 0, 5] to [-1, 0, 0.5] before the density is evaluated."""
        policy = build(backend, box_obs, box_act, min_log_std=-1.0, max_log_std=0.5)
        backend.set_weights(policy, log_std=[-5.0, 0.0, 5.0])
        taken = np.zeros((N, 3), np.float32)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken})
        mean, std = reference(backend, policy, states, min_log_std=-1.0, max_log_std=0.5)
        np.testing.assert_allclose(log_prob, scipy_log_prob(mean, std, taken), rtol=1e-5)


class TestClippingAndGradients:
    def test_clipped_actions_stay_inside_each_dimension_with_the_unclipped_density(
        self, backend, box_obs, box_act, states
    ):
        """clip_actions clamps per dimension; log_prob is the unclipped Gaussian's density at the clipped action."""
        policy = build(backend, box_obs, box_act, clip_actions=True)
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=0)
        assert (actions >= LOW).all() and (actions <= HIGH).all()
        np.testing.assert_allclose(log_prob, scipy_log_prob(*reference(backend, policy, states), actions), rtol=1e-5)

    def test_clipping_needs_a_box_action_space(self, backend, box_obs):
        """clip_actions=True with an int action space cannot read bounds: ValueError at construction."""
        with pytest.raises(ValueError, match="MultivariateGaussianMixin.*Box action space.*got int"):
            backend.models.MultivariateGaussianPolicy(box_obs, 3, clip_actions=True)

    def test_gradients_flow_through_reparameterised_actions(self, backend, box_obs, box_act, states):
        """SAC relies on d(actions)/d(mean) and d(actions)/d(log_std)."""
        policy = build(backend, box_obs, box_act)
        grads, _ = backend.gradients(policy, {"states": states}, lambda actions, *_: actions.sum())
        assert np.abs(grads["mean.kernel"]).sum() > 0 and np.abs(grads["log_std"]).sum() > 0


class TestRoles:
    def test_each_role_keeps_its_own_settings(self, backend):
        """Registering a second role does not overwrite the first one's clip_actions."""
        model = backend.build("TwoMultivariateGaussians", 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)))
        states = np.zeros((8, 2), np.float32)
        assert backend.act(model, {"states": states}, role="clipped")[0].max() <= 1.0
        assert backend.act(model, {"states": states}, role="free")[0].min() > 40.0

    def test_unknown_role_on_a_multi_role_model_is_an_error(self, backend):
        """The error lists the registered roles."""
        model = backend.build("TwoMultivariateGaussians", 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)))
        with pytest.raises(ValueError, match="unknown role 'value'.*'clipped', 'free'"):
            backend.act(model, {"states": np.zeros((1, 2))}, role="value")
