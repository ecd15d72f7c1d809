"""The reference PPO on the JAX backend, used by ``mixrl demo --backend jax`` and ``examples/jax_ppo_cartpole.py``.

:func:`learn` trains a Flax policy (role ``"policy"``) and state value (role ``"value"``), one shared model or
two separate ones, with the loop of :mod:`mixrl.demo.ppo`: the rollout calls one jitted function per
environment step (policy sample and value), the update runs all epochs and minibatches of a rollout in one
jitted ``lax.scan`` of optax steps. It has the PyTorch loop's two hooks, which need no code:

* action masks: when the env's info holds ``"action_mask"`` (num_envs, n), it goes into the policy's
  ``inputs["action_mask"]`` in the rollout, in the update (log-probabilities and entropy of the masked
  distribution) and in :func:`greedy`;
* recurrent models: a model whose ``get_specification()`` has ``"rnn"`` gets its states in ``inputs["rnn"]``,
  carried from step to step and zeroed where an episode ended; the update then runs on whole sequences of
  ``sequence_length`` steps of one env with ``inputs["terminated"]`` (see :mod:`mixrl.models.jax.rnn`).

The jitted functions fix the mode of each model call when they are traced: eval in the rollout and in
:func:`greedy`, train in the update. :func:`train` is the demo's entry point (the PyTorch demo's model
description, built with the JAX instantiators).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    action_mask,
    compute_gae,
    final_observations,
    make_envs,
    model_description,
    sequence_length,
    sequences,
    to_env_actions,
)
from mixrl.models.jax import Model
from mixrl.utils.model_instantiators.jax import load_model, shared_model

logger = logging.getLogger("mixrl")

Progress = Callable[[int, History], None]
Batch = dict[str, jax.Array]
States = list[np.ndarray] | None  #: recurrent states [(layers, num_envs, H), ...] of one model, or None


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


def rnn_states(model: Model, num_envs: int) -> States:
    """Zero recurrent states ``[(D*num_layers, num_envs, H), ...]`` of ``model``, ``None`` if it is not recurrent."""
    spec = model.get_specification().get("rnn")
    if spec is None:
        return None
    return [np.zeros((size[0], num_envs, *size[2:]), np.float32) for size in spec["sizes"]]


def _reset(states: States, done: np.ndarray) -> States:
    """Recurrent states (layers, num_envs, H) zeroed for the envs whose episode ended (``done`` (num_envs,))."""
    keep = (~done).astype(np.float32).reshape(1, -1, 1)
    return None if states is None else [state * keep for state in states]


def _inputs(states: Any, rnn: Any, mask: Any) -> dict[str, Any]:
    """``{"states": ...}`` plus ``"rnn"`` and ``"action_mask"`` when given."""
    inputs: dict[str, Any] = {"states": states}
    if rnn is not None:
        inputs["rnn"] = rnn
    if mask is not None:
        inputs["action_mask"] = mask
    return inputs


@contextmanager
def _mode(models: Sequence[Model], training: bool) -> Iterator[None]:
    """Within the block, the models' calls run (are traced) in train (``training``) or eval mode."""
    previous = [model.training for model in models]
    for model in models:
        model.training = training
    try:
        yield
    finally:
        for model, mode in zip(models, previous, strict=True):
            model.training = mode


def _entropy(model: Model, outputs: dict[str, jax.Array]) -> jax.Array:
    """Entropy (batch,) of the policy distribution described by ``outputs``, summed over action dimensions.

    A masked categorical's ``outputs["net_output"]`` is already masked, so masked actions do not count.
    """
    entropy = model.get_entropy(outputs["net_output" if "net_output" in outputs else "stddev"], role="policy")
    return entropy.reshape(entropy.shape[0], -1).sum(axis=-1) if entropy.ndim > 1 else entropy


def deterministic_actions(model: Model, states: np.ndarray) -> np.ndarray:
    """The greedy action for (batch, obs) ``states``: the categorical mode or the Gaussian mean."""
    actions, _, outputs = model.act({"states": jnp.asarray(states, jnp.float32)}, role="policy")
    return np.asarray(outputs.get("mode_actions", outputs.get("mean_actions", actions)))


