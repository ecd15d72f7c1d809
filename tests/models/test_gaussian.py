"""GaussianMixin (plain and ``squash=True``) on both backends, against scipy.stats and closed forms."""

import math

import gymnasium
import numpy as np
import pytest
from scipy import stats

from .conftest import HIGH, LOW, N


def reference(backend, model, states, min_log_std=-20.0, max_log_std=2.0):
    """Mean and std of the policy's MLP computed with NumPy from its weights (outside the mixin)."""
    w = backend.weights(model)
    hidden = np.tanh(states @ w["hidden.kernel"] + w["hidden.bias"])
    mean = hidden @ w["mean.kernel"] + w["mean.bias"]
    if "log_std_head.kernel" in w:
        log_std = hidden @ w["log_std_head.kernel"] + w["log_std_head.bias"]
    else:
        log_std = np.broadcast_to(w["log_std"], mean.shape)
    return mean, np.exp(np.clip(log_std, min_log_std, max_log_std))


def taken_actions(seed=0):
    return np.random.default_rng(seed).normal(size=(N, 3)).astype(np.float32)


class TestShapes:
    @pytest.mark.parametrize("reduction, width", [("sum", 1), ("mean", 1), ("prod", 1), ("none", 3)])
    def test_actions_log_prob_and_mean_actions_have_documented_shapes(
        self, backend, box_obs, box_act, states, reduction, width
    ):
        """actions (N, A), log_prob (N, 1) or (N, A) for 'none', outputs['mean_actions'] (N, A)."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, reduction=reduction)
        actions, log_prob, outputs = backend.act(policy, {"states": states})
        assert actions.shape == (N, 3) and log_prob.shape == (N, width)
        assert outputs["mean_actions"].shape == (N, 3)

    def test_invalid_reduction_is_rejected(self, backend, box_obs, box_act):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            backend.models.GaussianPolicy(box_obs, box_act, reduction="max")


class TestMath:
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_log_prob_of_taken_actions_matches_scipy(self, backend, box_obs, box_act, states, state_dependent):
        """log_prob(taken_actions) is the sum over actions of scipy.stats.norm(mean, std).logpdf."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, state_dependent=state_dependent)
        taken = taken_actions()
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken})
        mean, std = reference(backend, policy, states)
        np.testing.assert_allclose(log_prob, stats.norm(mean, std).logpdf(taken).sum(-1, keepdims=True), rtol=1e-5)

    def test_log_prob_of_sampled_actions_matches_scipy(self, backend, box_obs, box_act, states):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        policy = backend.build("GaussianPolicy", box_obs, box_act)
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=1)
        mean, std = reference(backend, policy, states)
        expected = stats.norm(mean, std).logpdf(actions).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)

    def test_log_prob_at_mean_is_minus_half_log_two_pi_minus_log_std_per_dimension(
        self, backend, box_obs, box_act, states
    ):
        """'none' keeps (N, A): log N(mu | mu, sigma) = -log sigma - log(2 pi) / 2 per dimension (log sigma = -0.5)."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, reduction="none")
        mean, _ = reference(backend, policy, states)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": mean})
        np.testing.assert_allclose(log_prob, np.full((N, 3), 0.5 - 0.5 * math.log(2 * math.pi)), rtol=1e-5)

    @pytest.mark.parametrize("reduction, reduce", [("mean", np.mean), ("prod", np.prod)])
    def test_mean_and_prod_reductions(self, backend, box_obs, box_act, states, reduction, reduce):
        """'mean' and 'prod' reduce the per-dimension log-densities over the last axis."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, reduction=reduction)
        taken = taken_actions(1)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken})
        mean, std = reference(backend, policy, states)
        np.testing.assert_allclose(log_prob, reduce(stats.norm(mean, std).logpdf(taken), -1, keepdims=True), rtol=1e-5)

    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_entropy_is_batch_by_actions_and_matches_scipy(self, backend, box_obs, box_act, states, state_dependent):
        """get_entropy is the element-wise scipy.stats.norm(mean, std).entropy(), shape (N, A)."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, state_dependent=state_dependent)
        _, _, outputs = backend.act(policy, {"states": states})
        _, std = reference(backend, policy, states)
        entropy = backend.entropy(policy, outputs)
        assert entropy.shape == (N, 3)
        np.testing.assert_allclose(entropy, stats.norm(0, std).entropy(), rtol=1e-5)

    def test_log_std_is_clamped_to_its_bounds(self, backend, box_obs, box_act, states):
        """clip_log_std clamps log_std = [-5, 0, 5] to [-1, 0, 0.5] before the density is evaluated."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, min_log_std=-1.0, max_log_std=0.5)
        backend.set_weights(policy, log_std=[-5.0, 0.0, 5.0])
        taken = taken_actions(2)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken})
        mean, std = reference(backend, policy, states, min_log_std=-1.0, max_log_std=0.5)
        np.testing.assert_allclose(std[0], np.exp([-1.0, 0.0, 0.5]), rtol=1e-6)  # the oracle clamps too
        np.testing.assert_allclose(log_prob, stats.norm(mean, std).logpdf(taken).sum(-1, keepdims=True), rtol=1e-5)

    def test_sample_statistics_follow_mean_and_std(self, backend, box_obs, box_act):
        """Monte-Carlo: 1e5 samples have the network's mean and std; entropy is minus the mean log-density."""
        policy = backend.build("GaussianPolicy", box_obs, box_act)
        states = np.zeros((100_000, 5), np.float32)
        actions, log_prob, outputs = backend.act(policy, {"states": states}, seed=1)
        mean, _ = reference(backend, policy, states[:1])
        np.testing.assert_allclose(actions.mean(0), mean[0], atol=0.01)
        np.testing.assert_allclose(actions.std(0), np.full(3, math.exp(-0.5)), atol=0.01)
        # entropy of N(mu, e^-0.5) per dimension: 1/2 + log(2 pi)/2 - 0.5
        np.testing.assert_allclose(-log_prob.mean(), 3 * (0.5 * math.log(2 * math.pi)), atol=0.02)


