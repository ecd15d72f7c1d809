"""PPO on CartPole-v1 in JAX/Flax with mixrl models written by hand; acting and the whole update are jitted.

A categorical policy (``CategoricalMixin``) and a separate state-value function (``DeterministicMixin``)
are called as ``model.act(inputs, role, params)`` inside ``jax.jit``, with an explicit PRNG key in
``inputs["key"]`` for every call that samples; optax updates ``state_dict.params`` and the new parameters
are stored back with ``state_dict.replace(params=...)``. Training is one call of the JAX reference PPO,
:func:`mixrl.demo.ppo_jax.learn` (one jitted function per rollout step, the whole update in one ``lax.scan``).

Run: ``python examples/jax_ppo_cartpole.py [--steps 65536] [--seed 0]``
"""

from __future__ import annotations

import argparse
import math
import time

import flax.linen as nn
import jax
import numpy as np

from mixrl.demo.common import PPOConfig, evaluate, make_envs
from mixrl.demo.ppo_jax import greedy, learn
from mixrl.models.jax import CategoricalMixin, DeterministicMixin, Model

ENV_ID = "CartPole-v1"
CONFIG = PPOConfig(
    rollout_steps=128, epochs=10, minibatches=4, gamma=0.99, gae_lambda=0.95, entropy_coef=0.01, reward_scale=1.0
)


def mlp(x: jax.Array, hidden: int, outputs: int, output_scale: float) -> jax.Array:
    """Two tanh layers then a linear one, orthogonally initialised (small ``output_scale`` for the policy head)."""
    for _ in range(2):
        x = nn.tanh(nn.Dense(hidden, kernel_init=nn.initializers.orthogonal(math.sqrt(2)))(x))
    return nn.Dense(outputs, kernel_init=nn.initializers.orthogonal(output_scale))(x)


class Policy(CategoricalMixin, Model):
    """Logits (batch, num_actions) of a categorical policy."""

    def __init__(self, observation_space=None, action_space=None, device=None, hidden: int = 64, **kwargs) -> None:
        Model.__init__(self, observation_space, action_space, device, **kwargs)
        self.hidden = hidden
        CategoricalMixin.__init__(self, unnormalized_log_prob=True)  # ends with Module.__post_init__

    @nn.compact
    def __call__(self, inputs: dict, role: str) -> tuple[jax.Array, dict]:
        return mlp(inputs["states"], self.hidden, self.num_actions, output_scale=0.01), {}


class Value(DeterministicMixin, Model):
    """State value V(s) (batch, 1)."""

    def __init__(self, observation_space=None, action_space=None, device=None, hidden: int = 64, **kwargs) -> None:
        Model.__init__(self, observation_space, action_space, device, **kwargs)
        self.hidden = hidden
        DeterministicMixin.__init__(self)

    @nn.compact
    def __call__(self, inputs: dict, role: str) -> tuple[jax.Array, dict]:
        return mlp(inputs["states"], self.hidden, 1, output_scale=1.0), {}


def main(steps: int = 65_536, seed: int = 0) -> float:
    """Train PPO for ``steps`` environment steps and return the mean return of the greedy (mode) policy.

    Args:
        steps: environment steps, summed over the sub-envs (rounded down to whole rollouts).
        seed: seed of every JAX key (parameters, sampling, minibatches) and of the env resets.

    Returns:
        Mean return of 10 evaluation episodes (CartPole: about 20 for a random policy, 500 at most).
    """
    start = time.perf_counter()
    envs = make_envs(ENV_ID, CONFIG.num_envs, seed)
    policy = Policy(envs.single_observation_space, envs.single_action_space)
    value = Value(envs.single_observation_space, envs.single_action_space)
    policy_key, value_key = jax.random.split(jax.random.PRNGKey(seed))
    policy.init_state_dict("policy", key=policy_key)
    value.init_state_dict("value", key=value_key)
    learn(policy, value, envs, steps, seed, CONFIG)
    envs.close()
    mean_return = float(np.mean(evaluate(ENV_ID, greedy(policy), seed=seed + 10_000)))
    print(f"JAX PPO {ENV_ID}: mean return {mean_return:.1f} after {steps} steps in {time.perf_counter() - start:.1f} s")
    return mean_return


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # no _common: this example needs no torch
    parser.add_argument("--steps", type=int, default=65_536, help="environment steps (default 65536)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0)")
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