def greedy(policy: Model, num_envs: int = 10) -> GreedyPolicy:
    """The deterministic policy of ``policy`` (its ``state_dict`` parameters) for :func:`mixrl.demo.common.evaluate`.

    It acts, jitted in eval mode, with ``outputs["mode_actions"]`` (categorical heads) or
    ``outputs["mean_actions"]`` (Gaussian heads), with the info's ``action_mask`` in the inputs and recurrent
    states for ``num_envs`` sub-envs carried from call to call (zeroed where ``info`` flags a finished episode).
    """
    carry: dict[str, States] = {"rnn": rnn_states(policy, num_envs)}

    @jax.jit
    def act(params: Any, states: jax.Array, rnn: Any, mask: Any) -> tuple[jax.Array, Any]:
        # the key only feeds the (unused) sample: any fixed key will do
        with _mode([policy], training=False):
            inputs = {**_inputs(states, rnn, mask), "key": jax.random.PRNGKey(0)}
            actions, _, outputs = policy.act(inputs, "policy", params)
        greedy_actions = outputs.get("mode_actions", outputs.get("mean_actions", actions))
        return greedy_actions, None if rnn is None else outputs["rnn"]

    def run(observations: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if carry["rnn"] is not None and "_final_obs" in info:
            carry["rnn"] = _reset(carry["rnn"], np.asarray(info["_final_obs"]))
        states = jnp.asarray(observations, jnp.float32)
        actions, rnn = act(policy.state_dict.params, states, carry["rnn"], action_mask(info))
        if carry["rnn"] is not None:
            carry["rnn"] = [np.asarray(state) for state in rnn]
        return np.asarray(actions)

    return run


class Functions(NamedTuple):
    """The jitted pieces of the JAX PPO (closures over the models and the configuration).

    ``params`` is ``{"policy": ...}`` for a shared model, ``{"policy": ..., "value": ...}`` for separate ones;
    ``rnn`` is ``{"policy": States, "value": States}`` (``"value"`` is ``None`` for a shared model, which reads
    the policy's states for both roles).
    """

    #: (params, states, rnn, action mask or None, key) -> (actions, log_prob (batch,), value (batch,), next rnn,
    #: next key)
    policy_step: Callable
    value: Callable  #: (params, states, rnn) -> value (batch,)
    update: Callable  #: (params, opt_state, batch, key) -> (params, opt_state, last minibatch's statistics)
    init_optimizer: Callable  #: params -> opt_state


def make_functions(
    policy: Model, value_model: Model, config: PPOConfig, total_updates: int, length: int = 1
) -> Functions:
    """Compile the rollout step, the value and the update (all epochs and minibatches in one ``lax.scan``).

    The optimizer is Adam after a global-norm clip, with the learning rate annealed linearly to 0 over
    ``total_updates`` rollouts when ``config.anneal_lr``. The update shuffles the rows of the batch: sequences
    of ``length`` steps (the recurrent sequence length, 1 for feed-forward models).
    """
    schedule = optax.linear_schedule(config.learning_rate, 0.0, total_updates * config.epochs * config.minibatches)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(schedule if config.anneal_lr else config.learning_rate, eps=1e-5),
    )
    shared = value_model is policy
    value_key = "policy" if shared else "value"
    models = [policy] if shared else [policy, value_model]

    def value_of(params: Any, inputs: dict[str, Any]) -> tuple[jax.Array, Any]:
        # deterministic: the key is unused, but passing one keeps the model's own key stream out of the trace
        values, _, outputs = value_model.act({**inputs, "key": jax.random.PRNGKey(0)}, "value", params[value_key])
        return values.reshape(-1), outputs.get("rnn")

    def policy_step(params: Any, states: jax.Array, rnn: dict[str, Any], mask: Any, key: jax.Array) -> tuple:
        key, subkey = jax.random.split(key)
        with _mode(models, training=False):
            inputs = {**_inputs(states, rnn["policy"], mask), "key": subkey}
            actions, log_prob, outputs = policy.act(inputs, "policy", params["policy"])
            values, value_rnn = value_of(params, _inputs(states, rnn[value_key], None))
        next_rnn = {
            "policy": None if rnn["policy"] is None else outputs["rnn"],
            "value": None if shared or rnn["value"] is None else value_rnn,
        }
        return actions, log_prob.reshape(-1), values, next_rnn, key

    def value(params: Any, states: jax.Array, rnn: dict[str, Any]) -> jax.Array:
        with _mode(models, training=False):
            return value_of(params, _inputs(states, rnn[value_key], None))[0]

    def loss(params: Any, batch: Batch, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        def inputs(role: str, masked: bool) -> dict[str, Any]:
            names = sorted(name for name in batch if name.startswith(f"rnn.{role}."))
            rnn = [batch[name].swapaxes(0, 1) for name in names] or None  # (layers, B*L, H)
            result = _inputs(batch["states"], rnn, batch.get("action_mask") if masked else None)
            if rnn is not None:
                result["terminated"] = batch["terminated"].reshape(-1, 1)
            return result

        with _mode(models, training=True):
            policy_inputs = {**inputs("policy", masked=True), "taken_actions": batch["actions"], "key": key}
            _, log_prob, outputs = policy.act(policy_inputs, "policy", params["policy"])
            values = value_of(params, inputs(value_key, masked=False))[0]
        advantages = batch["advantages"]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = jnp.exp(log_prob.reshape(-1) - batch["log_probs"])
        clipped = jnp.clip(ratio, 1 - config.clip_ratio, 1 + config.clip_ratio)
        policy_loss = -jnp.minimum(ratio * advantages, clipped * advantages).mean()
        value_loss = jnp.square(batch["returns"] - values).mean()
        entropy = _entropy(policy, outputs).mean()
        total = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
        approx_kl = jnp.mean((ratio - 1) - jnp.log(ratio))
        return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy, "kl": approx_kl}

    def update(params: Any, opt_state: Any, batch: Batch, key: jax.Array) -> tuple:
        rows = config.batch_size // length
        size = rows // config.minibatches

        def minibatch_step(carry: tuple, index: jax.Array) -> tuple:
            params, opt_state, key = carry
            key, subkey = jax.random.split(key)
            minibatch = jax.tree.map(lambda x: x[index].reshape(-1, *x.shape[2:]), batch)  # (size * L, ...)
            grads, stats = jax.grad(loss, has_aux=True)(params, minibatch, subkey)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, key), stats

        keys = jax.random.split(key, config.epochs + 1)
        orders = jax.vmap(lambda k: jax.random.permutation(k, rows))(keys[1:])
        indices = orders[:, : size * config.minibatches].reshape(-1, size)
        stats: dict[str, jax.Array]
        (params, opt_state, _), stats = jax.lax.scan(minibatch_step, (params, opt_state, keys[0]), indices)
        return params, opt_state, jax.tree.map(lambda x: x[-1], stats)

    return Functions(jax.jit(policy_step), jax.jit(value), jax.jit(update), optimizer.init)


