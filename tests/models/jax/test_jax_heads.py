"""JAX-only behaviour of the heads: ``get_entropy``'s argument, the NaN ``stddev`` placeholder of the discrete
heads (kept for skrl's JAX agents), keys and ``jax.jit``.

The shared behaviour of every head (shapes, log-probabilities, entropies, sampling) is in ``tests/models/test_*.py``.
"""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from .conftest import N, build
from .models import BetaPolicy, CategoricalPolicy, GaussianPolicy, MultiCategoricalPolicy

BOX_OBS = gymnasium.spaces.Box(-1.0, 1.0, (5,))
KEY = jax.random.PRNGKey(7)


@pytest.fixture(scope="module")
def categorical():
    return build(CategoricalPolicy, BOX_OBS, gymnasium.spaces.Discrete(4))


@pytest.fixture(scope="module")
def multi():
    return build(MultiCategoricalPolicy, BOX_OBS, gymnasium.spaces.MultiDiscrete([3, 2, 4]))


@pytest.fixture(scope="module")
def beta():
    return build(BetaPolicy, 4, gymnasium.spaces.Box(np.float32([-2, 0, 5]), np.float32([2, 1, 6])))


class TestStddevPlaceholder:
    @pytest.mark.parametrize("model, n", [("categorical", 4), ("multi", 9)])
    def test_discrete_heads_carry_a_nan_stddev_whose_entropy_raises(self, request, states, model, n):
        """outputs['stddev'] is NaN (N, 1); skrl's JAX PPO passes it to get_entropy and got NaN: mixrl raises."""
        policy = request.getfixturevalue(model)
        _, _, outputs = policy.act({"states": states}, role="policy")
        assert outputs["stddev"].shape == (N, 1) and np.isnan(outputs["stddev"]).all()
        with pytest.raises(ValueError, match=rf"last dimension {n}, got shape \(16, 1\)"):
            policy.get_entropy(outputs["stddev"], role="policy")


class TestEntropyArgument:
    def test_discrete_heads_accept_the_net_output_or_the_outputs_dict(self, categorical, multi, states):
        """get_entropy(outputs['net_output']) equals get_entropy(outputs)."""
        for policy in (categorical, multi):
            _, _, outputs = policy.act({"states": states}, role="policy")
            np.testing.assert_array_equal(
                policy.get_entropy(outputs["net_output"], "policy"), policy.get_entropy(outputs, "policy")
            )

    def test_gaussian_refuses_an_array_of_another_width_or_a_dict_without_stddev(self, states):
        """Passing the states (width 5) or a dict without 'stddev' is refused (no silent broadcasting)."""
        policy = build(GaussianPolicy, BOX_OBS, gymnasium.spaces.Box(-1, 1, (3,)))
        _, _, outputs = policy.act({"states": states}, role="policy")
        np.testing.assert_array_equal(
            policy.get_entropy(outputs["stddev"], "policy"), policy.get_entropy(outputs, "policy")
        )
        with pytest.raises(ValueError, match="last dimension 3, got shape \\(16, 5\\)"):
            policy.get_entropy(states, role="policy")
        with pytest.raises(ValueError, match="no 'stddev'"):
            policy.get_entropy({"net_output": states}, role="policy")

    def test_beta_takes_the_outputs_dict_or_an_alpha_beta_pair(self, beta):
        """get_entropy((alpha, beta)) equals get_entropy(outputs); a bare array, a dict without alpha or a wrong
        width are ValueErrors."""
        _, _, outputs = beta.act({"states": jnp.zeros((64, 4)), "key": KEY}, "policy")
        np.testing.assert_array_equal(
            beta.get_entropy((outputs["alpha"], outputs["beta"]), "policy"), beta.get_entropy(outputs, "policy")
        )
        with pytest.raises(ValueError, match="expects the outputs dict.*got ArrayImpl \\(shape \\(64, 3\\)\\)"):
            beta.get_entropy(outputs["stddev"], "policy")
        with pytest.raises(ValueError, match="no 'alpha'"):
            beta.get_entropy({"stddev": outputs["stddev"]}, "policy")
        with pytest.raises(ValueError, match="last dimension 3, got shape \\(64, 4\\)"):
            beta.get_entropy((outputs["alpha"], jnp.zeros((64, 4))), "policy")


class TestKeysAndJit:
    def test_same_key_same_actions_other_key_other_actions(self, beta):
        """inputs['key'] chooses the noise."""
        first = beta.act({"states": jnp.zeros((64, 4)), "key": KEY}, "policy")[0]
        np.testing.assert_array_equal(first, beta.act({"states": jnp.zeros((64, 4)), "key": KEY}, "policy")[0])
        other = beta.act({"states": jnp.zeros((64, 4)), "key": jax.random.PRNGKey(8)}, "policy")[0]
        assert not np.allclose(first, other)

    def test_beta_act_under_jit_equals_the_eager_act_with_the_same_key(self, beta):
        """The whole act (gamma sampling included) traces inside a caller's jax.jit."""
        jitted = jax.jit(lambda params, s, key: beta.act({"states": s, "key": key}, "policy", params))
        eager = beta.act({"states": jnp.zeros((64, 4)), "key": KEY}, "policy")
        traced = jitted(beta.state_dict.params, jnp.zeros((64, 4)), KEY)
        for expected, got in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(traced), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)

    def test_a_fully_masked_row_inside_jit_is_not_checked_and_has_a_nan_log_prob(self, categorical, states):
        """A traced mask cannot be checked on the host: the fully masked row's log-prob is NaN, others are finite."""
        mask = np.ones((N, 4), bool)
        mask[3] = False
        inputs = {"states": states, "taken_actions": jnp.zeros((N, 1), jnp.int32), "key": KEY}

        def log_prob(params, mask):
            return categorical.act({**inputs, "action_mask": mask}, "policy", params)[1]

        result = np.asarray(jax.jit(log_prob)(categorical.state_dict.params, jnp.asarray(mask)))
        assert np.isnan(result[3]).all() and np.isfinite(np.delete(result, 3, axis=0)).all()
