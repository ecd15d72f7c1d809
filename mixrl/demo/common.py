"""Framework-free pieces of the reference PPO: hyper-parameters, vector environments, GAE, sequences, evaluation.

Both reference PPOs (:mod:`mixrl.demo.ppo` for PyTorch, :mod:`mixrl.demo.ppo_jax` for JAX) collect rollouts
from the same ``gymnasium`` vector environments, read action masks and recurrent sequence lengths the same way,
cut rollouts into the same sequences and compute advantages with the same NumPy GAE, so they differ only in the
model calls and the update step. :func:`evaluate` is the one evaluation loop of the demo and of
every example in ``examples/``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (the defaults are the demo's, tuned for CartPole-v1).

    Args:
        num_envs: environments stepped together (``SyncVectorEnv``).
        rollout_steps: steps per environment between two updates (a rollout has ``num_envs * rollout_steps``).
        epochs: passes over each rollout.
        minibatches: minibatches per pass.
        learning_rate: Adam step size, linearly annealed to 0 over the run when ``anneal_lr``.
        gamma: discount factor.
        gae_lambda: GAE parameter.
        clip_ratio: PPO clipping range of the probability ratio.
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
        max_grad_norm: global gradient-norm clip.
        reward_scale: rewards are multiplied by this before learning (not in the reported returns): small value
            targets keep the value loss from swamping the policy's gradient in the shared trunk.
        hidden: the demo model only: widths of the shared trunk.
        initial_log_std: the demo model only, Gaussian policies: initial log standard deviation.
    """

    num_envs: int = 8
    rollout_steps: int = 32
    epochs: int = 20
    minibatches: int = 1
    learning_rate: float = 1e-3
    anneal_lr: bool = True
    gamma: float = 0.98
    gae_lambda: float = 0.8
    clip_ratio: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    reward_scale: float = 0.1
    hidden: tuple[int, ...] = (64, 64)
    initial_log_std: float = 0.0

    @property
    def batch_size(self) -> int:
        """Transitions per rollout."""
        return self.num_envs * self.rollout_steps


#: per-environment defaults: the demo's ``--steps`` default and the hyper-parameters
PRESETS: dict[str, tuple[int, PPOConfig]] = {
    # many small rollouts, each reused for 20 full-batch epochs (the rl-zoo CartPole setting)
    "CartPole-v1": (120_000, PPOConfig()),
    # a short horizon (gamma 0.9) keeps the value target easy to fit
    "Pendulum-v1": (
        100_000,
        PPOConfig(rollout_steps=256, epochs=10, minibatches=32, gamma=0.9, gae_lambda=0.95),
    ),
}


def model_description(action_space: gym.Space, config: PPOConfig) -> dict:
    """Keyword arguments of the instantiators' ``shared_model`` for the demo's policy + value model.

    The same description builds the PyTorch and the JAX model: an MLP trunk of ``config.hidden`` tanh layers,
    a categorical (Discrete actions) or Gaussian (Box actions) ``policy`` head and a deterministic ``value`` head.

    Raises:
        ValueError: another kind of action space.
    """
    network = [{"name": "net", "input": "STATES", "layers": list(config.hidden), "activations": "tanh"}]
    policy: dict[str, Any]
    if isinstance(action_space, gym.spaces.Discrete):
        policy = {"network": network, "output": "ACTIONS"}
        structure = "CategoricalMixin"
    elif isinstance(action_space, gym.spaces.Box):
        structure = "GaussianMixin"
        policy = {"network": network, "output": "ACTIONS", "initial_log_std": config.initial_log_std}
    else:
        raise ValueError(f"the demo supports Discrete and Box action spaces, got {type(action_space).__name__}")
    return {
        "structure": [structure, "DeterministicMixin"],
        "roles": ["policy", "value"],
        "parameters": [policy, {"output": "ONE"}],
    }


#: orthogonal initialisation gains: the trunk, the policy head (almost uniform at the start) and the value head
TRUNK_GAIN, POLICY_GAIN, VALUE_GAIN = float(np.sqrt(2)), 0.01, 1.0


def preset(env_id: str, action_space: gym.Space) -> tuple[int, PPOConfig]:
    """Default ``(steps, config)`` for ``env_id``: its own preset, else the CartPole or Pendulum one by action space."""
    if env_id in PRESETS:
        return PRESETS[env_id]
    return PRESETS["CartPole-v1" if isinstance(action_space, gym.spaces.Discrete) else "Pendulum-v1"]


@dataclass
class History:
    """What a training run reports: finished-episode returns with the step count at which each ended."""

    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)

    def running_mean(self, window: int = 20) -> float | None:
        """Mean return of the last ``window`` finished episodes (``None`` before the first one)."""
        return float(np.mean(self.returns[-window:])) if self.returns else None


class EpisodeTracker:
    """Accumulates the (unscaled) rewards of each vectorised environment and records finished episodes."""

    def __init__(self, num_envs: int, history: History) -> None:
        self.totals = np.zeros(num_envs)
        self.history = history

    def update(self, rewards: np.ndarray, done: np.ndarray, step: int) -> None:
        """Add ``rewards`` (num_envs,) and record the episodes flagged by ``done`` (num_envs,) at env step ``step``."""
        self.totals += rewards
        for index in np.flatnonzero(done):
            self.history.steps.append(step)
            self.history.returns.append(float(self.totals[index]))
            self.totals[index] = 0.0