class TestClippingAndGradients:
    def test_clipped_actions_stay_inside_each_dimension_with_the_unclipped_density(
        self, backend, box_obs, box_act, states
    ):
        """clip_actions clamps to low=[-1, 0, 5], high=[1, 1, 6]; log_prob is the unclipped Gaussian's density."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, clip_actions=True)
        backend.set_weights(policy, log_std=[2.0, 2.0, 2.0])  # wide: many samples fall outside
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=2)
        assert (actions >= LOW).all() and (actions <= HIGH).all()
        assert (actions == LOW).any() or (actions == HIGH).any()
        mean, std = reference(backend, policy, states)
        np.testing.assert_allclose(log_prob, stats.norm(mean, std).logpdf(actions).sum(-1, keepdims=True), rtol=1e-5)

    def test_clipping_needs_a_box_action_space(self, backend, box_obs):
        """clip_actions=True with an int action space cannot read bounds: ValueError at construction."""
        with pytest.raises(ValueError, match="Box action space.*got int"):
            backend.models.GaussianPolicy(box_obs, 3, clip_actions=True)

    def test_gradients_flow_through_reparameterised_actions(self, backend, box_obs, box_act, states):
        """SAC differentiates the sampled actions with respect to the mean and log-std parameters."""
        policy = backend.build("GaussianPolicy", box_obs, box_act)
        grads, _ = backend.gradients(policy, {"states": states}, lambda actions, *_: actions.sum())
        assert np.abs(grads["mean.kernel"]).sum() > 0 and np.abs(grads["log_std"]).sum() > 0


class TestRoles:
    def test_each_role_keeps_its_own_settings(self, backend):
        """Registering a second Gaussian role does not overwrite the first one's clip_actions."""
        model = backend.build("TwoGaussians", 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)))
        states = np.zeros((8, 2), np.float32)
        assert backend.act(model, {"states": states}, role="clipped")[0].max() <= 1.0
        assert backend.act(model, {"states": states}, role="free")[0].min() > 40.0

    def test_unknown_role_on_a_multi_role_model_is_an_error(self, backend):
        """The error lists the registered roles (skrl returns None)."""
        model = backend.build("TwoGaussians", 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)))
        with pytest.raises(ValueError, match="unknown role 'value'.*'clipped', 'free'"):
            backend.act(model, {"states": np.zeros((1, 2))}, role="value")

    def test_single_role_model_serves_any_role_name(self, backend, box_obs, box_act, states):
        """A policy registered as 'policy' answers to 'target_policy' with the same settings."""
        policy = backend.build("GaussianPolicy", box_obs, box_act, reduction="none", role="policy")
        assert backend.act(policy, {"states": states}, role="target_policy")[1].shape == (N, 3)


SQUASH_LOW, SQUASH_HIGH = np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32)
MEAN, LOG_STD = np.array([0.3, -0.4]), np.array([-0.5, 0.2])


def change_of_variables(actions, mean=MEAN, log_std=LOG_STD, low=SQUASH_LOW, high=SQUASH_HIGH):
    """Reference log-density (float64): log N(u) - log|da/du| with a = c + h tanh(u), u = atanh((a - c) / h)."""
    a = np.asarray(actions, np.float64)
    center, half = (high + low) / 2.0, (high - low) / 2.0
    y = (a - center) / half
    u = np.arctanh(y)
    std = np.exp(log_std)
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)
    return (log_normal - np.log(half * (1 - y**2))).sum(-1, keepdims=True)


def squashed(backend, low=SQUASH_LOW, high=SQUASH_HIGH, **kwargs):
    return backend.build("SquashedPolicy", 3, gymnasium.spaces.Box(low, high), **kwargs)


