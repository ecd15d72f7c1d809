"""The demo's PPO on the JAX backend: the shared model from the JAX instantiators and a jitted optax update.

The model description is the PyTorch demo's (a tanh MLP trunk, a ``policy`` head and a ``value`` head,
orthogonal initialisation). Rollouts call one jitted function per environment step (policy sample and value);
the update runs all epochs and minibatches of a rollout in one jitted ``lax.scan``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mixrl.demo.common import (
    POLICY_GAIN,
    TRUNK_GAIN,
    VALUE_GAIN,
    EpisodeTracker,
    History,
    PPOConfig,
    compute_gae,
    final_observations,
    make_envs,
    model_description,
    to_env_actions,
)
from mixrl.models.jax import Model
from mixrl.utils.model_instantiators.jax import load_model, shared_model

logger = logging.getLogger("mixrl")

Progress = Callable[[int, History], None]
Batch = dict[str, jax.Array]


def build_model(observation_space: gym.Space, action_space: gym.Space, config: PPOConfig, seed: int) -> Model:
    """The shared model of :func:`mixrl.demo.common.model_description`, orthogonally initialised from ``seed``.

    Raises:
        ValueError: an action space other than Discrete or Box.
    """
    model = shared_model(observation_space, action_space, **model_description(action_space, config))
    if not isinstance(model, Model):  # only return_source=True gives the class source instead
        raise TypeError(f"shared_model returned a {type(model).__name__}, not a model")
    model.init_state_dict("policy", key=jax.random.PRNGKey(seed))
    model.init_weights("orthogonal", scale=TRUNK_GAIN)
    model.init_biases("constant_", 0.0)
    variables = dict(model.state_dict.params)
    params = dict(variables["params"])
    heads = {"policy_layer": POLICY_GAIN, "value_layer": VALUE_GAIN}
    for (name, gain), key in zip(heads.items(), jax.random.split(jax.random.PRNGKey(seed), 2), strict=True):
        kernel = params[name]["kernel"]
        params[name] = {**params[name], "kernel": nn.initializers.orthogonal(gain)(key, kernel.shape, kernel.dtype)}
    variables["params"] = params
    model.state_dict = model.state_dict.replace(params=variables)
    return model


def _entropy(model: Model, outputs: dict[str, jax.Array]) -> jax.Array:
    """Entropy (batch,) of the policy distribution described by ``outputs``."""
    entropy = model.get_entropy(outputs["net_output" if "net_output" in outputs else "stddev"], role="policy")
    return entropy.reshape(entropy.shape[0], -1).sum(axis=-1) if entropy.ndim > 1 else entropy


def deterministic_actions(model: Model, states: np.ndarray) -> np.ndarray:
    """The greedy action for (batch, obs) ``states``: the categorical mode or the Gaussian mean."""
    actions, _, outputs = model.act({"states": jnp.asarray(states, jnp.float32)}, role="policy")
    return np.asarray(outputs.get("mode_actions", outputs.get("mean_actions", actions)))


class Functions(NamedTuple):
    """The jitted pieces of the JAX PPO (closures over the model and the configuration)."""

    policy_step: Callable  #: (params, states, key) -> (actions, log_prob (batch,), value (batch,), next key)
    value: Callable  #: (params, states) -> value (batch,)
    update: Callable  #: (params, opt_state, batch, key) -> (params, opt_state, last minibatch's statistics)
    init_optimizer: Callable  #: params -> opt_state


def make_functions(model: Model, config: PPOConfig, total_updates: int) -> Functions:
    """Compile the rollout step, the value and the update (all epochs and minibatches in one ``lax.scan``).

    The optimizer is Adam after a global-norm clip, with the learning rate annealed linearly to 0 over
    ``total_updates`` rollouts when ``config.anneal_lr``.
    """
    schedule = optax.linear_schedule(config.learning_rate, 0.0, total_updates * config.epochs * config.minibatches)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(schedule if config.anneal_lr else config.learning_rate, eps=1e-5),
    )

    def policy_step(params: Any, states: jax.Array, key: jax.Array) -> tuple:
        key, subkey = jax.random.split(key)
        actions, log_prob, _ = model.act({"states": states, "key": subkey}, "policy", params)
        return actions, log_prob.reshape(-1), value(params, states), key

    def value(params: Any, states: jax.Array) -> jax.Array:
        # deterministic: the key is unused, but passing one keeps the model's own key stream out of the trace
        inputs = {"states": states, "key": jax.random.PRNGKey(0)}
        return model.act(inputs, "value", params)[0].reshape(-1)

    def loss(params: Any, batch: Batch, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        inputs = {"states": batch["states"], "taken_actions": batch["actions"], "key": key}
        _, log_prob, outputs = model.act(inputs, "policy", params)
        advantages = batch["advantages"]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = jnp.exp(log_prob.reshape(-1) - batch["log_probs"])
        clipped = jnp.clip(ratio, 1 - config.clip_ratio, 1 + config.clip_ratio)
        policy_loss = -jnp.minimum(ratio * advantages, clipped * advantages).mean()
        value_loss = jnp.square(batch["returns"] - value(params, batch["states"])).mean()
        entropy = _entropy(model, outputs).mean()
        total = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
        approx_kl = jnp.mean((ratio - 1) - jnp.log(ratio))
        return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy, "kl": approx_kl}

    def update(params: Any, opt_state: Any, batch: Batch, key: jax.Array) -> tuple:
        size = config.batch_size // config.minibatches

        def minibatch_step(carry: tuple, index: jax.Array) -> tuple:
            params, opt_state, key = carry
            key, subkey = jax.random.split(key)
            minibatch = jax.tree.map(lambda x: x[index], batch)
            grads, stats = jax.grad(loss, has_aux=True)(params, minibatch, subkey)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, key), stats

        keys = jax.random.split(key, config.epochs + 1)
        orders = jax.vmap(lambda k: jax.random.permutation(k, config.batch_size))(keys[1:])
        indices = orders[:, : size * config.minibatches].reshape(-1, size)
        stats: dict[str, jax.Array]
        (params, opt_state, _), stats = jax.lax.scan(minibatch_step, (params, opt_state, keys[0]), indices)
        return params, opt_state, jax.tree.map(lambda x: x[-1], stats)

    return Functions(jax.jit(policy_step), jax.jit(value), jax.jit(update), optimizer.init)


def collect(
    functions: Functions,
    params: Any,
    envs: gym.vector.VectorEnv,
    obs: np.ndarray,
    key: jax.Array,
    tracker: EpisodeTracker,
    step: int,
    config: PPOConfig,
) -> tuple[Batch, np.ndarray, jax.Array]:
    """Run ``config.rollout_steps`` steps in every environment (as :func:`mixrl.demo.ppo.collect`).

    Returns:
        the flattened batch, the observation to continue from and the next key.
    """
    shape = (config.rollout_steps, config.num_envs)
    states, actions, log_probs, values = [], [], [], np.zeros(shape, np.float32)
    rewards, dones = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for t in range(config.rollout_steps):
        state = np.asarray(obs, np.float32)
        action, log_prob, value, key = functions.policy_step(params, state, key)
        action = np.asarray(action)
        obs, reward, terminated, truncated, info = envs.step(to_env_actions(action, envs.single_action_space))
        done = terminated | truncated
        tracker.update(reward, done, step + (t + 1) * config.num_envs)
        reward = reward * config.reward_scale
        indices, final = final_observations(info, truncated & ~terminated)
        if indices.size:  # a time limit is not a terminal state: bootstrap from the final observation
            reward[indices] += config.gamma * np.asarray(functions.value(params, np.asarray(final, np.float32)))
        states.append(state)
        actions.append(action)
        log_probs.append(log_prob)
        values[t], rewards[t], dones[t] = np.asarray(value), reward, done
    last_values = np.asarray(functions.value(params, np.asarray(obs, np.float32)))
    advantages, returns = compute_gae(rewards, values, dones, last_values, config.gamma, config.gae_lambda)
    batch = {
        "states": jnp.asarray(np.concatenate(states)),
        "actions": jnp.asarray(np.concatenate(actions)),
        "log_probs": jnp.concatenate(log_probs),
        "advantages": jnp.asarray(advantages.reshape(-1)),
        "returns": jnp.asarray(returns.reshape(-1)),
    }
    return batch, obs, key


def train(
    env_id: str, steps: int, seed: int, config: PPOConfig, progress: Progress | None = None
) -> tuple[Model, History]:
    """Train the JAX shared model with PPO on ``env_id`` (arguments and result as :func:`mixrl.demo.ppo.train`)."""
    envs = make_envs(env_id, config.num_envs, seed)
    model = build_model(envs.single_observation_space, envs.single_action_space, config, seed)
    updates = max(1, -(-steps // config.batch_size))
    functions = make_functions(model, config, updates)
    params = model.state_dict.params
    opt_state = functions.init_optimizer(params)
    key = jax.random.PRNGKey(seed + 1)
    history = History()
    tracker = EpisodeTracker(config.num_envs, history)
    obs, _ = envs.reset(seed=seed)
    for iteration in range(updates):
        step = iteration * config.batch_size
        batch, obs, key = collect(functions, params, envs, obs, key, tracker, step, config)
        key, subkey = jax.random.split(key)
        params, opt_state, stats = functions.update(params, opt_state, batch, subkey)
        logger.debug("step %d: %s", step + config.batch_size, {name: float(x) for name, x in stats.items()})
        if progress is not None:
            progress(step + config.batch_size, history)
    envs.close()
    model.state_dict = model.state_dict.replace(params=params)
    model.set_mode("eval")
    return model, history


CHECKPOINT = "model.msgpack"


def reload(path: str | os.PathLike, model: Model, config: PPOConfig) -> Model:
    """A fresh model rebuilt from the checkpoint ``path`` and its description sidecar (``load_model``)."""
    return load_model(path)
