"""Tabular Q-learning with a mixrl ``TabularMixin`` model on FrozenLake-v1 (4x4, not slippery) or Taxi-v4.

The model keeps its Q-table in ``self.q_table`` (num_envs, num_observations, num_actions) and acts
epsilon-greedily in ``compute``; the loop updates the table in place through ``policy.table()``, as skrl's
Q-learning agent does. Here one table (``num_envs=1``) learns from a whole vector of environments: its env
dimension broadcasts over the batch of states, so each Python iteration moves 16 environments and Taxi
learns in seconds. (Gymnasium 1.x retired Taxi-v3 for Taxi-v4: same map, same rewards.)

Run: ``python examples/q_learning_tabular.py [--env frozenlake|taxi] [--steps N] [--seed 0]``
"""

from __future__ import annotations

import functools
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from _common import final_observations, parse_args, seed_everything

from mixrl.demo.common import evaluate, make_envs
from mixrl.models.torch import Model, TabularMixin

# per environment: gymnasium id, make kwargs, default steps, figure reported (mean return or success rate)
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "frozenlake": {"id": "FrozenLake-v1", "kwargs": {"map_name": "4x4", "is_slippery": False}, "steps": 8000},
    "taxi": {"id": "Taxi-v4", "kwargs": {}, "steps": 60_000},
}


class EpsilonGreedyPolicy(TabularMixin, Model):
    """Epsilon-greedy over ``self.q_table``; ``epsilon`` is a plain attribute the loop may change (0: greedy).

    The table starts at 1, more than an untried action is worth in almost every state (FrozenLake pays 1 at
    the goal only, Taxi charges 1 per step): the greedy choice tries each action before settling, a systematic
    exploration that epsilon alone would take far longer to achieve.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, epsilon: float = 0.1) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        TabularMixin.__init__(self, num_envs=1)
        self.epsilon = epsilon
        self.q_table = torch.ones((self.num_envs, self.num_observations, self.num_actions))

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        states = inputs["states"].long().view(-1, 1)
        env_index = torch.arange(self.num_envs).view(-1, 1)
        greedy = self.q_table[env_index, states].argmax(dim=-1).view(-1, 1)
        if self.epsilon == 0:
            return greedy, {}
        explore = torch.rand(states.shape[0], 1) < self.epsilon
        return torch.where(explore, self.random_act(inputs, role)[0], greedy), {}


def main(
    steps: int | None = None,
    seed: int = 0,
    env_name: str = "frozenlake",
    num_envs: int = 16,
    learning_rate: float = 0.5,
    gamma: float = 0.99,
    epsilon: float = 0.1,
    eval_episodes: int = 100,
) -> float:
    """Run Q-learning for ``steps`` environment steps and return the greedy policy's mean return.

    Args:
        steps: environment steps summed over the sub-envs (``None``: the default in ``ENVIRONMENTS``).
        seed: seed of torch, NumPy, the env resets and the evaluation episodes.
        env_name: ``"frozenlake"`` or ``"taxi"``.
        num_envs: sub-envs feeding the one table.
        learning_rate: step size of the tabular update (both environments are deterministic, so large is fine).
        gamma: discount factor.
        epsilon: exploration rate while learning.
        eval_episodes: greedy evaluation episodes.

    Returns:
        Mean evaluation return: FrozenLake's is the success rate (reward 1 at the goal, 0 otherwise);
        Taxi's is about -800 for a random policy and about 8 for an optimal one.

    Raises:
        ValueError: unknown ``env_name``.
    """
    if env_name not in ENVIRONMENTS:
        raise ValueError(f"unknown env_name {env_name!r}: expected one of {sorted(ENVIRONMENTS)}")
    spec = ENVIRONMENTS[env_name]
    steps = spec["steps"] if steps is None else steps
    seed_everything(seed)
    make_env = functools.partial(gym.make, spec["id"], **spec["kwargs"])
    env = make_envs(make_env, num_envs, seed)
    policy = EpsilonGreedyPolicy(env.single_observation_space, env.single_action_space, epsilon=epsilon)
    q_table = policy.table()[0]  # (num_observations, num_actions), a view: updates land in the model

    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    for _ in range(steps // num_envs):
        states = torch.as_tensor(obs)
        actions = policy.act({"states": states}, role="policy")[0].view(-1)
        next_obs, rewards, terminated, truncated, info = env.step(actions.numpy())
        next_states = torch.as_tensor(final_observations(next_obs, terminated | truncated, info))
        # Q(s, a) <- Q(s, a) + lr * (r + gamma * max_a' Q(s', a') - Q(s, a)); no bootstrap from a terminal state.
        # Two sub-envs updating the same (s, a) in one step: one of the two writes wins, a harmless lost update.
        bootstrap = torch.as_tensor(~terminated) * q_table[next_states].max(dim=1).values
        targets = torch.as_tensor(rewards, dtype=torch.float32) + gamma * bootstrap
        q_table[states, actions] += learning_rate * (targets - q_table[states, actions])
        obs = next_obs
    env.close()

    policy.epsilon = 0.0

    def greedy(obs: np.ndarray, info: dict) -> np.ndarray:
        states = torch.as_tensor(obs)
        return policy.act({"states": states}, role="policy")[0].view(-1).numpy()

    mean_return = float(np.mean(evaluate(make_env, greedy, eval_episodes, seed=seed + 10_000)))
    elapsed = time.perf_counter() - start
    print(f"Q-learning {spec['id']}: mean return {mean_return:.2f} after {steps} steps in {elapsed:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(
        __doc__.splitlines()[0],
        steps=None,
        env={"choices": sorted(ENVIRONMENTS), "default": "frozenlake", "help": "environment (default frozenlake)"},
    )
    main(steps=args.steps, seed=args.seed, env_name=args.env)