def make_envs(env: str | Callable[[], gym.Env], num_envs: int, seed: int | None = None) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env`` (a gymnasium id or a factory) in a ``SyncVectorEnv``, not reset yet.

    Finished sub-envs restart in the same step (``SAME_STEP`` autoreset): ``step`` returns the first observation
    of the next episode and puts the last one in ``info["final_obs"]`` (flagged by ``info["_final_obs"]``), so
    truncated episodes can be bootstrapped. The action space is seeded with ``seed`` when one is given.
    """
    factory = (lambda: gym.make(env)) if isinstance(env, str) else env
    envs = gym.vector.SyncVectorEnv([factory] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    if seed is not None:
        envs.action_space.seed(seed)
    return envs


def final_observations(info: dict, truncated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of truncated (not terminated) environments and their final observations (k, obs...)."""
    indices = np.flatnonzero(truncated & info.get("_final_obs", np.zeros_like(truncated)))
    if indices.size == 0:
        return indices, np.empty(0)
    return indices, np.stack([info["final_obs"][i] for i in indices])


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over a rollout.

    Args:
        rewards, values, dones: (T, num_envs); ``dones[t]`` is True when the episode ended at step ``t``
            (terminated or truncated: truncated rewards already include the bootstrapped final value).
        last_values: (num_envs,) value of the observation after the last step.

    Returns:
        ``(advantages, returns)``, both (T, num_envs), with ``returns = advantages + values``.
    """
    advantages = np.zeros_like(rewards)
    next_advantage = np.zeros_like(last_values)
    next_values = last_values
    for t in reversed(range(rewards.shape[0])):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * not_done - values[t]
        next_advantage = delta + gamma * gae_lambda * not_done * next_advantage
        advantages[t] = next_advantage
        next_values = values[t]
    return advantages, advantages + values


def action_mask(info: dict) -> np.ndarray | None:
    """The step's ``info["action_mask"]`` (num_envs, n) as a bool array, or ``None`` when the env gives none."""
    return None if "action_mask" not in info else np.stack(info["action_mask"]).astype(bool)


def sequence_length(*models: Any) -> int:
    """The recurrent sequence length of the first recurrent model's ``get_specification()`` (1 for feed-forward)."""
    for model in models:
        spec = model.get_specification().get("rnn")
        if spec is not None:
            return int(spec["sequence_length"])
    return 1


def sequences(array: Any, length: int) -> Any:
    """(T, num_envs, ...) rollout data -> (T * num_envs / length, length, ...), for NumPy, torch or JAX arrays.

    Each row holds ``length`` consecutive steps of one env (for recurrent updates); with ``length`` 1 the
    rows keep the rollout's time-major order.
    """
    if length == 1:
        return array.reshape(-1, 1, *array.shape[2:])
    steps, num_envs = array.shape[:2]
    return array.swapaxes(0, 1).reshape(num_envs * steps // length, length, *array.shape[2:])


def to_env_actions(actions: np.ndarray, space: gym.Space) -> np.ndarray:
    """Model actions (num_envs, ...) in the layout a vector env expects; Box actions are clipped to the bounds.

    Raises:
        ValueError: a space other than Discrete, MultiDiscrete or Box.
    """
    if isinstance(space, gym.spaces.Discrete):
        return actions.reshape(-1)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return actions.reshape(-1, *space.shape)
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high).reshape(-1, *space.shape)
    raise ValueError(f"expected a Discrete, MultiDiscrete or Box action space, got {type(space).__name__}")


#: a greedy policy for :func:`evaluate`: (observations (num_envs, obs...), the step's info dict) -> actions
GreedyPolicy = Callable[[np.ndarray, dict[str, Any]], np.ndarray]


def evaluate(env: str | Callable[[], gym.Env], policy: GreedyPolicy, episodes: int = 10, seed: int = 0) -> list[float]:
    """Undiscounted returns of ``episodes`` episodes of ``policy``, one per sub-env of a vector env, side by side.

    Sub-env ``i`` resets with seed ``seed + i``; sub-envs whose episode is over keep stepping, uncounted, until
    the last one ends. ``policy`` gets the vector env's info too, e.g. ``info["action_mask"]`` (episodes, n).

    Args:
        env: a gymnasium id or a factory of the environment.
        policy: (episodes, obs...) observations and the info dict -> model actions (episodes, ...), passed
            through :func:`to_env_actions`.
        episodes: number of episodes (= sub-envs).
        seed: reset seed of the first sub-env.

    Returns:
        the ``episodes`` returns, in sub-env order.
    """
    envs = make_envs(env, episodes)
    obs, info = envs.reset(seed=seed)
    returns, running = np.zeros(episodes), np.ones(episodes, dtype=bool)
    while running.any():
        actions = to_env_actions(np.asarray(policy(obs, info)), envs.single_action_space)
        obs, rewards, terminated, truncated, info = envs.step(actions)
        returns += rewards * running
        running &= ~(terminated | truncated)
    envs.close()
    return returns.tolist()


def plot_learning_curve(history: History, path: str | os.PathLike, title: str, evaluation: float | None = None) -> None:
    """Write a PNG of the episode returns and their running mean against environment steps (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    returns = np.asarray(history.returns)
    axes.plot(history.steps, returns, ".", alpha=0.25, markersize=3, label="episode return")
    if returns.size:
        window = min(20, returns.size)
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        axes.plot(history.steps[window - 1 :], smooth, label=f"mean of last {window}")
    if evaluation is not None:
        axes.axhline(evaluation, color="tab:green", linestyle="--", label=f"deterministic evaluation: {evaluation:.1f}")
    axes.set(xlabel="environment steps", ylabel="return", title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", framealpha=0.9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def replace(config: PPOConfig, **changes: Any) -> PPOConfig:
    """``config`` with ``changes`` applied (``dataclasses.replace``)."""
    return dataclasses.replace(config, **changes)
