"""The README's JAX Gaussian policy, run as written."""

import flax.linen as nn
import jax
import jax.numpy as jnp
from gymnasium.spaces import Box

from mixrl.models.jax import GaussianMixin, Model


class Policy(GaussianMixin, Model):
    def __init__(self, observation_space, action_space, device=None, clip_actions=False,
                 clip_log_std=True, min_log_std=-20, max_log_std=2, reduction="sum", **kwargs):  # fmt: skip
        Model.__init__(self, observation_space, action_space, device, **kwargs)
        GaussianMixin.__init__(self, clip_actions, clip_log_std, min_log_std, max_log_std, reduction)

    @nn.compact
    def __call__(self, inputs, role):
        h = nn.elu(nn.Dense(64)(inputs["states"]))
        log_std = self.param("log_std", lambda _: jnp.zeros(self.num_actions))
        return nn.Dense(self.num_actions)(h), log_std, {}


def test_readme_gaussian_policy_example():
    """Build, init_state_dict, act on 4096 states: the documented shapes."""
    policy = Policy(Box(-1, 1, (60,)), Box(-1, 1, (8,)))
    policy.init_state_dict("policy")  # mandatory before use
    states = jax.random.normal(jax.random.PRNGKey(0), (4096, 60))
    actions, log_prob, outputs = policy.act({"states": states}, role="policy")
    assert actions.shape == (4096, 8) and log_prob.shape == (4096, 1)
    assert outputs["mean_actions"].shape == (4096, 8)
    assert policy.get_entropy(outputs["stddev"], role="policy").shape == (4096, 8)
