"""The reference PPO on the PyTorch backend, used by ``mixrl demo`` and by every PyTorch PPO example.

:func:`learn` trains any mixrl policy (a stochastic mixin with role ``"policy"``) and state value (role
``"value"``): one shared model that plays both roles, or two separate models. The loop is the usual one:
rollouts from a vector env, time limits bootstrapped from the final observation, GAE, then
``config.epochs`` passes of minibatch updates of the clipped surrogate, the value loss and an entropy bonus,
with gradient-norm clipping and a learning rate annealed linearly to 0. Two hooks need no code:

* action masks: when the env's info holds ``"action_mask"`` (num_envs, n), it goes into the policy's
  ``inputs["action_mask"]`` in the rollout, in the update and in :func:`greedy`;
* recurrent models: a model whose ``get_specification()`` has ``"rnn"`` gets its states in ``inputs["rnn"]``,
  carried from step to step and zeroed where an episode ended; the update then runs on whole sequences of
  ``sequence_length`` steps of one env with ``inputs["terminated"]`` (see :mod:`mixrl.models.torch.rnn`).

:func:`train` is the demo's entry point: it builds the shared model of
:func:`mixrl.demo.common.model_description` with the instantiators, then calls :func:`learn`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch

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
from mixrl.models.torch import Model
from mixrl.utils.model_instantiators.torch import load_model, shared_model

logger = logging.getLogger("mixrl")

Progress = Callable[[int, History], None]
Batch = dict[str, torch.Tensor]


def rnn_states(model: Model, num_envs: int) -> list[torch.Tensor] | None:
    """Zero recurrent states ``[(D*num_layers, num_envs, H), ...]`` of ``model``, ``None`` if it is not recurrent."""
    spec = model.get_specification().get("rnn")
    if spec is None:
        return None
    return [torch.zeros(size[0], num_envs, *size[2:]) for size in spec["sizes"]]


def _inputs(states: torch.Tensor, rnn: list[torch.Tensor] | None, mask: torch.Tensor | None) -> dict[str, Any]:
    """``{"states": ...}`` plus ``"rnn"`` and ``"action_mask"`` when given."""
    inputs: dict[str, Any] = {"states": states}
    if rnn is not None:
        inputs["rnn"] = rnn
    if mask is not None:
        inputs["action_mask"] = mask
    return inputs


def _mask(info: dict) -> torch.Tensor | None:
    """The step's ``info["action_mask"]`` (num_envs, n) as a bool tensor, or ``None``."""
    mask = action_mask(info)
    return None if mask is None else torch.as_tensor(mask, dtype=torch.bool)


def _reset(states: list[torch.Tensor] | None, done: np.ndarray) -> list[torch.Tensor] | None:
    """Recurrent states (layers, num_envs, H) zeroed for the envs whose episode ended (``done`` (num_envs,))."""
    keep = torch.as_tensor(~done, dtype=torch.float32).view(1, -1, 1)
    return None if states is None else [state * keep for state in states]


def collect(
    policy: Model,
    value: Model,
    envs: gym.vector.VectorEnv,
    carry: dict[str, Any],
    tracker: EpisodeTracker,
    step: int,
    config: PPOConfig,
) -> Batch:
    """Run ``config.rollout_steps`` steps in every env with the stochastic policy (models in eval mode).

    Args:
        carry: ``obs`` (num_envs, obs...), ``info``, ``policy_rnn`` and ``value_rnn`` (recurrent states or
            ``None``; ``value_rnn`` unused when ``value is policy``): where the env stands, updated in place.

    Returns:
        the rollout as (T * num_envs / L, L, ...) sequences (``L`` the recurrent sequence length, else 1):
        ``states``, ``actions``, ``log_probs``, ``advantages``, ``returns``, ``terminated`` (episode ended after
        the step), ``action_mask`` when the env gives one, and ``rnn.<role>.<k>`` (layers, H) per step: the
        recurrent states that went into the step.
    """
    shared, steps = value is policy, config.rollout_steps
    record: dict[str, list[torch.Tensor]] = {}
    values, rewards, dones = (np.zeros((steps, config.num_envs), np.float32) for _ in range(3))
    policy.set_mode("eval")
    value.set_mode("eval")
    with torch.no_grad():
        for t in range(steps):
            state, mask = torch.as_tensor(carry["obs"], dtype=torch.float32), _mask(carry["info"])
            policy_inputs = _inputs(state, carry["policy_rnn"], mask)
            value_inputs = policy_inputs if shared else _inputs(state, carry["value_rnn"], None)
            action, log_prob, outputs = policy.act(policy_inputs, role="policy")
            value_t, _, value_outputs = value.act(value_inputs, role="value")  # a shared model reuses its trunk
            log_prob = cast(torch.Tensor, log_prob)
            items = {"states": state, "actions": action, "log_probs": log_prob.reshape(-1), "action_mask": mask}
            for role in ("policy", "value"):
                for k, rnn in enumerate(carry[f"{role}_rnn"] or []):
                    items[f"rnn.{role}.{k}"] = rnn.transpose(0, 1)  # (num_envs, layers, H)
            for name, item in items.items():
                if item is not None:
                    record.setdefault(name, []).append(item)
            env_actions = to_env_actions(action.numpy(), envs.single_action_space)
            carry["obs"], reward, terminated, truncated, carry["info"] = envs.step(env_actions)
            done = terminated | truncated
            tracker.update(reward, done, step + (t + 1) * config.num_envs)
            reward = reward * config.reward_scale
            if carry["policy_rnn"] is not None:
                carry["policy_rnn"] = outputs["rnn"]
            if not shared and carry["value_rnn"] is not None:
                carry["value_rnn"] = value_outputs["rnn"]
            indices, final = final_observations(carry["info"], truncated & ~terminated)
            if indices.size:  # a time limit is not a terminal state: bootstrap from the final observation
                rnn = carry["policy_rnn" if shared else "value_rnn"]
                rnn = None if rnn is None else [state[:, indices] for state in rnn]
                final_inputs = _inputs(torch.as_tensor(final, dtype=torch.float32), rnn, None)
                reward[indices] += config.gamma * value.act(final_inputs, role="value")[0].reshape(-1).numpy()
            for role in ("policy", "value"):
                carry[f"{role}_rnn"] = _reset(carry[f"{role}_rnn"], done)
            values[t], rewards[t], dones[t] = value_t.reshape(-1).numpy(), reward, done
        rnn = carry["policy_rnn" if shared else "value_rnn"]
        last_inputs = _inputs(torch.as_tensor(carry["obs"], dtype=torch.float32), rnn, None)
        last_values = value.act(last_inputs, role="value")[0].reshape(-1).numpy()
    advantages, returns = compute_gae(rewards, values, dones, last_values, config.gamma, config.gae_lambda)
    batch = {name: torch.stack(items) for name, items in record.items()}
    batch.update(advantages=torch.as_tensor(advantages), returns=torch.as_tensor(returns))
    batch["terminated"] = torch.as_tensor(dones).bool()
    return {name: sequences(tensor, sequence_length(policy, value)) for name, tensor in batch.items()}


