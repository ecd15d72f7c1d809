"""PPO on CartPole-v1 in JAX/Flax with mixrl models written by hand; acting and the whole update are jitted.

A categorical policy (``CategoricalMixin``) and a separate state-value function (``DeterministicMixin``)
are called as ``model.act(inputs, role, params)`` inside ``jax.jit``, with an explicit PRNG key in
``inputs["key"]`` for every call that samples; optax updates ``state_dict.params`` and the new parameters
are stored back with ``state_dict.replace(params=...)``.

Run: ``python examples/jax_ppo_cartpole.py [--steps 65536] [--seed 0]``
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any, NamedTuple

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mixrl.models.jax import CategoricalMixin, DeterministicMixin, Model

ENV_ID = "CartPole-v1"


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


class Batch(NamedTuple):
    """Flattened rollout: states (B, S), actions (B, 1), log_probs (B, 1), advantages (B, 1), returns (B, 1)."""

    states: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    advantages: jax.Array
    returns: jax.Array


def main(
    steps: int = 65_536,
    seed: int = 0,
    num_envs: int = 8,
    rollout: int = 128,
    epochs: int = 10,
    minibatches: int = 4,
    learning_rate: float = 1e-3,
    gamma: float = 0.99,
    lam: float = 0.95,
    clip: float = 0.2,
    entropy_coef: float = 0.01,
    value_coef: float = 0.5,
    eval_episodes: int = 10,
) -> float:
    """Train PPO for ``steps`` environment steps and return the mean return of the greedy (argmax) policy.

    Args:
        steps: environment steps, summed over the sub-envs (rounded down to whole rollouts).
        seed: seed of NumPy, every JAX key (parameters, sampling, minibatches) and the env resets.
        num_envs: parallel sub-envs.
        rollout: steps per sub-env between updates.
        epochs: passes over each rollout.
        minibatches: minibatches per pass.
        learning_rate: Adam learning rate, annealed linearly to 0.
        gamma: discount factor.
        lam: GAE lambda.
        clip: PPO ratio clip.
        entropy_coef: weight of the entropy bonus.
        value_coef: weight of the value loss.
        eval_episodes: evaluation episodes.

    Returns:
        Mean evaluation return (CartPole: about 20 for a random policy, 500 at most).
    """
    np.random.seed(seed)
    key = jax.random.PRNGKey(seed)
    env = gym.make_vec(
        ENV_ID,
        num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    env.action_space.seed(seed)
    policy = Policy(env.single_observation_space, env.single_action_space)
    value = Value(env.single_observation_space, env.single_action_space)
    key, policy_key, value_key = jax.random.split(key, 3)
    policy.init_state_dict("policy", key=policy_key)
    value.init_state_dict("value", key=value_key)
    params = {"policy": policy.state_dict.params, "value": value.state_dict.params}

    iterations = steps // (num_envs * rollout)
    updates = iterations * epochs * minibatches
    optimizer = optax.chain(
        optax.clip_by_global_norm(0.5), optax.adam(optax.linear_schedule(learning_rate, 0.0, updates))
    )
    opt_state = optimizer.init(params)

    def values_of(value_params: Any, states: jax.Array) -> jax.Array:
        """V(states) (N, 1), for use inside jitted functions.

        The value model is deterministic and ignores the key, but every ``act`` traced here gets one: with
        none, mixrl 0.1.0 creates the model's own key inside the trace and keeps that tracer on the model
        (``UnexpectedTracerError`` on the next call) when ``init_state_dict`` was given an explicit key.
        """
        return value.act({"states": states, "key": jax.random.PRNGKey(0)}, "value", value_params)[0]

    @jax.jit
    def act(params: dict, states: jax.Array, key: jax.Array) -> tuple[jax.Array, ...]:
        """Sample actions (N, 1) and their log-probs (N, 1), and the values (N, 1) of ``states``."""
        actions, log_probs, _ = policy.act({"states": states, "key": key}, "policy", params["policy"])
        return actions, log_probs, values_of(params["value"], states)

    @jax.jit
    def state_values(params: dict, states: jax.Array) -> jax.Array:
        """V(states) (N,)."""
        return values_of(params["value"], states)[:, 0]

    @jax.jit
    def advantages_and_returns(
        rewards: jax.Array, values: jax.Array, dones: jax.Array, last_values: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """GAE over a (T, N) rollout; ``dones`` cut the recursion (time limits are already bootstrapped in rewards)."""
        next_values = jnp.concatenate([values[1:], last_values[None]], axis=0)
        deltas = rewards + gamma * next_values * (1 - dones) - values

        def backwards(advantage: jax.Array, step: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
            delta, done = step
            advantage = delta + gamma * lam * (1 - done) * advantage
            return advantage, advantage

        _, advantages = jax.lax.scan(backwards, jnp.zeros_like(last_values), (deltas, dones), reverse=True)
        return advantages, advantages + values

    def loss_fn(params: dict, batch: Batch, key: jax.Array) -> jax.Array:
        """Clipped surrogate + value loss - entropy bonus on one minibatch."""
        inputs = {"states": batch.states, "taken_actions": batch.actions, "key": key}
        _, log_probs, outputs = policy.act(inputs, "policy", params["policy"])
        entropy = policy.get_entropy(outputs["net_output"], role="policy").mean()
        advantages = (batch.advantages - batch.advantages.mean()) / (batch.advantages.std() + 1e-8)
        ratio = jnp.exp(log_probs - batch.log_probs)
        surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - clip, 1 + clip) * advantages)
        value_loss = jnp.mean((values_of(params["value"], batch.states) - batch.returns) ** 2)
        return -surrogate.mean() + value_coef * value_loss - entropy_coef * entropy

    @jax.jit
    def update(params: dict, opt_state: Any, batch: Batch, key: jax.Array) -> tuple[dict, Any]:
        """``epochs`` shuffled passes of ``minibatches`` Adam steps over the rollout, in one compiled call."""

        def minibatch_step(carry: tuple, minibatch: tuple[Batch, jax.Array]) -> tuple[tuple, None]:
            params, opt_state = carry
            grads = jax.grad(loss_fn)(params, *minibatch)
            changes, opt_state = optimizer.update(grads, opt_state)
            return (optax.apply_updates(params, changes), opt_state), None

        def epoch(carry: tuple, key: jax.Array) -> tuple[tuple, None]:
            permutation_key, loss_key = jax.random.split(key)
            order = jax.random.permutation(permutation_key, batch.states.shape[0])
            shuffled = jax.tree.map(lambda x: x[order].reshape(minibatches, -1, *x.shape[1:]), batch)
            return jax.lax.scan(minibatch_step, carry, (shuffled, jax.random.split(loss_key, minibatches)))[0], None

        return jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, epochs))[0]

    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    shape = (rollout, num_envs)
    for _ in range(iterations):
        states = np.zeros((*shape, obs.shape[1]), np.float32)
        actions, log_probs = np.zeros((*shape, 1), np.int32), np.zeros((*shape, 1), np.float32)
        values, rewards, dones = np.zeros(shape, np.float32), np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        for t in range(rollout):
            key, act_key = jax.random.split(key)
            action, log_prob, state_value = act(params, obs, act_key)
            states[t], actions[t], log_probs[t], values[t] = obs, action, log_prob, state_value[:, 0]
            obs, reward, terminated, truncated, info = env.step(np.asarray(action)[:, 0])
            if truncated.any():  # a time limit is not a failure: bootstrap from the last observation's value
                final = np.stack([info["final_obs"][i] if truncated[i] else obs[i] for i in range(num_envs)])
                reward = reward + gamma * truncated * np.asarray(state_values(params, final))
            rewards[t], dones[t] = reward, terminated | truncated

        advantages, returns = advantages_and_returns(rewards, values, dones, state_values(params, obs))
        flat = (states, actions, log_probs, advantages[..., None], returns[..., None])
        batch = Batch(*(jnp.reshape(x, (rollout * num_envs, -1)) for x in flat))
        key, update_key = jax.random.split(key)
        params, opt_state = update(params, opt_state, batch, update_key)

    policy.state_dict = policy.state_dict.replace(params=params["policy"])
    value.state_dict = value.state_dict.replace(params=params["value"])
    env.close()
    mean_return = evaluate(policy, eval_episodes, seed=seed + 10_000)
    print(f"JAX PPO {ENV_ID}: mean return {mean_return:.1f} after {steps} steps in {time.perf_counter() - start:.1f} s")
    return mean_return


def evaluate(policy: Policy, num_episodes: int, seed: int) -> float:
    """Mean return of ``num_episodes`` greedy episodes (argmax of the logits), one per sub-env, side by side."""

    @jax.jit
    def greedy(params: Any, states: jax.Array) -> jax.Array:
        # the key only feeds the (unused) sample: any fixed key will do
        outputs = policy.act({"states": states, "key": jax.random.PRNGKey(0)}, "policy", params)[2]
        return jnp.argmax(outputs["net_output"], axis=-1)

    env = gym.make_vec(
        ENV_ID,
        num_episodes,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    obs, _ = env.reset(seed=seed)
    returns, running = np.zeros(num_episodes), np.ones(num_episodes, dtype=bool)
    while running.any():
        obs, rewards, terminated, truncated, _ = env.step(np.asarray(greedy(policy.state_dict.params, obs)))
        returns += rewards * running
        running &= ~(terminated | truncated)
    env.close()
    return float(returns.mean())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=65_536, help="environment steps (default 65536)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0)")
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
