"""MultiCategoricalMixin on both backends: one categorical per MultiDiscrete component, against SciPy."""

import gymnasium
import numpy as np
import pytest
from scipy import special, stats

from .conftest import N

UNEQUAL, EQUAL = [3, 2, 4], [4, 4, 4]


@pytest.fixture(params=[UNEQUAL, EQUAL], ids=["unequal", "equal"])
def nvec(request):
    return request.param


def build(backend, nvec, **kwargs):
    return backend.build("MultiCategoricalPolicy", 5, gymnasium.spaces.MultiDiscrete(nvec), **kwargs)


def reference_log_probs(backend, policy, states, nvec):
    """Per-component log-softmax of the linear logits split by nvec (NumPy/SciPy): K arrays (N, n_k)."""
    w = backend.weights(policy)
    logits = states @ w["logits.kernel"] + w["logits.bias"]
    return [special.log_softmax(chunk, axis=-1) for chunk in np.split(logits, np.cumsum(nvec)[:-1], axis=-1)]


def per_component(log_probs, actions):
    """(N, K) log-probabilities of actions[:, k] under component k."""
    return np.concatenate([np.take_along_axis(lp, actions[:, k : k + 1], -1) for k, lp in enumerate(log_probs)], -1)


def taken_actions(nvec):
    return np.stack([np.arange(N) % n for n in nvec], axis=-1)


class TestShapes:
    @pytest.mark.parametrize("reduction, width", [("sum", 1), ("mean", 1), ("prod", 1), ("none", 3)])
    def test_actions_log_prob_net_output_and_entropy_shapes(self, backend, states, reduction, width):
        """nvec=[3, 2, 4]: actions (N, 3) in range, net_output (N, 9), log_prob and entropy (N, 1) or (N, 3)."""
        policy = build(backend, UNEQUAL, reduction=reduction)
        actions, log_prob, outputs = backend.act(policy, {"states": states})
        assert actions.shape == (N, 3) and actions.dtype == backend.int_dtype
        assert ((actions >= 0) & (actions < UNEQUAL)).all()
        assert log_prob.shape == (N, width) and outputs["net_output"].shape == (N, 9)
        assert backend.entropy(policy, outputs).shape == (N, width)

    @pytest.mark.parametrize("space", [gymnasium.spaces.Box(-1.0, 1.0, (3,)), 9])
    def test_action_space_must_be_multidiscrete(self, backend, space):
        """A Box or an int action space is refused at construction, naming what came."""
        with pytest.raises(ValueError, match="MultiDiscrete"):
            backend.models.MultiCategoricalPolicy(5, space)

    def test_invalid_reduction_is_rejected(self, backend):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            backend.models.MultiCategoricalPolicy(5, gymnasium.spaces.MultiDiscrete(UNEQUAL), reduction="max")