class TestSquashed:
    def test_actions_lie_inside_the_box_and_the_mean_is_squashed(self, backend):
        """Samples stay in [low, high]; outputs['mean_actions'] = center + half * tanh(mean)."""
        actions, _, outputs = backend.act(squashed(backend), {"states": np.zeros((4096, 3))}, seed=0)
        assert (actions >= SQUASH_LOW).all() and (actions <= SQUASH_HIGH).all()
        expected = (SQUASH_HIGH + SQUASH_LOW) / 2 + (SQUASH_HIGH - SQUASH_LOW) / 2 * np.tanh(MEAN)
        np.testing.assert_allclose(outputs["mean_actions"][0], expected, rtol=1e-6)

    def test_log_prob_of_taken_actions_matches_the_change_of_variables(self, backend):
        """Against a float64 NumPy reference written from the formula."""
        taken = np.array([[1.5, 0.2], [-1.9, 0.9], [0.0, 0.5]], np.float32)
        _, log_prob, _ = backend.act(squashed(backend), {"states": np.zeros((3, 3)), "taken_actions": taken})
        np.testing.assert_allclose(log_prob, change_of_variables(taken), atol=1e-4)

    def test_log_prob_of_sampled_actions_matches_the_reference(self, backend):
        """The sampling path (from the pre-squash draw) agrees with the formula on the returned actions."""
        actions, log_prob, _ = backend.act(squashed(backend), {"states": np.zeros((256, 3))}, seed=0)
        np.testing.assert_allclose(log_prob, change_of_variables(actions), atol=2e-3)

    def test_density_integrates_to_one_and_the_histogram_follows_it(self, backend):
        """1-D, N(0.4, e^-0.3) squashed to [-2, 2]: the trapezoid integral of exp(log_prob) is 1, and the
        fraction of 1e5 samples below 0 is the Gaussian mass of u < atanh(0) = 0."""
        low, high = np.array([-2.0], np.float32), np.array([2.0], np.float32)
        model = squashed(backend, low, high, mean=(0.4,), log_std=(-0.3,))
        grid = np.linspace(-2.0, 2.0, 100_001, dtype=np.float32)[1:-1, None]
        _, log_prob, _ = backend.act(model, {"states": np.zeros((len(grid), 3)), "taken_actions": grid})
        assert abs(np.trapezoid(np.exp(log_prob[:, 0].astype(np.float64)), grid[:, 0]) - 1.0) < 1e-3
        actions = backend.act(model, {"states": np.zeros((100_000, 3))}, seed=1)[0]
        assert abs((actions < 0).mean() - stats.norm(0.4, math.exp(-0.3)).cdf(0.0)) < 0.01

    def test_saturated_and_boundary_actions_have_finite_log_probs_and_gradients(self, backend):
        """A mean far outside (tanh = 1 in float32) and taken actions exactly on the bounds: no NaN or inf."""
        model = squashed(backend, mean=(40.0, -40.0))
        actions, log_prob, _ = backend.act(model, {"states": np.zeros((64, 3))}, seed=0)
        np.testing.assert_array_equal(actions[0], [SQUASH_HIGH[0], SQUASH_LOW[1]])
        assert np.isfinite(log_prob).all()
        grads, _ = backend.gradients(model, {"states": np.zeros((64, 3))}, lambda _, log_prob, __: log_prob.sum())
        assert all(np.isfinite(g).all() for g in grads.values())
        bounds = np.stack([SQUASH_LOW, SQUASH_HIGH])
        assert np.isfinite(backend.act(model, {"states": np.zeros((2, 3)), "taken_actions": bounds})[1]).all()

    def test_reduction_none_gives_per_dimension_terms(self, backend):
        """The log-det correction is applied per dimension before the reduction."""
        inputs = {"states": np.zeros((1, 3)), "taken_actions": np.array([[1.5, 0.2]], np.float32)}
        per_dimension = backend.act(squashed(backend, reduction="none"), inputs)[1]
        assert per_dimension.shape == (1, 2)
        np.testing.assert_allclose(per_dimension.sum(-1, keepdims=True), backend.act(squashed(backend), inputs)[1])

    def test_gradients_flow_through_squashed_actions(self, backend):
        """SAC needs d(actions)/d(mean) and d(actions)/d(log_std) through tanh."""
        grads, _ = backend.gradients(squashed(backend), {"states": np.zeros((16, 3))}, lambda a, *_: a.sum())
        assert np.abs(grads["mean"]).sum() > 0 and np.abs(grads["log_std"]).sum() > 0

    def test_default_is_unsquashed(self, backend):
        """squash is opt-in: without it the same mean of 5 gives actions beyond the bounds."""
        model = squashed(backend, mean=(5.0, 5.0), log_std=(0.0, 0.0), squash=False)
        assert backend.act(model, {"states": np.zeros((100, 3))}, seed=0)[0].max() > 2.0

    @pytest.mark.parametrize(
        "space, match",
        [
            (gymnasium.spaces.Discrete(3), "needs a gymnasium Box"),
            (gymnasium.spaces.Box(-np.inf, np.inf, (2,)), "finite Box bounds"),
        ],
    )
    def test_squash_needs_a_bounded_box(self, backend, space, match):
        """Bounds are read at construction: a non-Box or unbounded space is a ValueError."""
        with pytest.raises(ValueError, match=match):
            backend.models.SquashedPolicy(3, space)