def _rnn(carry: dict[str, Any], indices: np.ndarray | None = None) -> dict[str, States]:
    """The carried recurrent states ``{"policy": ..., "value": ...}``, only the sub-envs ``indices`` if given."""
    rnn = {role: carry[f"{role}_rnn"] for role in ("policy", "value")}
    if indices is None:
        return rnn
    return {role: None if states is None else [state[:, indices] for state in states] for role, states in rnn.items()}


def collect(
    functions: Functions,
    params: Any,
    envs: gym.vector.VectorEnv,
    carry: dict[str, Any],
    tracker: EpisodeTracker,
    step: int,
    config: PPOConfig,
    length: int = 1,
) -> dict[str, np.ndarray]:
    """Run ``config.rollout_steps`` steps in every environment (as :func:`mixrl.demo.ppo.collect`).

    Args:
        carry: ``obs`` (num_envs, obs...), ``info``, ``key`` (the sampling key) and ``policy_rnn`` and
            ``value_rnn`` (recurrent states or ``None``; ``value_rnn`` is ``None`` for a shared model): where
            the env stands, updated in place.
        length: the recurrent sequence length ``L`` (1 for feed-forward models).

    Returns:
        the rollout as (T * num_envs / L, L, ...) sequences: ``states``, ``actions``, ``log_probs``,
        ``advantages``, ``returns``, ``terminated`` (episode ended after the step), ``action_mask`` when the env
        gives one, and ``rnn.<role>.<k>`` (layers, H) per step: the recurrent states that went into the step.
    """
    steps = config.rollout_steps
    record: dict[str, list[np.ndarray]] = {}
    values, rewards, dones = (np.zeros((steps, config.num_envs), np.float32) for _ in range(3))
    for t in range(steps):
        state, mask = np.asarray(carry["obs"], np.float32), action_mask(carry["info"])
        action, log_prob, value, next_rnn, carry["key"] = functions.policy_step(
            params, state, _rnn(carry), mask, carry["key"]
        )
        action = np.asarray(action)
        items = {"states": state, "actions": action, "log_probs": np.asarray(log_prob), "action_mask": mask}
        for role in ("policy", "value"):
            for k, rnn in enumerate(carry[f"{role}_rnn"] or []):
                items[f"rnn.{role}.{k}"] = rnn.swapaxes(0, 1)  # (num_envs, layers, H)
        for name, item in items.items():
            if item is not None:
                record.setdefault(name, []).append(item)
        env_actions = to_env_actions(action, envs.single_action_space)
        carry["obs"], reward, terminated, truncated, carry["info"] = envs.step(env_actions)
        done = terminated | truncated
        tracker.update(reward, done, step + (t + 1) * config.num_envs)
        reward = reward * config.reward_scale
        for role in ("policy", "value"):
            if next_rnn[role] is not None:
                carry[f"{role}_rnn"] = [np.asarray(rnn) for rnn in next_rnn[role]]
        indices, final = final_observations(carry["info"], truncated & ~terminated)
        if indices.size:  # a time limit is not a terminal state: bootstrap from the final observation
            final_value = functions.value(params, np.asarray(final, np.float32), _rnn(carry, indices))
            reward[indices] += config.gamma * np.asarray(final_value)
        for role in ("policy", "value"):
            carry[f"{role}_rnn"] = _reset(carry[f"{role}_rnn"], done)
        values[t], rewards[t], dones[t] = np.asarray(value), reward, done
    last_values = np.asarray(functions.value(params, np.asarray(carry["obs"], np.float32), _rnn(carry)))
    advantages, returns = compute_gae(rewards, values, dones, last_values, config.gamma, config.gae_lambda)
    batch = {name: np.stack(items) for name, items in record.items()}
    batch.update(advantages=advantages, returns=returns, terminated=dones.astype(bool))
    return {name: sequences(array, length) for name, array in batch.items()}


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

    Arguments, action masks and recurrent models as :func:`mixrl.demo.ppo.learn`; ``seed`` also seeds the
    sampling and minibatch keys. The trained parameters are stored back into the models' ``state_dict``.

    Raises:
        ValueError: ``envs.num_envs`` is not ``config.num_envs``; ``config.rollout_steps`` is not a multiple of
            a recurrent model's ``sequence_length``.
    """
    value = policy if value is None else value
    if envs.num_envs != config.num_envs:
        raise ValueError(f"envs has {envs.num_envs} sub-envs, config.num_envs is {config.num_envs}")
    length = sequence_length(policy, value)
    if config.rollout_steps % length:
        raise ValueError(
            f"config.rollout_steps ({config.rollout_steps}) must be a multiple of the recurrent sequence_length "
            f"({length}): the update cuts each env's rollout into whole sequences"
        )
    updates = max(1, steps // config.batch_size)
    functions = make_functions(policy, value, config, updates, length)
    params = {"policy": policy.state_dict.params}
    if value is not policy:
        params["value"] = value.state_dict.params
    # committed to the device like the jitted functions' outputs, so that nothing compiles twice
    params = jax.device_put(params, policy.device)
    opt_state = jax.device_put(functions.init_optimizer(params), policy.device)
    history = History()
    tracker = EpisodeTracker(config.num_envs, history)
    obs, info = envs.reset(seed=seed)
    carry = {"obs": obs, "info": info, "key": jax.device_put(jax.random.PRNGKey(seed + 1), policy.device)}
    carry["policy_rnn"] = rnn_states(policy, config.num_envs)
    carry["value_rnn"] = None if value is policy else rnn_states(value, config.num_envs)
    for iteration in range(updates):
        step = iteration * config.batch_size
        batch = jax.device_put(collect(functions, params, envs, carry, tracker, step, config, length), policy.device)
        carry["key"], subkey = jax.random.split(carry["key"])
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