class TestMath:
    def test_log_prob_of_taken_actions_is_the_sum_of_component_log_probs(self, backend, states, nvec):
        """log p(a) = sum_k log softmax(logits_k)[a_k]; float taken_actions are cast."""
        policy = build(backend, nvec)
        taken = taken_actions(nvec)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken.astype(np.float32)})
        expected = per_component(reference_log_probs(backend, policy, states, nvec), taken).sum(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)

    def test_log_prob_of_sampled_actions_per_component_with_reduction_none(self, backend, states, nvec):
        """Without taken_actions, 'none' gives each component's log-prob of the returned actions (N, K)."""
        policy = build(backend, nvec, reduction="none")
        actions, log_prob, _ = backend.act(policy, {"states": states}, seed=0)
        expected = per_component(reference_log_probs(backend, policy, states, nvec), actions.astype(int))
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    def test_mean_reduction_averages_components(self, backend, states):
        """'mean' is the average of the K component log-probs."""
        policy = build(backend, UNEQUAL, reduction="mean")
        taken = taken_actions(UNEQUAL)
        _, log_prob, _ = backend.act(policy, {"states": states, "taken_actions": taken})
        expected = per_component(reference_log_probs(backend, policy, states, UNEQUAL), taken).mean(-1, keepdims=True)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("reduction", ["sum", "none"])
    def test_entropy_is_per_component_then_reduced(self, backend, states, nvec, reduction):
        """get_entropy: scipy entropy of each component (not of the concatenated logits), summed or kept."""
        policy = build(backend, nvec, reduction=reduction)
        _, _, outputs = backend.act(policy, {"states": states})
        log_probs = reference_log_probs(backend, policy, states, nvec)
        expected = np.stack([stats.entropy(np.exp(lp), axis=-1) for lp in log_probs], -1)
        expected = expected.sum(-1, keepdims=True) if reduction == "sum" else expected
        np.testing.assert_allclose(backend.entropy(policy, outputs), expected, rtol=1e-5)

    def test_probabilities_mode_gives_the_same_log_probs_as_logits(self, backend, states, nvec):
        """unnormalized_log_prob=False reading per-component softmax(logits) equals reading the logits."""
        logits_policy = build(backend, nvec, reduction="none")
        probs_policy = build(backend, nvec, reduction="none", probabilities=True)
        backend.set_weights(probs_policy, **backend.weights(logits_policy))
        inputs = {"states": states, "taken_actions": taken_actions(nvec)}
        np.testing.assert_allclose(
            backend.act(probs_policy, inputs)[1], backend.act(logits_policy, inputs)[1], rtol=1e-5, atol=1e-5
        )

    def test_sampling_frequencies_follow_each_component_and_are_independent(self, backend, nvec):
        """Monte-Carlo, 1e5 draws: marginals match softmax(chunk_k); the joint of components 0, 1 is their
        product (skrl's JAX version reuses one key for every component)."""
        policy = build(backend, nvec)
        states = np.zeros((100_000, 5), np.float32)
        actions = backend.act(policy, {"states": states}, seed=2)[0].astype(int)
        probs = [np.exp(lp[0]) for lp in reference_log_probs(backend, policy, states[:1], nvec)]
        for k, p in enumerate(probs):
            np.testing.assert_allclose(np.bincount(actions[:, k], minlength=nvec[k]) / len(actions), p, atol=0.01)
        joint = np.bincount(actions[:, 0] * nvec[1] + actions[:, 1], minlength=nvec[0] * nvec[1]) / len(actions)
        np.testing.assert_allclose(joint, np.outer(probs[0], probs[1]).ravel(), atol=0.01)

    def test_log_prob_gradients_reach_the_network(self, backend, states):
        """PPO differentiates log_prob(taken_actions) with respect to the logits."""
        policy = build(backend, UNEQUAL)
        inputs = {"states": states, "taken_actions": np.zeros((N, 3), np.int64)}
        grads, _ = backend.gradients(policy, inputs, lambda _, log_prob, __: log_prob.sum())
        assert np.abs(grads["logits.kernel"]).sum() > 0

    def test_multidiscrete_start_shifts_actions_and_taken_actions(self, backend, states):
        """MultiDiscrete([3, 2], start=[5, -1]): actions in 5..7 and -1..0; log_prob([5, -1]) is that of [0, 0]."""
        space = gymnasium.spaces.MultiDiscrete([3, 2], start=[5, -1])
        policy = backend.build("MultiCategoricalPolicy", 5, space, reduction="none")
        actions = backend.act(policy, {"states": np.zeros((500, 5))}, seed=0)[0]
        assert set(np.unique(actions[:, 0]).tolist()) == {5, 6, 7} and set(np.unique(actions[:, 1]).tolist()) == {-1, 0}
        taken = np.tile([[5, -1]], (N, 1))
        log_prob = backend.act(policy, {"states": states, "taken_actions": taken})[1]
        expected = per_component(reference_log_probs(backend, policy, states, [3, 2]), np.zeros((N, 2), int))
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)

    def test_discrete_space_is_one_component(self, backend, states):
        """Discrete(3, start=2): one component; actions in 2..4; log_prob(2) is log_softmax(logits)[:, 0]."""
        policy = backend.build("MultiCategoricalPolicy", 5, gymnasium.spaces.Discrete(3, start=2))
        actions = backend.act(policy, {"states": np.zeros((300, 5))}, seed=0)[0]
        assert actions.shape == (300, 1) and set(np.unique(actions).tolist()) == {2, 3, 4}
        log_prob = backend.act(policy, {"states": states, "taken_actions": np.full((N, 1), 2)})[1]
        expected = reference_log_probs(backend, policy, states, [3])[0][:, :1]
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)


class TestRoles:
    def test_each_role_keeps_its_own_reduction(self, backend):
        """Registering a second role does not overwrite the first one's reduction."""
        model = backend.build("TwoMultiCategoricals", 2, gymnasium.spaces.MultiDiscrete(UNEQUAL))
        states = np.zeros((8, 2), np.float32)
        assert backend.act(model, {"states": states}, role="summed")[1].shape == (8, 1)
        assert backend.act(model, {"states": states}, role="separate")[1].shape == (8, 3)

    def test_unknown_role_on_a_multi_role_model_is_an_error(self, backend):
        """The error lists the registered roles."""
        model = backend.build("TwoMultiCategoricals", 2, gymnasium.spaces.MultiDiscrete(UNEQUAL))
        with pytest.raises(ValueError, match="unknown role 'value'.*'summed', 'separate'"):
            backend.act(model, {"states": np.zeros((1, 2))}, role="value")
