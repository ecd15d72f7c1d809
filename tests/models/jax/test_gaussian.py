import math

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from .conftest import GaussianPolicy, N, build, params_of


def reference(policy, states):
    """Mean and std of the policy computed with NumPy from its parameters (outside the mixin and Flax)."""
    hidden = np.tanh(np.asarray(states) @ params_of(policy, "hidden", "kernel") + params_of(policy, "hidden", "bias"))
    mean = hidden @ params_of(policy, "mean", "kernel") + params_of(policy, "mean", "bias")
    if policy.state_dependent:
        log_std = hidden @ params_of(policy, "log_std_head", "kernel") + params_of(policy, "log_std_head", "bias")
    else:
        log_std = np.broadcast_to(params_of(policy, "log_std"), mean.shape)
    return mean, np.exp(np.clip(log_std, -20, 2))


@pytest.fixture(scope="module")
def policy():
    obs = gymnasium.spaces.Box(-1.0, 1.0, (5,))
    act = gymnasium.spaces.Box(np.array([-1.0, 0.0, 5.0], np.float32), np.array([1.0, 1.0, 6.0], np.float32))
    return build(GaussianPolicy, obs, act)


class TestShapes:
    def test_actions_log_prob_and_outputs_have_documented_shapes(self, policy, states):
        """actions (N, A), log_prob (N, 1) ('sum'); mean_actions (N, A), log_std and stddev (A,) in outputs."""
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1)
        assert outputs["mean_actions"].shape == (N, 3)
        assert outputs["log_std"].shape == (3,) and outputs["stddev"].shape == (3,)

    def test_state_dependent_log_std_is_batch_by_actions(self, box_obs, box_act, states):
        """A state-dependent log-std head gives (N, A) log_std, stddev and entropy."""
        model = build(GaussianPolicy, box_obs, box_act, state_dependent=True)
        _, _, outputs = model.act({"states": states}, role="policy")
        assert outputs["log_std"].shape == (N, 3)
        assert model.get_entropy(outputs["stddev"], role="policy").shape == (N, 3)

    def test_invalid_reduction_is_rejected(self, box_obs, box_act):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            GaussianPolicy(box_obs, box_act, reduction="max")


