"""A compact PPO for the demo (PyTorch): one shared policy + value model built with the model instantiators.

The model comes from :func:`mixrl.utils.model_instantiators.torch.shared_model` (a tanh MLP trunk with a
categorical or Gaussian ``policy`` head and a deterministic ``value`` head); the single forward pass cache
makes the value call after the policy call on the same states reuse the trunk. The loop is the usual one:
rollouts from vectorised environments, GAE, then a few epochs of minibatch updates of the clipped
surrogate, the value loss and an entropy bonus, with gradient-norm clipping and a linearly annealed
learning rate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

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
from mixrl.models.torch import Model
from mixrl.utils.model_instantiators.torch import load_model, shared_model

logger = logging.getLogger("mixrl")

Progress = Callable[[int, History], None]


def build_model(observation_space: gym.Space, action_space: gym.Space, config: PPOConfig, device: str = "cpu") -> Model:
    """The shared policy + value model of :func:`mixrl.demo.common.model_description`, orthogonally initialised.

    Raises:
        ValueError: an action space other than Discrete or Box.
    """
    model = shared_model(observation_space, action_space, device, **model_description(action_space, config))
    if not isinstance(model, Model):  # only return_source=True gives the class source instead
        raise TypeError(f"shared_model returned a {type(model).__name__}, not a model")
    model.init_weights("orthogonal_", gain=TRUNK_GAIN)
    model.init_biases("constant_", 0.0)
    torch.nn.init.orthogonal_(model.get_parameter("policy_layer.weight"), gain=POLICY_GAIN)
    torch.nn.init.orthogonal_(model.get_parameter("value_layer.weight"), gain=VALUE_GAIN)
    return model


def deterministic_actions(model: Model, states: np.ndarray) -> np.ndarray:
    """The greedy action of ``model`` (eval mode) for (batch, obs) ``states``: the categorical mode or the mean."""
    with torch.no_grad():
        actions, _, outputs = model.act({"states": torch.as_tensor(states, dtype=torch.float32)}, role="policy")
    return outputs.get("mode_actions", outputs.get("mean_actions", actions)).numpy()


def _policy(model: Model, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(actions, log_prob)`` of the ``policy`` role (a categorical or Gaussian head: a log-prob is always there)."""
    actions, log_prob, _ = model.act(inputs, role="policy")
    if log_prob is None:
        raise TypeError(f"the policy head of {type(model).__name__} returned no log-probability")
    return actions, log_prob


def _values(model: Model, states: torch.Tensor) -> torch.Tensor:
    """State values (batch,) without gradient."""
    with torch.no_grad():
        return model.act({"states": states}, role="value")[0].reshape(-1)


def collect(
    model: Model, envs: gym.vector.VectorEnv, obs: np.ndarray, tracker: EpisodeTracker, step: int, config: PPOConfig
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Run ``config.rollout_steps`` steps in every environment with the stochastic policy.

    Returns:
        the flattened batch (``states``, ``actions``, ``log_probs``, ``advantages``, ``returns``; first axis
        ``config.batch_size``) and the observation to continue from.
    """
    steps, num_envs = config.rollout_steps, config.num_envs
    states, actions, log_probs = [], [], []
    values = np.zeros((steps, num_envs), dtype=np.float32)
    rewards, dones = np.zeros_like(values), np.zeros_like(values)
    model.set_mode("eval")
    for t in range(steps):
        state = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            action, log_prob = _policy(model, {"states": state})
            value = model.act({"states": state}, role="value")[0]  # reuses the policy pass's trunk
        obs, reward, terminated, truncated, info = envs.step(to_env_actions(action.numpy(), envs.single_action_space))
        done = terminated | truncated
        tracker.update(reward, done, step + (t + 1) * num_envs)
        reward = reward * config.reward_scale
        indices, final = final_observations(info, truncated & ~terminated)
        if indices.size:  # a time limit is not a terminal state: bootstrap from the final observation
            reward[indices] += config.gamma * _values(model, torch.as_tensor(final, dtype=torch.float32)).numpy()
        states.append(state)
        actions.append(action)
        log_probs.append(log_prob)
        values[t], rewards[t], dones[t] = value.reshape(-1).numpy(), reward, done
    last_values = _values(model, torch.as_tensor(obs, dtype=torch.float32)).numpy()
    advantages, returns = compute_gae(rewards, values, dones, last_values, config.gamma, config.gae_lambda)
    batch = {
        "states": torch.cat(states),
        "actions": torch.cat(actions),
        "log_probs": torch.cat(log_probs).reshape(-1),
        "advantages": torch.as_tensor(advantages).reshape(-1),
        "returns": torch.as_tensor(returns).reshape(-1),
    }
    return batch, obs


def ppo_loss(model: Model, batch: dict[str, torch.Tensor], config: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate + ``value_coef`` * value MSE - ``entropy_coef`` * entropy on one minibatch.

    Advantages are normalised per minibatch. Returns the loss and float statistics for logging.
    """
    states = batch["states"]
    _, log_prob = _policy(model, {"states": states, "taken_actions": batch["actions"]})
    # get_entropy comes from the policy head's mixin, a base of the generated class that the type Model cannot name
    entropies = model.get_entropy(role="policy")  # type: ignore[operator]
    entropy = entropies.reshape(states.shape[0], -1).sum(dim=-1).mean()
    values = model.act({"states": states}, role="value")[0].reshape(-1)  # same states: the trunk is reused

    advantages = batch["advantages"]
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob.reshape(-1) - batch["log_probs"])
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - config.clip_ratio, 1 + config.clip_ratio) * advantages)
    policy_loss = -surrogate.mean()
    value_loss = (batch["returns"] - values).pow(2).mean()
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    stats = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.item()}
    return loss, stats


def update(
    model: Model, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], config: PPOConfig
) -> dict[str, float]:
    """``config.epochs`` passes of ``config.minibatches`` shuffled minibatch steps; the last minibatch's statistics."""
    model.set_mode("train")
    size = config.batch_size // config.minibatches
    stats: dict[str, float] = {}
    for _ in range(config.epochs):
        order = torch.randperm(config.batch_size)
        for start in range(0, config.batch_size, size):
            index = order[start : start + size]
            loss, stats = ppo_loss(model, {name: value[index] for name, value in batch.items()}, config)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
    return stats


def train(
    env_id: str, steps: int, seed: int, config: PPOConfig, progress: Progress | None = None
) -> tuple[Model, History]:
    """Train a shared model with PPO on ``env_id`` for about ``steps`` environment steps (whole rollouts).

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
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    history = History()
    tracker = EpisodeTracker(config.num_envs, history)
    obs, _ = envs.reset(seed=seed)
    updates = max(1, -(-steps // config.batch_size))
    for iteration in range(updates):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1 - iteration / updates)
        step = iteration * config.batch_size
        batch, obs = collect(model, envs, obs, tracker, step, config)
        stats = update(model, optimizer, batch, config)
        logger.debug("step %d: %s", step + config.batch_size, stats)
        if progress is not None:
            progress(step + config.batch_size, history)
    envs.close()
    model.set_mode("eval")
    return model, history


CHECKPOINT = "model.pt"


def reload(path: str | os.PathLike, model: Model, config: PPOConfig) -> Model:
    """A fresh model rebuilt from the checkpoint ``path`` and its description sidecar (``load_model``)."""
    return load_model(path, device="cpu")