def ppo_loss(policy: Model, value: Model, minibatch: Batch, config: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate + ``value_coef`` * value MSE - ``entropy_coef`` * entropy on one minibatch.

    Args:
        minibatch: rows of :func:`collect`'s batch flattened to (B*L, ...), whole sequences for recurrent models.

    Returns:
        the loss and float statistics for logging. Advantages are normalised per minibatch.
    """
    states = minibatch["states"]

    def inputs(role: str) -> dict[str, Any]:
        names = sorted(name for name in minibatch if name.startswith(f"rnn.{role}."))
        rnn = [minibatch[name].transpose(0, 1) for name in names] or None  # (layers, B*L, H)
        result = _inputs(states, rnn, minibatch.get("action_mask") if role == "policy" else None)
        if rnn is not None:
            result["terminated"] = minibatch["terminated"].view(-1, 1)
        return result

    policy_inputs = {**inputs("policy"), "taken_actions": minibatch["actions"]}
    log_prob = cast(torch.Tensor, policy.act(policy_inputs, role="policy")[1])
    entropy = cast(Any, policy).get_entropy(role="policy").reshape(states.shape[0], -1).sum(dim=-1).mean()
    value_inputs = policy_inputs if value is policy else inputs("value")
    values = value.act(value_inputs, role="value")[0].reshape(-1)  # same inputs: a shared trunk is reused

    advantages = minibatch["advantages"]
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob.reshape(-1) - minibatch["log_probs"])
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - config.clip_ratio, 1 + config.clip_ratio) * advantages)
    policy_loss = -surrogate.mean()
    value_loss = (minibatch["returns"] - values).pow(2).mean()
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    stats = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.item()}
    return loss, stats


def update(
    policy: Model, value: Model, optimizer: torch.optim.Optimizer, batch: Batch, config: PPOConfig
) -> dict[str, float]:
    """``config.epochs`` passes of ``config.minibatches`` shuffled minibatches of rows (sequences) of ``batch``.

    Returns:
        the last minibatch's statistics.
    """
    policy.set_mode("train")
    value.set_mode("train")
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    stats: dict[str, float] = {}
    for _ in range(config.epochs):
        for index in torch.randperm(batch["states"].shape[0]).chunk(config.minibatches):
            minibatch = {name: tensor[index].flatten(0, 1) for name, tensor in batch.items()}
            loss, stats = ppo_loss(policy, value, minibatch, config)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
    return stats


def learn(
    policy: Model,
    value: Model | None,
    envs: gym.vector.VectorEnv,
    steps: int,
    seed: int,
    config: PPOConfig,
    progress: Progress | None = None,
) -> History:
    """Train ``policy`` and ``value`` with PPO on ``envs`` for about ``steps`` environment steps.

    Args:
        policy: a stochastic model acting with role ``"policy"`` (categorical, Gaussian, multi-categorical...).
        value: a deterministic model acting with role ``"value"``, output (batch, 1); ``None`` or ``policy``
            itself for a shared model (one optimizer over one parameter set either way).
        envs: ``config.num_envs`` sub-envs, e.g. from :func:`mixrl.demo.common.make_envs`; reset here with ``seed``.
        steps: environment steps, rounded down to whole rollouts of ``config.batch_size`` (at least one).
        seed: reset seed of the envs (seeding torch is the caller's business).
        config: hyper-parameters.
        progress: called after every rollout with the step count and the history so far.

    Returns:
        the finished-episode history; the models are left in eval mode.

    Raises:
        ValueError: ``envs.num_envs`` is not ``config.num_envs``.
    """
    value = policy if value is None else value
    if envs.num_envs != config.num_envs:
        raise ValueError(f"envs has {envs.num_envs} sub-envs, config.num_envs is {config.num_envs}")
    models = [policy] if value is policy else [policy, value]
    parameters = [parameter for model in models for parameter in model.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, eps=1e-5)
    history = History()
    tracker = EpisodeTracker(config.num_envs, history)
    obs, info = envs.reset(seed=seed)
    carry = {"obs": obs, "info": info, "policy_rnn": rnn_states(policy, config.num_envs)}
    carry["value_rnn"] = None if value is policy else rnn_states(value, config.num_envs)
    updates = max(1, steps // config.batch_size)
    for iteration in range(updates):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1 - iteration / updates)
        step = iteration * config.batch_size
        batch = collect(policy, value, envs, carry, tracker, step, config)
        stats = update(policy, value, optimizer, batch, config)
        logger.debug("step %d: %s", step + config.batch_size, stats)
        if progress is not None:
            progress(step + config.batch_size, history)
    for model in models:
        model.set_mode("eval")
    return history


def greedy(policy: Model, num_envs: int = 10) -> GreedyPolicy:
    """The deterministic policy of ``policy`` for :func:`mixrl.demo.common.evaluate` on ``num_envs`` sub-envs.

    It acts in eval mode without gradient and returns ``outputs["mode_actions"]`` (categorical heads) or
    ``outputs["mean_actions"]`` (Gaussian heads), with the info's ``action_mask`` in the inputs and recurrent
    states carried from call to call (zeroed where ``info`` flags a finished episode).
    """
    carry = {"rnn": rnn_states(policy, num_envs)}

    def act(observations: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        policy.set_mode("eval")
        if carry["rnn"] is not None and "_final_obs" in info:
            carry["rnn"] = _reset(carry["rnn"], np.asarray(info["_final_obs"]))
        states = torch.as_tensor(observations, dtype=torch.float32)
        with torch.no_grad():
            actions, _, outputs = policy.act(_inputs(states, carry["rnn"], _mask(info)), role="policy")
        if carry["rnn"] is not None:
            carry["rnn"] = outputs["rnn"]
        return outputs.get("mode_actions", outputs.get("mean_actions", actions)).numpy()

    return act


def build_model(observation_space: gym.Space, action_space: gym.Space, config: PPOConfig, device: str = "cpu") -> Model:
    """The demo's shared policy + value model of :func:`mixrl.demo.common.model_description`, orthogonally initialised.

    Raises:
        ValueError: an action space other than Discrete or Box.
    """
    model = cast(Any, shared_model(observation_space, action_space, device, **model_description(action_space, config)))
    model.init_weights("orthogonal_", gain=TRUNK_GAIN)
    model.init_biases("constant_", 0.0)
    torch.nn.init.orthogonal_(model.policy_layer.weight, gain=POLICY_GAIN)
    torch.nn.init.orthogonal_(model.value_layer.weight, gain=VALUE_GAIN)
    return model


def deterministic_actions(model: Model, states: np.ndarray) -> np.ndarray:
    """The greedy actions of ``model`` for (batch, obs) ``states`` (see :func:`greedy`)."""
    return greedy(model, len(states))(states, {})


def train(
    env_id: str, steps: int, seed: int, config: PPOConfig, progress: Progress | None = None
) -> tuple[Model, History]:
    """The demo: train its shared model with :func:`learn` on ``env_id`` for about ``steps`` environment steps.

    Args:
        env_id: a gymnasium id with a flat Box observation space and a Discrete or Box action space.
        steps: environment steps (rounded up to whole rollouts of ``config.batch_size``).
        seed: seeds torch, the environments (``reset(seed=...)``) and their action spaces.
        config: hyper-parameters.
        progress: called after every rollout with the step count and the history so far.

    Returns:
        the trained model (eval mode) and the finished-episode history.
    """
    torch.manual_seed(seed)
    envs = make_envs(env_id, config.num_envs, seed)
    model = build_model(envs.single_observation_space, envs.single_action_space, config)
    whole_rollouts = -(-steps // config.batch_size) * config.batch_size  # the demo rounds up
    history = learn(model, None, envs, whole_rollouts, seed, config, progress)
    envs.close()
    return model, history


CHECKPOINT = "model.pt"


def reload(path: str | os.PathLike, model: Model, config: PPOConfig) -> Model:
    """A fresh model rebuilt from the checkpoint ``path`` and its description sidecar (``load_model``)."""
    return load_model(path, device="cpu")
