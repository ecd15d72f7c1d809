import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from .conftest import MultiCategoricalPolicy, N, build, params_of

NVEC = [3, 2, 4]


def reference_log_probs(policy, states):
    """Per-component log-softmax of the linear logits split by nvec (NumPy/SciPy)."""
    logits = np.asarray(states) @ params_of(policy, "logits", "kernel") + params_of(policy, "logits", "bias")
    return [special.log_softmax(chunk, axis=-1) for chunk in np.split(logits, np.cumsum(NVEC)[:-1], axis=-1)]


@pytest.fixture(scope="module")
def spaces():
    return gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.MultiDiscrete(NVEC)


@pytest.fixture(scope="module")
def policy(spaces):
    return build(MultiCategoricalPolicy, *spaces)


class TestShapes:
    def test_actions_log_prob_and_outputs(self, policy, states):
        """nvec=[3, 2, 4]: actions (N, 3) int32 in range per component, log_prob (N, 1), net_output (N, 9)."""
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 3) and actions.dtype == jnp.int32
        assert (np.asarray(actions) < NVEC).all() and (np.asarray(actions) >= 0).all()
        assert log_prob.shape == (N, 1) and outputs["net_output"].shape == (N, 9)
        assert outputs["stddev"].shape == (N, 1) and np.isnan(outputs["stddev"]).all()

    def test_reduction_none_keeps_one_column_per_component(self, spaces, states):
        """reduction='none': log_prob (N, 3); get_entropy (N, 3)."""
        model = build(MultiCategoricalPolicy, *spaces, reduction="none")
        _, log_prob, outputs = model.act({"states": states}, role="policy")
        assert log_prob.shape == (N, 3) and model.get_entropy(outputs, role="policy").shape == (N, 3)

    def test_needs_a_multidiscrete_action_space(self):
        """A Discrete action space is refused at construction."""
        with pytest.raises(ValueError, match="MultiDiscrete action space"):
            MultiCategoricalPolicy(5, gymnasium.spaces.Discrete(3))


class TestMath:
    def test_log_prob_of_taken_actions_is_the_sum_of_component_log_probs(self, policy, states):
        """log p(a) = sum_k log softmax(logits_k)[a_k]."""
        taken = np.stack([np.arange(N) % n for n in NVEC], axis=-1)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        parts = [
            np.take_along_axis(lp, taken[:, k : k + 1], -1) for k, lp in enumerate(reference_log_probs(policy, states))
        ]
        np.testing.assert_allclose(log_prob, np.sum(parts, axis=0), rtol=1e-5, atol=1e-6)

    def test_entropy_is_per_component_then_reduced(self, policy, states):
        """get_entropy splits the logits by nvec (skrl treats them as one categorical): sum of component entropies."""
        _, _, outputs = policy.act({"states": states}, role="policy")
        per_component = np.stack([stats.entropy(np.exp(lp), axis=-1) for lp in reference_log_probs(policy, states)], -1)
        np.testing.assert_allclose(
            policy.get_entropy(outputs["net_output"], role="policy"), per_component.sum(-1, keepdims=True), rtol=1e-5
        )

    def test_entropy_of_the_stddev_placeholder_raises(self, policy, states):
        """outputs["stddev"] has last dimension 1, not sum(nvec) = 9."""
        _, _, outputs = policy.act({"states": states}, role="policy")
        with pytest.raises(ValueError, match="last dimension 9"):
            policy.get_entropy(outputs["stddev"], role="policy")

    def test_components_are_sampled_with_independent_keys(self, spaces):
        """Two components with identical uniform distributions are uncorrelated (skrl reuses one subkey)."""
        model = build(MultiCategoricalPolicy, gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.MultiDiscrete([2, 2]))
        zeroed = jax.tree_util.tree_map(jnp.zeros_like, model.state_dict.params)  # uniform logits
        actions, _, _ = model.act({"states": jnp.zeros((4000, 5))}, role="policy", params=zeroed)
        actions = np.asarray(actions)
        assert abs(np.corrcoef(actions[:, 0], actions[:, 1])[0, 1]) < 0.06
        np.testing.assert_allclose(actions.mean(0), [0.5, 0.5], atol=0.04)

    def test_multidiscrete_start_is_honoured(self, states):
        """MultiDiscrete([3, 2], start=[1, -1]): samples shifted, taken actions unshifted before indexing."""
        space = gymnasium.spaces.MultiDiscrete([3, 2], start=[1, -1])
        model = build(MultiCategoricalPolicy, gymnasium.spaces.Box(-1, 1, (5,)), space)
        actions, _, _ = model.act({"states": jnp.zeros((500, 5))}, role="policy")
        assert set(np.unique(np.asarray(actions)[:, 0]).tolist()) == {1, 2, 3}
        assert set(np.unique(np.asarray(actions)[:, 1]).tolist()) == {-1, 0}
        zero = model.act({"states": states, "taken_actions": np.tile([[1, -1]], (N, 1))}, role="policy")[1]
        logits = np.asarray(states) @ params_of(model, "logits", "kernel") + params_of(model, "logits", "bias")
        expected = special.log_softmax(logits[:, :3], -1)[:, :1] + special.log_softmax(logits[:, 3:], -1)[:, :1]
        np.testing.assert_allclose(zero, expected, rtol=1e-5, atol=1e-6)
