import math

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from .conftest import MultivariateGaussianPolicy, N, build, params_of


def reference(policy, states):
    """Mean and std of the policy computed with NumPy from its parameters."""
    hidden = np.tanh(np.asarray(states) @ params_of(policy, "hidden", "kernel") + params_of(policy, "hidden", "bias"))
    mean = hidden @ params_of(policy, "mean", "kernel") + params_of(policy, "mean", "bias")
    if policy.state_dependent:
        log_std = hidden @ params_of(policy, "log_std_head", "kernel") + params_of(policy, "log_std_head", "bias")
    else:
        log_std = np.broadcast_to(params_of(policy, "log_std"), mean.shape)
    return mean, np.exp(log_std)


@pytest.fixture(scope="module")
def spaces():
    return gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,))


@pytest.fixture(scope="module")
def policy(spaces):
    return build(MultivariateGaussianPolicy, *spaces)


class TestMultivariateGaussian:
    def test_shapes(self, policy, states):
        """actions (N, A), log_prob (N, 1), mean_actions (N, A), entropy of the outputs (N,)."""
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1) and outputs["mean_actions"].shape == (N, 3)
        assert policy.get_entropy(outputs, role="policy").shape == (N,)

    def test_scale_is_the_standard_deviation_not_the_variance(self, policy):
        """log_std = log 2: samples have std 2 (skrl: 4, it passes the variance as scale_tril)."""
        actions, _, outputs = policy.act({"states": jnp.zeros((100_000, 5))}, role="policy")
        np.testing.assert_allclose(np.asarray(actions).std(0), [2.0, 2.0, 2.0], rtol=0.02)
        np.testing.assert_allclose(outputs["stddev"], [2.0, 2.0, 2.0], rtol=1e-6)

    def test_log_prob_matches_scipy_multivariate_normal(self, policy, states):
        """log_prob(taken_actions) equals scipy.stats.multivariate_normal(mean, diag(std^2)).logpdf."""
        taken = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        mean, std = reference(policy, states)
        expected = [
            stats.multivariate_normal(m, np.diag(s**2)).logpdf(t) for m, s, t in zip(mean, std, taken, strict=True)
        ]
        np.testing.assert_allclose(log_prob[:, 0], expected, rtol=1e-5)

    def test_entropy_matches_scipy(self, policy, states):
        """get_entropy(stddev) equals the multivariate normal entropy; () for a state-independent (A,) stddev."""
        _, _, outputs = policy.act({"states": states}, role="policy")
        expected = stats.multivariate_normal(np.zeros(3), np.diag([4.0, 4.0, 4.0])).entropy()
        np.testing.assert_allclose(policy.get_entropy(outputs["stddev"], role="policy"), expected, rtol=1e-6)
        np.testing.assert_allclose(policy.get_entropy(outputs, role="policy"), np.full(N, expected), rtol=1e-6)

    def test_state_dependent_log_std(self, spaces, states):
        """A batched log-std (N, A) works: log_prob matches scipy row by row; entropy (N,)."""
        model = build(MultivariateGaussianPolicy, *spaces, state_dependent=True)
        taken = np.zeros((N, 3), np.float32)
        _, log_prob, outputs = model.act({"states": states, "taken_actions": taken}, role="policy")
        mean, std = reference(model, states)
        expected = [
            stats.multivariate_normal(m, np.diag(s**2)).logpdf(t) for m, s, t in zip(mean, std, taken, strict=True)
        ]
        np.testing.assert_allclose(log_prob[:, 0], expected, rtol=1e-5)
        entropy = 1.5 * (1 + math.log(2 * math.pi)) + np.log(std).sum(-1)
        np.testing.assert_allclose(model.get_entropy(outputs["stddev"], role="policy"), entropy, rtol=1e-5)

    def test_clipping_needs_a_box(self):
        """clip_actions=True with an int action space is refused at construction."""
        with pytest.raises(ValueError, match="MultivariateGaussianMixin.*Box action space"):
            MultivariateGaussianPolicy(5, 3, clip_actions=True)
