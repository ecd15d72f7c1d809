"""The reference PPO on the JAX backend, used by ``mixrl demo --backend jax`` and ``examples/jax_ppo_cartpole.py``.

:func:`learn` trains a Flax policy (role ``"policy"``) and state value (role ``"value"``), one shared model or
two separate ones, with the loop of :mod:`mixrl.demo.ppo`: the rollout calls one jitted function per
environment step (policy sample and value), the update runs all epochs and minibatches of a rollout in one
jitted ``lax.scan`` of optax steps. Action masks and recurrent states are PyTorch-only (the JAX heads take no
``action_mask`` and there is no JAX recurrent helper), so they are refused here. :func:`train` is the demo's
entry point (the PyTorch demo's model description, built with the JAX instantiators).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, NamedTuple, cast

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
    GreedyPolicy,
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
    model = cast(Any, shared_model(observation_space, action_space, **model_description(action_space, config)))
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
    """Entropy (batch,) of the policy distribution described by ``outputs``, summed over action dimensions."""
    entropy = model.get_entropy(outputs["net_output" if "net_output" in outputs else "stddev"], role="policy")
    return entropy.reshape(entropy.shape[0], -1).sum(axis=-1) if entropy.ndim > 1 else entropy


def deterministic_actions(model: Model, states: np.ndarray) -> np.ndarray:
    """The greedy action for (batch, obs) ``states``: the categorical mode or the Gaussian mean."""
    actions, _, outputs = model.act({"states": jnp.asarray(states, jnp.float32)}, role="policy")
    return np.asarray(outputs.get("mode_actions", outputs.get("mean_actions", actions)))


def greedy(policy: Model) -> GreedyPolicy:
    """The deterministic policy of ``policy`` (its ``state_dict`` parameters) for :func:`mixrl.demo.common.evaluate`."""

    @jax.jit
    def act(params: Any, states: jax.Array) -> jax.Array:
        # the key only feeds the (unused) sample: any fixed key will do
        actions, _, outputs = policy.act({"states": states, "key": jax.random.PRNGKey(0)}, "policy", params)
        return outputs.get("mode_actions", outputs.get("mean_actions", actions))

    return lambda observations, info: np.asarray(act(policy.state_dict.params, jnp.asarray(observations, jnp.float32)))


class Functions(NamedTuple):
    """The jitted pieces of the JAX PPO (closures over the models and the configuration).

    ``params`` is ``{"policy": ...}`` for a shared model, ``{"policy": ..., "value": ...}`` for separate ones.
    """

    policy_step: Callable  #: (params, states, key) -> (actions, log_prob (batch,), value (batch,), next key)
    value: Callable  #: (params, states) -> value (batch,)
    update: Callable  #: (params, opt_state, batch, key) -> (params, opt_state, last minibatch's statistics)
    init_optimizer: Callable  #: params -> opt_state


def make_functions(policy: Model, value_model: Model, config: PPOConfig, total_updates: int) -> Functions:
    """Compile the rollout step, the value and the update (all epochs and minibatches in one ``lax.scan``).

    The optimizer is Adam after a global-norm clip, with the learning rate annealed linearly to 0 over
    ``total_updates`` rollouts when ``config.anneal_lr``.
    """
    schedule = optax.linear_schedule(config.learning_rate, 0.0, total_updates * config.epochs * config.minibatches)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(schedule if config.anneal_lr else config.learning_rate, eps=1e-5),
    )
    value_key = "policy" if value_model is policy else "value"

    def policy_step(params: Any, states: jax.Array, key: jax.Array) -> tuple:
        key, subkey = jax.random.split(key)
        actions, log_prob, _ = policy.act({"states": states, "key": subkey}, "policy", params["policy"])
        return actions, log_prob.reshape(-1), value(params, states), key

    def value(params: Any, states: jax.Array) -> jax.Array:
        # deterministic: the key is unused, but passing one keeps the model's own key stream out of the trace
        inputs = {"states": states, "key": jax.random.PRNGKey(0)}
        return value_model.act(inputs, "value", params[value_key])[0].reshape(-1)

    def loss(params: Any, batch: Batch, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        inputs = {"states": batch["states"], "taken_actions": batch["actions"], "key": key}
        _, log_prob, outputs = policy.act(inputs, "policy", params["policy"])
        advantages = batch["advantages"]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = jnp.exp(log_prob.reshape(-1) - batch["log_probs"])
        clipped = jnp.clip(ratio, 1 - config.clip_ratio, 1 + config.clip_ratio)
        policy_loss = -jnp.minimum(ratio * advantages, clipped * advantages).mean()
        value_loss = jnp.square(batch["returns"] - value(params, batch["states"])).mean()
        entropy = _entropy(policy, outputs).mean()
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
        the flattened batch (``states``, ``actions``, ``log_probs``, ``advantages``, ``returns``; first axis
        ``config.batch_size``), the observation to continue from and the next key.

    Raises:
        ValueError: the env gives an ``action_mask`` (the JAX heads do not take one).
    """
    shape = (config.rollout_steps, config.num_envs)
    states, actions, log_probs, values = [], [], [], np.zeros(shape, np.float32)
    rewards, dones = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for t in range(config.rollout_steps):
        state = np.asarray(obs, np.float32)
        action, log_prob, value, key = functions.policy_step(params, state, key)
        action = np.asarray(action)
        obs, reward, terminated, truncated, info = envs.step(to_env_actions(action, envs.single_action_space))
        if "action_mask" in info:
            raise ValueError("the env gives info['action_mask']: action masks need the PyTorch reference PPO")
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


