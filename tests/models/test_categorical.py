"""CategoricalMixin on both backends, against scipy.special / scipy.stats on the model's weights."""

import gymnasium
import numpy as np
from scipy import special, stats

from .conftest import N

SPACE = gymnasium.spaces.Discrete(4)


def reference_log_probs(backend, policy, states):
    """log-softmax of the policy's linear logits, computed with NumPy/SciPy."""
    w = backend.weights(policy)
    return special.log_softmax(states @ w["logits.kernel"] + w["logits.bias"], axis=-1)


def taken_actions():
    return (np.arange(N) % 4).reshape(-1, 1)


class TestCategorical:
    def test_actions_log_prob_net_output_and_entropy_shapes(self, backend, box_obs, states):
        """actions (N, 1) integers in 0..n-1, log_prob (N, 1), outputs['net_output'] (N, n), entropy (N,)."""
        policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        actions, log_prob, outputs = backend.act(policy, {"states": states})
        assert actions.shape == (N, 1) and actions.dtype == backend.int_dtype
        assert ((actions >= 0) & (actions < 4)).all()
        assert log_prob.shape == (N, 1) and outputs["net_output"].shape == (N, 4)
        assert backend.entropy(policy, outputs).shape == (N,)

    def test_log_prob_of_taken_actions_indexes_the_log_softmax(self, backend, box_obs, states):
        """taken_actions (N, 1), even as floats, index the normalised log-probabilities."""
        policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        taken = taken_actions()
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken.astype(np.float32)})
        expected = np.take_along_axis(reference_log_probs(backend, policy, states), taken, axis=-1)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    def test_log_prob_of_sampled_actions(self, backend, box_obs, states):
        """Without taken_actions the log-prob is that of the returned actions."""
        policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=0)
        expected = np.take_along_axis(reference_log_probs(backend, policy, states), actions.astype(int), axis=-1)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    def test_entropy_matches_scipy(self, backend, box_obs, states):
        """get_entropy equals scipy.stats.entropy of softmax(logits)."""
        policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        _, _, outputs = backend.act(policy, {"states": states})
        expected = stats.entropy(np.exp(reference_log_probs(backend, policy, states)), axis=-1)
        np.testing.assert_allclose(backend.entropy(policy, outputs), expected, rtol=1e-5)

    def test_probabilities_mode_gives_the_same_log_probs_and_entropy_as_logits(self, backend, box_obs, states):
        """unnormalized_log_prob=False reading softmax(logits) equals reading the logits."""
        logits_policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        probs_policy = backend.build("CategoricalPolicy", box_obs, SPACE, probabilities=True)
        backend.set_weights(probs_policy, **backend.weights(logits_policy))
        inputs = {"states": states, "taken_actions": taken_actions()}
        _, log_prob, outputs = backend.act(probs_policy, inputs)
        np.testing.assert_allclose(log_prob, backend.act(logits_policy, inputs)[1], rtol=1e-5, atol=1e-5)
        expected = stats.entropy(np.exp(reference_log_probs(backend, logits_policy, states)), axis=-1)
        np.testing.assert_allclose(backend.entropy(probs_policy, outputs), expected, rtol=1e-5)

    def test_sampling_frequencies_follow_the_probabilities(self, backend, box_obs):
        """Monte-Carlo: 1e5 draws from one state match softmax(logits) within 0.01."""
        policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        states = np.zeros((100_000, 5), np.float32)
        actions, _, _ = backend.act(policy, {"states": states}, seed=2)
        frequencies = np.bincount(actions.ravel(), minlength=4) / len(actions)
        np.testing.assert_allclose(frequencies, np.exp(reference_log_probs(backend, policy, states[:1]))[0], atol=0.01)

    def test_discrete_start_is_added_to_actions_and_removed_from_taken_actions(self, backend, box_obs, states):
        """Discrete(4, start=2): actions in 2..5; taken action 2 has the probability of index 0."""
        policy = backend.build("CategoricalPolicy", box_obs, gymnasium.spaces.Discrete(4, start=2))
        actions, _, _ = backend.act(policy, {"states": np.zeros((2000, 5))}, seed=0)
        assert set(np.unique(actions).tolist()) == {2, 3, 4, 5}
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken_actions() + 2})
        expected = np.take_along_axis(reference_log_probs(backend, policy, states), taken_actions(), axis=-1)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    def test_log_prob_gradients_reach_the_logits(self, backend, box_obs, states):
        """PPO differentiates log_prob(taken_actions) with respect to the network."""
        policy = backend.build("CategoricalPolicy", box_obs, SPACE)
        inputs = {"states": states, "taken_actions": taken_actions()}
        grads, _ = backend.gradients(policy, inputs, lambda _, log_prob, __: log_prob.sum())
        assert np.abs(grads["logits.kernel"]).sum() > 0
