import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from .conftest import CategoricalPolicy, N, build, params_of


def reference_log_probs(policy, states):
    """log-softmax of the policy's linear logits, computed with NumPy/SciPy."""
    logits = np.asarray(states) @ params_of(policy, "logits", "kernel") + params_of(policy, "logits", "bias")
    return special.log_softmax(logits, axis=-1)


@pytest.fixture(scope="module")
def policy():
    return build(CategoricalPolicy, gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Discrete(4))


class TestShapesAndOutputs:
    def test_actions_log_prob_and_outputs(self, policy, states):
        """actions (N, 1) int32 in 0..n-1, log_prob (N, 1), net_output (N, n), NaN stddev placeholder (N, 1)."""
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 1) and actions.dtype == jnp.int32
        assert ((actions >= 0) & (actions < 4)).all()
        assert log_prob.shape == (N, 1) and outputs["net_output"].shape == (N, 4)
        assert outputs["stddev"].shape == (N, 1) and np.isnan(outputs["stddev"]).all()

    def test_log_prob_of_sampled_actions(self, policy, states):
        """The log-prob is that of the returned actions under log-softmax(logits)."""
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        expected = np.take_along_axis(reference_log_probs(policy, states), np.asarray(actions), axis=-1)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)


class TestMath:
    def test_log_prob_of_taken_actions(self, policy, states):
        """taken_actions (N, 1) (any numeric dtype) index the normalised log-probabilities."""
        taken = np.arange(N).reshape(-1, 1) % 4
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken.astype(np.float32)}, role="policy")
        expected = np.take_along_axis(reference_log_probs(policy, states), taken, axis=-1)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    def test_probabilities_mode_matches_logits_mode(self, policy, states):
        """unnormalized_log_prob=False reads softmax outputs as probabilities: the same log-probs."""
        probs = CategoricalPolicy(gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Discrete(4), probabilities=True)
        probs.init_state_dict("policy")
        probs.state_dict = probs.state_dict.replace(params=policy.state_dict.params)
        taken = np.arange(N).reshape(-1, 1) % 4
        inputs = {"states": states, "taken_actions": taken}
        _, log_prob, outputs = probs.act(inputs, role="policy")
        np.testing.assert_allclose(log_prob, policy.act(inputs, role="policy")[1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            probs.get_entropy(outputs["net_output"], role="policy"),
            stats.entropy(np.exp(reference_log_probs(policy, states)), axis=-1),
            rtol=1e-5,
        )

    def test_entropy_matches_scipy(self, policy, states):
        """get_entropy(net_output) (or the outputs dict) equals scipy.stats.entropy of softmax, shape (N,)."""
        _, _, outputs = policy.act({"states": states}, role="policy")
        expected = stats.entropy(np.exp(reference_log_probs(policy, states)), axis=-1)
        np.testing.assert_allclose(policy.get_entropy(outputs["net_output"], role="policy"), expected, rtol=1e-5)
        np.testing.assert_allclose(policy.get_entropy(outputs, role="policy"), expected, rtol=1e-5)

    def test_entropy_of_the_stddev_placeholder_raises_instead_of_nan(self, policy, states):
        """skrl's JAX PPO passes outputs["stddev"] and gets NaN; mixrl raises ValueError."""
        _, _, outputs = policy.act({"states": states}, role="policy")
        with pytest.raises(ValueError, match=r"last dimension 4, got shape \(16, 1\)"):
            policy.get_entropy(outputs["stddev"], role="policy")

    def test_sample_frequencies_follow_the_probabilities(self, policy):
        """Monte-Carlo: 20000 samples from one state match softmax(logits) within 0.015."""
        states = jnp.zeros((20_000, 5))
        actions, _, _ = policy.act({"states": states, "key": jax.random.PRNGKey(3)}, role="policy")
        frequencies = np.bincount(np.asarray(actions).ravel(), minlength=4) / 20_000
        np.testing.assert_allclose(frequencies, np.exp(reference_log_probs(policy, states[:1]))[0], atol=0.015)


class TestDiscreteStart:
    def test_start_is_added_to_samples_and_subtracted_from_taken_actions(self, states):
        """Discrete(4, start=2): actions in 2..5; taken action 2 has the probability of index 0."""
        model = build(CategoricalPolicy, gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Discrete(4, start=2))
        actions, _, _ = model.act({"states": jnp.zeros((2000, 5))}, role="policy")
        assert set(np.unique(np.asarray(actions)).tolist()) == {2, 3, 4, 5}
        taken = np.arange(N).reshape(-1, 1) % 4
        _, log_prob, _ = model.act({"states": states, "taken_actions": taken + 2}, role="policy")
        expected = np.take_along_axis(reference_log_probs(model, states), taken, axis=-1)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)