def learn(
    policy: Model,
    value: Model | None,
    envs: gym.vector.VectorEnv,
    steps: int,
    seed: int,
    config: PPOConfig,
    progress: Progress | None = None,
) -> History:
    """Train ``policy`` and ``value`` (initialised: ``init_state_dict`` done) with PPO on ``envs``.

    Arguments as :func:`mixrl.demo.ppo.learn`; ``seed`` also seeds the sampling and minibatch keys. The
    trained parameters are stored back into the models' ``state_dict``.

    Raises:
        ValueError: ``envs.num_envs`` is not ``config.num_envs``; a recurrent model; an env with action masks.
    """
    value = policy if value is None else value
    if envs.num_envs != config.num_envs:
        raise ValueError(f"envs has {envs.num_envs} sub-envs, config.num_envs is {config.num_envs}")
    if any("rnn" in model.get_specification() for model in (policy, value)):
        raise ValueError("recurrent models need the PyTorch reference PPO (mixrl.demo.ppo.learn)")
    updates = max(1, steps // config.batch_size)
    functions = make_functions(policy, value, config, updates)
    params = {"policy": policy.state_dict.params}
    if value is not policy:
        params["value"] = value.state_dict.params
    opt_state = functions.init_optimizer(params)
    key = jax.random.PRNGKey(seed + 1)
    history = History()
    tracker = EpisodeTracker(config.num_envs, history)
    obs, info = envs.reset(seed=seed)
    if "action_mask" in info:
        raise ValueError("the env gives info['action_mask']: action masks need the PyTorch reference PPO")
    for iteration in range(updates):
        step = iteration * config.batch_size
        batch, obs, key = collect(functions, params, envs, obs, key, tracker, step, config)
        key, subkey = jax.random.split(key)
        params, opt_state, stats = functions.update(params, opt_state, batch, subkey)
        logger.debug("step %d: %s", step + config.batch_size, {name: float(x) for name, x in stats.items()})
        if progress is not None:
            progress(step + config.batch_size, history)
    for role, model in (("policy", policy), ("value", value)):
        model.state_dict = model.state_dict.replace(params=params.get(role, params["policy"]))
        model.set_mode("eval")
    return history


def train(
    env_id: str, steps: int, seed: int, config: PPOConfig, progress: Progress | None = None
) -> tuple[Model, History]:
    """The demo: train its JAX shared model with :func:`learn` (arguments and result as in the PyTorch demo)."""
    envs = make_envs(env_id, config.num_envs, seed)
    model = build_model(envs.single_observation_space, envs.single_action_space, config, seed)
    whole_rollouts = -(-steps // config.batch_size) * config.batch_size  # the demo rounds up
    history = learn(model, None, envs, whole_rollouts, seed, config, progress)
    envs.close()
    return model, history


CHECKPOINT = "model.msgpack"


def reload(path: str | os.PathLike, model: Model, config: PPOConfig) -> Model:
    """A fresh model rebuilt from the checkpoint ``path`` and its description sidecar (``load_model``)."""
    return load_model(path)
