"""Helpers shared by the ``examples/ppo_*.py`` reference loops: environments, GAE, the PPO loss, evaluation.

Seeding and threads come from ``_common``. Only the algorithm's plumbing lives here; every example keeps its
model, its rollout and its update loop.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import gymnasium as gym
import numpy as np
import torch


def make_envs(make_env: Callable[[], gym.Env], num_envs: int, seed: int) -> gym.vector.SyncVectorEnv:
    """``num_envs`` environments in a ``SyncVectorEnv``, reset already, with a seeded action space.

    Finished episodes restart in the same step (``SAME_STEP`` autoreset): ``step`` returns the first
    observation of the next episode and puts the last one in ``info["final_obs"]``.
    """
    envs = gym.vector.SyncVectorEnv(
        [make_env for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    envs.action_space.seed(seed)
    envs.reset(seed=seed)
    return envs


class EpisodeReturns:
    """Sums the rewards of each environment and keeps the returns of finished episodes."""

    def __init__(self, num_envs: int) -> None:
        self.running = np.zeros(num_envs)
        self.finished: list[float] = []

    def add(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.running += rewards
        self.finished.extend(self.running[done].tolist())
        self.running[done] = 0.0

    def mean(self, last: int = 20) -> float:
        """Mean of the last ``last`` finished episodes (NaN before the first)."""
        return float(np.mean(self.finished[-last:])) if self.finished else float("nan")


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation.

    Args:
        rewards, values, dones: (T, num_envs); ``dones[t]`` ends the episode after step ``t``.
        last_values: (num_envs,) value of the observation following the last step.

    Returns:
        ``(advantages, returns)`` (T, num_envs), with ``returns = advantages + values``.
    """
    advantages = torch.zeros_like(rewards)
    advantage, next_values = torch.zeros_like(last_values), last_values
    for t in reversed(range(rewards.shape[0])):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * not_done - values[t]
        advantage = delta + gamma * gae_lambda * not_done * advantage
        advantages[t], next_values = advantage, values[t]
    return advantages, advantages + values


def ppo_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    clip_ratio: float = 0.2,
    value_coef: float = 0.5,
    entropy_coef: float = 0.0,
) -> torch.Tensor:
    """Clipped surrogate + ``value_coef`` * value MSE - ``entropy_coef`` * mean entropy; all inputs (batch,).

    Advantages are normalised over the minibatch.
    """
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - old_log_prob)
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip_ratio, 1 + clip_ratio) * advantages)
    return -surrogate.mean() + value_coef * (returns - values).pow(2).mean() - entropy_coef * entropy.mean()


def minibatches(size: int, count: int) -> Iterator[torch.Tensor]:
    """A random permutation of ``range(size)`` cut into ``count`` index tensors."""
    yield from torch.randperm(size).chunk(count)


def evaluate(
    make_env: Callable[[], gym.Env],
    act: Callable[[torch.Tensor], np.ndarray],
    episodes: int = 10,
    seed: int = 10_000,
    new_episode: Callable[[], None] | None = None,
) -> float:
    """Mean return of ``episodes`` episodes (reset seeds ``seed``, ``seed + 1``, ...) of the greedy policy ``act``.

    Args:
        act: (1, obs) states -> the action for ``env.step``.
        new_episode: called before each episode (e.g. to clear recurrent states).
    """
    env, returns = make_env(), []
    for episode in range(episodes):
        if new_episode is not None:
            new_episode()
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action = act(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1))
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run(main: Callable[..., float], default_steps: int, description: str, what: str) -> None:
    """Command line of an example: ``--steps`` and ``--seed``; prints the reached figure and the wall time."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=default_steps, help="environment steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    args = parser.parse_args()
    start = time.perf_counter()
    figure = main(steps=args.steps, seed=args.seed)
    print(f"{what}: {figure:.1f} after {args.steps} steps, wall time {time.perf_counter() - start:.1f} s")
