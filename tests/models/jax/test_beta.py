import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mixrl.models.jax import DeterministicMixin, Model
from mixrl.models.jax import distributions as jax_distributions
from mixrl.models.jax.beta import BetaMixin

LOW, HIGH = np.array([-2.0, 0.0, 5.0], np.float32), np.array([2.0, 1.0, 6.0], np.float32)
SCALE = (HIGH - LOW).astype(np.float64)
# one unimodal, one U-shaped (both < 1) and one skewed dimension
ALPHA, BETA = (2.0, 0.5, 5.0), (3.0, 0.7, 1.5)
N = 64
KEY = jax.random.PRNGKey(7)


class BetaPolicy(BetaMixin, Model):
    """Concentrations are parameters (initialised to ALPHA and BETA; tests pass other ``params``) broadcast
    over the batch."""

    def __init__(self, observation_space=4, action_space=None, device=None, parent=None, name=None, **kwargs):
        Model.__init__(self, observation_space, action_space or gymnasium.spaces.Box(LOW, HIGH), device, parent, name)
        BetaMixin.__init__(self, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        shape = (inputs["states"].shape[0], self.num_actions)
        alpha = self.param("alpha", lambda _: jnp.asarray(ALPHA, jnp.float32))
        beta = self.param("beta", lambda _: jnp.asarray(BETA, jnp.float32))
        return jnp.broadcast_to(alpha, shape), jnp.broadcast_to(beta, shape), {}


def build(**kwargs):
    model = BetaPolicy(**kwargs)
    model.init_state_dict("policy")
    return model


def with_concentrations(policy, alpha, beta):
    """Params like the policy's (committed to its device: no recompilation) with other concentrations."""
    params = {"alpha": np.asarray(alpha, np.float32), "beta": np.asarray(beta, np.float32)}
    return {"params": jax.device_put(params, policy.device)}


def states(batch=N):
    return jnp.zeros((batch, 4))


def scipy_log_prob(actions, alpha=ALPHA, beta=BETA):
    """Per-dimension log-density of the rescaled Beta, float64, from scipy.stats."""
    return stats.beta.logpdf(np.asarray(actions, np.float64), alpha, beta, loc=LOW, scale=SCALE)


def taken_actions(seed=0, batch=N):
    """Points strictly inside the Box, drawn uniformly."""
    return np.random.default_rng(seed).uniform(LOW, HIGH, (batch, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def policy():
    return build()


@pytest.fixture(scope="module")
def per_dimension():
    return build(reduction="none")


@pytest.fixture(scope="module")
def monte_carlo(policy):
    """One reparameterised act on 1e5 states at (ALPHA, BETA) and the gradient of its summed actions with
    respect to the concentration parameters: ``(actions, log_prob, outputs, grads)``.

    Gamma sampling is the slow part of these tests on CPU (a rejection loop per element), so it runs once.
    """

    def summed_actions(params):
        actions, log_prob, outputs = policy.act({"states": states(100_000), "key": KEY}, "policy", params)
        return actions.sum(), (actions, log_prob, outputs)

    grads, (actions, log_prob, outputs) = jax.grad(summed_actions, has_aux=True)(policy.state_dict.params)
    return actions, log_prob, outputs, grads["params"]


class TestShapesAndOutputs:
    @pytest.mark.parametrize("model, width", [("policy", 1), ("per_dimension", 3)])
    def test_actions_log_prob_and_outputs_have_documented_shapes(self, request, model, width):
        """actions (N, A), log_prob (N, 1) ('sum') or (N, A) ('none'); mean_actions, alpha, beta, stddev (N, A)."""
        inputs = {"states": states(), "taken_actions": taken_actions(), "key": KEY}
        actions, log_prob, outputs = request.getfixturevalue(model).act(inputs, "policy")
        assert actions.shape == (N, 3) and log_prob.shape == (N, width)
        for name in ("mean_actions", "alpha", "beta", "stddev"):
            assert outputs[name].shape == (N, 3)

    def test_outputs_carry_the_concentrations_and_the_rescaled_moments(self, policy):
        """alpha and beta as computed; mean_actions and stddev equal scipy.stats.beta(loc, scale) moments."""
        _, _, outputs = policy.act({"states": states(), "key": KEY}, "policy")
        reference = stats.beta(ALPHA, BETA, loc=LOW, scale=SCALE)
        np.testing.assert_allclose(outputs["alpha"][0], ALPHA)
        np.testing.assert_allclose(outputs["beta"][0], BETA)
        np.testing.assert_allclose(outputs["mean_actions"][0], reference.mean(), rtol=1e-6)
        np.testing.assert_allclose(outputs["stddev"][0], reference.std(), rtol=1e-5)

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
            BetaPolicy(action_space=space)


class TestLogProb:
    def test_log_prob_of_taken_actions_matches_scipy(self, policy):
        """log_prob(taken) is the sum over dimensions of scipy.stats.beta.logpdf(loc=low, scale=high - low)."""
        taken = taken_actions()
        _, log_prob, _ = policy.act({"states": states(), "taken_actions": taken, "key": KEY}, "policy")
        np.testing.assert_allclose(log_prob, scipy_log_prob(taken).sum(-1, keepdims=True), rtol=1e-5, atol=1e-5)

    def test_log_prob_of_sampled_actions_matches_scipy(self, policy):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        alpha, beta = (2.0, 3.0, 5.0), (3.0, 2.0, 1.5)  # densities vanish on the bounds
        params = with_concentrations(policy, alpha, beta)
        actions, log_prob, _ = policy.act({"states": states(), "key": KEY}, "policy", params)
        expected = scipy_log_prob(actions, alpha, beta).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-4)

    def test_reduction_none_keeps_the_rescaled_per_dimension_terms(self, per_dimension):
        """The log(high - low) Jacobian is subtracted per dimension, before any reduction."""
        taken = taken_actions(2)
        _, log_prob, _ = per_dimension.act({"states": states(), "taken_actions": taken, "key": KEY}, "policy")
        np.testing.assert_allclose(log_prob, scipy_log_prob(taken), rtol=1e-5, atol=1e-5)

    def test_taken_actions_exactly_on_the_bounds_have_finite_log_probs(self, policy):
        """Actions on low or high (where log x or log(1 - x) is -inf) are read eps inside: no NaN or inf."""
        bounds = np.resize(np.stack([LOW, HIGH, np.where([True, False, True], LOW, HIGH)]), (N, 3))
        inputs = {"states": states(), "taken_actions": bounds, "key": KEY}
        assert np.isfinite(policy.act(inputs, "policy")[1]).all()


class TestSampling:
    def test_actions_lie_inside_the_box_even_for_extreme_concentrations(self, policy):
        """Tiny and huge concentrations push samples onto the bounds: never past them, log-probs finite."""
        params = with_concentrations(policy, (1e-3, 1e3, 0.05), (1e-3, 1e-3, 1e3))
        actions, log_prob, _ = policy.act({"states": states(), "key": KEY}, "policy", params)
        assert (actions >= LOW).all() and (actions <= HIGH).all()
        assert np.isfinite(log_prob).all()

    def test_sample_mean_and_variance_follow_the_closed_forms(self, monte_carlo):
        """Monte-Carlo (1e5): mean low + s a/(a+b), variance s^2 ab/((a+b)^2 (a+b+1)), inside the Box."""
        a, b = np.asarray(ALPHA), np.asarray(BETA)
        unit = (np.asarray(monte_carlo[0], np.float64) - LOW) / SCALE
        assert (unit >= 0).all() and (unit <= 1).all()
        np.testing.assert_allclose(unit.mean(0), a / (a + b), atol=0.005)
        np.testing.assert_allclose(unit.var(0), a * b / ((a + b) ** 2 * (a + b + 1)), rtol=0.03)

    def test_small_concentrations_sample_the_right_mean_and_variance(self, policy):
        """Monte-Carlo (2e4) for alpha, beta << 1, where a float32 gamma draw underflows: log-space sampling
        keeps the closed-form moments (tolerances ~4 standard errors of these nearly two-point laws)."""
        alpha, beta = (0.05, 0.2, 0.1), (0.2, 0.05, 0.1)
        params = with_concentrations(policy, alpha, beta)
        actions, log_prob, _ = policy.act({"states": states(20_000), "key": KEY}, "policy", params)
        a, b = np.asarray(alpha), np.asarray(beta)
        unit = (np.asarray(actions, np.float64) - LOW) / SCALE
        np.testing.assert_allclose(unit.mean(0), a / (a + b), atol=0.01)
        np.testing.assert_allclose(unit.var(0), a * b / ((a + b) ** 2 * (a + b + 1)), rtol=0.05)
        assert np.isfinite(log_prob).all()

    def test_entropy_matches_scipy_and_minus_the_mean_log_prob(self, policy, monte_carlo):
        """get_entropy(outputs) = scipy.stats.beta(a, b, loc, scale).entropy(); Monte-Carlo -E[log p] agrees."""
        _, log_prob, outputs, _ = monte_carlo
        expected = stats.beta(ALPHA, BETA, loc=LOW, scale=SCALE).entropy()
        entropy = policy.get_entropy(outputs, role="policy")
        assert entropy.shape == (100_000, 3)
        np.testing.assert_allclose(entropy[0], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(-np.asarray(log_prob, np.float64).mean(), expected.sum(), atol=0.02)

    def test_same_key_same_actions_other_key_other_actions(self, policy):
        """inputs['key'] chooses the noise."""
        first = policy.act({"states": states(), "key": KEY}, "policy")[0]
        again = policy.act({"states": states(), "key": KEY}, "policy")[0]
        other = policy.act({"states": states(), "key": jax.random.PRNGKey(8)}, "policy")[0]
        np.testing.assert_array_equal(first, again)
        assert not np.allclose(first, other)


class TestEntropyArgument:
    def test_an_alpha_beta_pair_works_like_the_outputs_dict(self, policy):
        """get_entropy((alpha, beta)) equals get_entropy(outputs)."""
        _, _, outputs = policy.act({"states": states(), "key": KEY}, "policy")
        np.testing.assert_array_equal(
            policy.get_entropy((outputs["alpha"], outputs["beta"]), "policy"), policy.get_entropy(outputs, "policy")
        )

    def test_a_wrong_argument_is_a_value_error(self, policy):
        """A bare array (e.g. outputs['stddev'] as Gaussian PPO passes), a dict without alpha, a wrong width."""
        _, _, outputs = policy.act({"states": states(), "key": KEY}, "policy")
        with pytest.raises(ValueError, match="expects the outputs dict.*got ArrayImpl \\(shape \\(64, 3\\)\\)"):
            policy.get_entropy(outputs["stddev"], "policy")
        with pytest.raises(ValueError, match="no 'alpha'"):
            policy.get_entropy({"stddev": outputs["stddev"]}, "policy")
        with pytest.raises(ValueError, match="last dimension 3, got shape \\(64, 4\\)"):
            policy.get_entropy((outputs["alpha"], states()), "policy")


class TestGradientsAndJit:
    def test_pathwise_gradient_of_the_mean_action_is_unbiased(self, monte_carlo):
        """jax.grad of the summed actions reaches both concentrations and, averaged over 1e5 draws, equals
        d E[x]/d a = b/(a+b)^2 and d E[x]/d b = -a/(a+b)^2 with x = (action - low)/s."""
        grads = monte_carlo[3]
        a, b = np.asarray(ALPHA), np.asarray(BETA)
        alpha_grad = np.asarray(grads["alpha"]) / (100_000 * SCALE)
        beta_grad = np.asarray(grads["beta"]) / (100_000 * SCALE)
        np.testing.assert_allclose(alpha_grad, b / (a + b) ** 2, rtol=0.03)
        np.testing.assert_allclose(beta_grad, -a / (a + b) ** 2, rtol=0.03)

    def test_act_under_jit_equals_the_eager_act_with_the_same_key(self, policy):
        """The whole act traces inside a caller's jax.jit; same key, same actions, log-probs and outputs."""
        jitted = jax.jit(lambda params, s, key: policy.act({"states": s, "key": key}, "policy", params))
        eager = policy.act({"states": states(), "key": KEY}, "policy")
        traced = jitted(policy.state_dict.params, states(), KEY)
        for expected, got in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(traced), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


class TestRoles:
    def test_shared_model_dispatches_the_value_role_to_the_deterministic_mixin(self):
        """A Beta policy + value model routes each role to its own mixin; the value role has no entropy."""

        class ActorCritic(BetaMixin, DeterministicMixin, Model):
            def __init__(self, observation_space=4, action_space=None, device=None, parent=None, name=None):
                Model.__init__(self, observation_space, gymnasium.spaces.Box(LOW, HIGH), device, parent, name)
                BetaMixin.__init__(self, role="policy")
                DeterministicMixin.__init__(self, role="value")

            @nn.compact
            def __call__(self, inputs, role):
                out = nn.Dense(7, name="head")(inputs["states"])
                if role == "policy":
                    concentrations = nn.softplus(out[:, :6]) + 1.0
                    return concentrations[:, :3], concentrations[:, 3:], {}
                return out[:, 6:], {}

        model = ActorCritic()
        model.init_state_dict("policy")
        value, none, _ = model.act({"states": states()}, "value")
        assert value.shape == (N, 1) and none is None
        outputs = {"alpha": jnp.full((N, 3), 2.0), "beta": jnp.full((N, 3), 3.0)}
        assert model.get_entropy(outputs, "policy").shape == (N, 3)
        with pytest.raises(ValueError, match="DeterministicMixin, which has no entropy"):
            model.get_entropy(outputs, "value")


class TestBackendParity:
    """The torch and JAX Beta functions give the same values on the same inputs."""

    RNG = np.random.default_rng(3)
    A = RNG.uniform(0.2, 8.0, (6, 3)).astype(np.float32)
    B = RNG.uniform(0.2, 8.0, (6, 3)).astype(np.float32)
    X = np.concatenate([RNG.uniform(0, 1, (4, 3)), [[0.0, 1.0, 0.5], [1.0, 0.0, 1e-9]]]).astype(np.float32)

    @pytest.fixture(scope="class")
    @classmethod
    def torch_distributions(cls):
        pytest.importorskip("torch")
        from mixrl.models.torch import distributions

        return distributions

    def test_log_prob_agrees_with_torch_and_scipy(self, torch_distributions):
        """beta_log_prob on both backends (bounds included, clamped alike); interior points equal scipy."""
        import torch

        got_jax = np.asarray(jax_distributions.beta_log_prob(self.A, self.B, self.X))
        got_torch = torch_distributions.beta_log_prob(*map(torch.from_numpy, (self.A, self.B, self.X))).numpy()
        np.testing.assert_allclose(got_jax, got_torch, rtol=1e-5, atol=1e-4)
        inner = stats.beta.logpdf(self.X[:4].astype(np.float64), self.A[:4], self.B[:4])
        np.testing.assert_allclose(got_jax[:4], inner, rtol=1e-5, atol=1e-5)

    def test_log_prob_of_logit_and_entropy_agree_with_torch_and_scipy(self, torch_distributions):
        """beta_log_prob_of_logit at logit(x) and beta_entropy on both backends match scipy."""
        import torch

        x = self.X[:4].astype(np.float64)
        logit = np.log(x / (1 - x)).astype(np.float32)
        expected = stats.beta.logpdf(x, self.A[:4], self.B[:4])
        args = (self.A[:4], self.B[:4], logit)
        np.testing.assert_allclose(jax_distributions.beta_log_prob_of_logit(*args), expected, rtol=1e-5, atol=1e-5)
        got_torch = torch_distributions.beta_log_prob_of_logit(*map(torch.from_numpy, args)).numpy()
        np.testing.assert_allclose(got_torch, expected, rtol=1e-5, atol=1e-5)
        entropy = stats.beta(self.A, self.B).entropy()
        np.testing.assert_allclose(jax_distributions.beta_entropy(self.A, self.B), entropy, rtol=1e-5, atol=1e-5)
        got_torch = torch_distributions.beta_entropy(torch.from_numpy(self.A), torch.from_numpy(self.B)).numpy()
        np.testing.assert_allclose(got_torch, entropy, rtol=1e-5, atol=1e-5)
