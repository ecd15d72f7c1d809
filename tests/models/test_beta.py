"""BetaMixin on both backends: a Beta moved onto the Box, against scipy.stats.beta(loc=low, scale=high - low)."""

import gymnasium
import numpy as np
import pytest
from scipy import stats

LOW, HIGH = np.array([-2.0, 0.0, 5.0], np.float32), np.array([2.0, 1.0, 6.0], np.float32)
SCALE = (HIGH - LOW).astype(np.float64)
# one unimodal, one U-shaped (both < 1) and one skewed dimension (the models' initial concentrations)
ALPHA, BETA = np.array([2.0, 0.5, 5.0]), np.array([3.0, 0.7, 1.5])
N = 64
BOX = gymnasium.spaces.Box(LOW, HIGH)


def build(backend, **kwargs):
    return backend.build("BetaPolicy", 4, BOX, **kwargs)


def states(batch=N):
    return np.zeros((batch, 4), np.float32)


def scipy_log_prob(actions, alpha=ALPHA, beta=BETA):
    """Per-dimension log-density of the rescaled Beta, float64, from scipy.stats."""
    return stats.beta.logpdf(np.asarray(actions, np.float64), alpha, beta, loc=LOW, scale=SCALE)


def taken_actions(seed=0, batch=N):
    """Points strictly inside the Box, drawn uniformly."""
    return np.random.default_rng(seed).uniform(LOW, HIGH, (batch, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def monte_carlo(backend):
    """One act on 1e5 states at (ALPHA, BETA) and the gradient of the summed actions with respect to the
    concentrations: ``(actions, log_prob, entropy, grads)``. Gamma sampling is slow on CPU: it runs once."""
    policy = build(backend)
    grads, (actions, log_prob, outputs) = backend.gradients(
        policy, {"states": states(100_000)}, lambda actions, *_: actions.sum(), seed=1
    )
    return actions, log_prob, backend.entropy(policy, outputs), grads


class TestShapes:
    @pytest.mark.parametrize("reduction, width", [("sum", 1), ("mean", 1), ("prod", 1), ("none", 3)])
    def test_actions_log_prob_mean_actions_and_entropy_shapes(self, backend, reduction, width):
        """actions (N, A), log_prob (N, 1) or (N, A) for 'none', mean_actions (N, A), entropy (N, A)."""
        policy = build(backend, reduction=reduction)
        actions, log_prob, outputs = backend.act(policy, {"states": states(), "taken_actions": taken_actions()})
        assert actions.shape == (N, 3) and log_prob.shape == (N, width)
        assert outputs["mean_actions"].shape == (N, 3)
        assert backend.entropy(policy, outputs).shape == (N, 3)

    def test_invalid_reduction_is_rejected(self, backend):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            backend.models.BetaPolicy(4, BOX, reduction="max")

    @pytest.mark.parametrize(
        "space, match",
        [
            (gymnasium.spaces.Discrete(3), "needs a gymnasium Box action space.*got Discrete"),
            (3, "needs a gymnasium Box action space.*got int"),
            (gymnasium.spaces.Box(-np.inf, np.inf, (2,)), "finite Box bounds.*bad dimensions: \\[0, 1\\]"),
            (gymnasium.spaces.Box(np.float32([0, -1]), np.float32([1, -1])), "low < high.*bad dimensions: \\[1\\]"),
        ],
    )
    def test_a_space_without_finite_bounds_is_rejected_at_construction(self, backend, space, match):
        """The Beta needs a Box with finite low < high in every dimension: ValueError naming what came."""
        with pytest.raises(ValueError, match=match):
            backend.models.BetaPolicy(4, space, alpha=ALPHA[:2], beta=BETA[:2])


class TestLogProb:
    def test_log_prob_of_taken_actions_matches_scipy(self, backend):
        """log_prob(taken) is the sum over dimensions of scipy.stats.beta.logpdf(loc=low, scale=high - low)."""
        taken = taken_actions()
        _, log_prob, _ = backend.act(build(backend), {"states": states(), "taken_actions": taken})
        np.testing.assert_allclose(log_prob, scipy_log_prob(taken).sum(-1, keepdims=True), rtol=1e-5, atol=1e-5)

    def test_log_prob_of_sampled_actions_matches_scipy(self, backend):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        alpha, beta = (2.0, 3.0, 5.0), (3.0, 2.0, 1.5)  # densities vanish on the bounds
        actions, log_prob, _ = backend.act(build(backend, alpha=alpha, beta=beta), {"states": states()}, seed=0)
        expected = scipy_log_prob(actions, alpha, beta).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("reduction, reduce", [("none", None), ("mean", np.mean), ("prod", np.prod)])
    def test_reductions_apply_to_the_rescaled_per_dimension_terms(self, backend, reduction, reduce):
        """The log(high - low) Jacobian is subtracted per dimension, before any reduction."""
        taken = taken_actions(2)
        _, log_prob, _ = backend.act(build(backend, reduction=reduction), {"states": states(), "taken_actions": taken})
        expected = scipy_log_prob(taken) if reduce is None else reduce(scipy_log_prob(taken), -1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-5)

    def test_taken_actions_exactly_on_the_bounds_have_finite_log_probs_and_gradients(self, backend):
        """Actions on low or high (where log x or log(1 - x) is -inf) are read eps inside: no NaN or inf."""
        policy = build(backend)
        bounds = np.resize(np.stack([LOW, HIGH, np.where([True, False, True], LOW, HIGH)]), (N, 3))
        inputs = {"states": states(), "taken_actions": bounds}
        assert np.isfinite(backend.act(policy, inputs)[1]).all()
        grads, _ = backend.gradients(policy, inputs, lambda _, log_prob, __: log_prob.sum())
        assert np.isfinite(grads["alpha"]).all() and np.isfinite(grads["beta"]).all()


class TestSampling:
    def test_actions_lie_inside_the_box_even_for_extreme_concentrations(self, backend):
        """Tiny and huge concentrations push samples onto the bounds: never past them, log-probs finite."""
        policy = build(backend, alpha=(1e-3, 1e3, 0.05), beta=(1e-3, 1e-3, 1e3))
        actions, log_prob, _ = backend.act(policy, {"states": states(10_000)}, seed=0)
        assert (actions >= LOW).all() and (actions <= HIGH).all()
        assert np.isfinite(log_prob).all()

    def test_sample_mean_and_variance_follow_the_closed_forms(self, backend, monte_carlo):
        """Monte-Carlo (1e5): mean low + s a/(a+b), variance s^2 ab/((a+b)^2 (a+b+1))."""
        unit = (monte_carlo[0].astype(np.float64) - LOW) / SCALE
        a, b = ALPHA, BETA
        np.testing.assert_allclose(unit.mean(0), a / (a + b), atol=0.005)
        np.testing.assert_allclose(unit.var(0), a * b / ((a + b) ** 2 * (a + b + 1)), rtol=0.03)

    def test_small_concentrations_sample_the_right_mean_and_variance(self, backend):
        """Monte-Carlo (2e4) for alpha, beta << 1, where a float32 gamma draw underflows: the closed-form
        moments hold (tolerances ~4 standard errors of these nearly two-point laws)."""
        alpha, beta = (0.05, 0.2, 0.1), (0.2, 0.05, 0.1)
        actions, log_prob, _ = backend.act(build(backend, alpha=alpha, beta=beta), {"states": states(20_000)}, seed=0)
        a, b = np.asarray(alpha), np.asarray(beta)
        unit = (actions.astype(np.float64) - LOW) / SCALE
        np.testing.assert_allclose(unit.mean(0), a / (a + b), atol=0.01)
        np.testing.assert_allclose(unit.var(0), a * b / ((a + b) ** 2 * (a + b + 1)), rtol=0.05)
        assert np.isfinite(log_prob).all()

    def test_entropy_matches_scipy_and_minus_the_mean_log_prob(self, backend, monte_carlo):
        """get_entropy = scipy.stats.beta(a, b, loc, scale).entropy() element-wise; Monte-Carlo -E[log p] agrees."""
        _, log_prob, entropy, _ = monte_carlo
        expected = stats.beta(ALPHA, BETA, loc=LOW, scale=SCALE).entropy()
        np.testing.assert_allclose(entropy[0], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(-log_prob.astype(np.float64).mean(), expected.sum(), atol=0.02)

    def test_pathwise_gradient_of_the_mean_action_is_unbiased(self, backend, monte_carlo):
        """Averaged over 1e5 reparameterised draws, d E[x]/d a = b/(a+b)^2 and d E[x]/d b = -a/(a+b)^2
        with x = (action - low)/s."""
        grads = monte_carlo[3]
        a, b = ALPHA, BETA
        np.testing.assert_allclose(grads["alpha"] / (100_000 * SCALE), b / (a + b) ** 2, rtol=0.03)
        np.testing.assert_allclose(grads["beta"] / (100_000 * SCALE), -a / (a + b) ** 2, rtol=0.03)

    def test_log_prob_of_sampled_actions_is_differentiable(self, backend):
        """SAC differentiates log_prob(sample) through the sample: finite, non-zero gradients."""
        grads, _ = backend.gradients(build(backend), {"states": states()}, lambda _, log_prob, __: log_prob.sum())
        assert np.isfinite(grads["alpha"]).all() and (np.abs(grads["alpha"]) > 0).all()


class TestRoles:
    def test_shared_model_dispatches_the_value_role_to_the_deterministic_mixin(self, backend):
        """A Beta policy + value model routes each role to its own mixin; the value role has no entropy."""
        model = backend.build("BetaActorCritic", 4, BOX)
        actions, log_prob, outputs = backend.act(model, {"states": states()}, role="policy")
        value, none, _ = backend.act(model, {"states": states()}, role="value")
        assert actions.shape == (N, 3) and log_prob.shape == (N, 1) and value.shape == (N, 1) and none is None
        assert backend.entropy(model, outputs, role="policy").shape == (N, 3)
        with pytest.raises(ValueError, match="served by DeterministicMixin"):
            backend.entropy(model, outputs, role="value")