class TestMath:
    def test_log_prob_of_taken_actions_matches_scipy(self, policy, states):
        """log_prob(taken_actions) is the sum over actions of scipy.stats.norm(mean, std).logpdf."""
        taken = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        mean, std = reference(policy, states)
        expected = stats.norm(mean, std).logpdf(taken).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)

    def test_log_prob_of_sampled_actions_matches_scipy(self, policy, states):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        mean, std = reference(policy, states)
        expected = stats.norm(mean, std).logpdf(np.asarray(actions)).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)

    def test_log_prob_at_mean_is_minus_half_log_two_pi_minus_log_std_per_dimension(self, box_obs, box_act, states):
        """'none' keeps (N, A): log N(mu | mu, sigma) = -log sigma - log(2 pi) / 2 per dimension (log sigma = -0.5)."""
        model = build(GaussianPolicy, box_obs, box_act, reduction="none")
        mean, _ = reference(model, states)
        _, log_prob, _ = model.act({"states": states, "taken_actions": mean}, role="policy")
        assert log_prob.shape == (N, 3)
        np.testing.assert_allclose(log_prob, np.full((N, 3), 0.5 - 0.5 * math.log(2 * math.pi)), rtol=1e-6)

    @pytest.mark.parametrize("reduction, reduce", [("mean", np.mean), ("prod", np.prod)])
    def test_mean_and_prod_reductions(self, box_obs, box_act, states, reduction, reduce):
        """'mean' and 'prod' reduce the per-dimension log-densities over the last axis."""
        model = build(GaussianPolicy, box_obs, box_act, reduction=reduction)
        taken = np.zeros((N, 3), np.float32)
        _, log_prob, _ = model.act({"states": states, "taken_actions": taken}, role="policy")
        mean, std = reference(model, states)
        assert log_prob.shape == (N, 1)
        np.testing.assert_allclose(log_prob, reduce(stats.norm(mean, std).logpdf(taken), -1, keepdims=True), rtol=1e-5)

    def test_entropy_matches_scipy(self, policy, states):
        """get_entropy(stddev) equals scipy.stats.norm(0, std).entropy() element-wise; the outputs dict works too."""
        _, _, outputs = policy.act({"states": states}, role="policy")
        expected = stats.norm(0, np.exp(-0.5)).entropy() * np.ones(3)
        np.testing.assert_allclose(policy.get_entropy(outputs["stddev"], role="policy"), expected, rtol=1e-6)
        np.testing.assert_allclose(policy.get_entropy(outputs, role="policy"), expected, rtol=1e-6)

    def test_entropy_of_a_wrong_argument_is_a_value_error(self, policy, states):
        """Passing mean_actions of another width or a scalar is refused (no silent broadcasting)."""
        with pytest.raises(ValueError, match="last dimension 3, got shape \\(16, 5\\)"):
            policy.get_entropy(states, role="policy")
        with pytest.raises(ValueError, match="no 'stddev'"):
            policy.get_entropy({"net_output": states}, role="policy")

    def test_log_std_is_clamped_to_its_bounds(self, box_obs, box_act, states):
        """clip_log_std clamps to [min_log_std, max_log_std]; outputs carry the clamped log_std and its exp."""
        model = build(GaussianPolicy, box_obs, box_act, min_log_std=-1.0, max_log_std=0.5)
        params = model.state_dict.params
        params["params"]["log_std"] = jnp.array([-5.0, 0.0, 5.0])
        _, _, outputs = model.act({"states": states}, role="policy", params=params)
        np.testing.assert_allclose(outputs["log_std"], [-1.0, 0.0, 0.5])
        np.testing.assert_allclose(outputs["stddev"], np.exp([-1.0, 0.0, 0.5]), rtol=1e-6)

    def test_sample_statistics_follow_mean_and_std(self, policy):
        """Monte-Carlo: 1e5 samples have the network's mean and std; entropy is minus the mean log-density."""
        actions, log_prob, outputs = policy.act({"states": jnp.zeros((100_000, 5))}, role="policy")
        np.testing.assert_allclose(actions.mean(0), outputs["mean_actions"][0], atol=0.01)
        np.testing.assert_allclose(actions.std(0), np.full(3, math.exp(-0.5)), atol=0.01)
        entropy = policy.get_entropy(outputs["stddev"], role="policy").sum()
        np.testing.assert_allclose(-log_prob.mean(), entropy, atol=0.02)


class TestClippingAndGradients:
    def test_clipped_actions_stay_inside_each_dimension_of_the_box(self, box_obs, box_act, states):
        """clip_actions clamps per dimension to low=[-1, 0, 5], high=[1, 1, 6] (log_std at its max)."""
        model = build(GaussianPolicy, box_obs, box_act, clip_actions=True)
        params = model.state_dict.params
        params["params"]["log_std"] = jnp.full(3, 2.0)
        actions, log_prob, _ = model.act({"states": states}, role="policy", params=params)
        assert (actions >= jnp.array([-1.0, 0.0, 5.0])).all() and (actions <= jnp.array([1.0, 1.0, 6.0])).all()
        mean, _ = reference(model, states)
        expected = stats.norm(mean, np.exp(2.0)).logpdf(np.asarray(actions)).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5)  # density of the unclipped Gaussian

    def test_clipping_needs_a_box_action_space(self, box_obs):
        """clip_actions=True with an int action space cannot read bounds: ValueError at construction."""
        with pytest.raises(ValueError, match="Box action space.*got int"):
            GaussianPolicy(box_obs, 3, clip_actions=True)

    def test_gradients_flow_through_reparameterised_actions(self, policy, states):
        """SAC differentiates the sampled actions with respect to the mean and log-std parameters."""
        inputs = {"states": states, "key": jax.random.PRNGKey(1)}
        grads = jax.grad(lambda p: policy.act(inputs, "policy", p)[0].sum())(policy.state_dict.params)
        assert np.abs(grads["params"]["mean"]["kernel"]).sum() > 0
        assert np.abs(grads["params"]["log_std"]).sum() > 0
