"""TD3 on Pendulum-v1 with mixrl models written by hand.

A deterministic policy (``DeterministicMixin(clip_actions=True)``), twin Q-critics on
``concat(states, taken_actions)``, target networks frozen and soft-updated with ``update_parameters(polyak=tau)``,
target policy smoothing, delayed policy updates and ``random_act`` warm-up.

Run: ``python examples/td3_pendulum.py [--steps 6000] [--seed 0]``
"""

from __future__ import annotations

import copy
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from _common import ReplayBuffer, final_observations, parse_args, seed_everything, single_thread
from torch import nn

from mixrl.demo.common import evaluate, make_envs
from mixrl.models.torch import DeterministicMixin, Model

ENV_ID = "Pendulum-v1"


class Policy(DeterministicMixin, Model):
    """``high * tanh(MLP(states))``; ``clip_actions=True`` clamps to the Box bounds (a guard: tanh stays inside)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden: int = 64) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self, clip_actions=True)
        self.net = nn.Sequential(
            nn.Linear(self.num_observations, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, self.num_actions),
            nn.Tanh(),
        )
        self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.high * self.net(inputs["states"]), {}


class Critic(DeterministicMixin, Model):
    """Q(s, a) (batch, 1) of an action in the env's units."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden: int = 64) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self)
        self.net = nn.Sequential(
            nn.Linear(self.num_observations + self.num_actions, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, dict]:
        return self.net(torch.cat([inputs["states"], inputs["taken_actions"]], dim=1)), {}


def q_values(critics: list[Critic], states: torch.Tensor, actions: torch.Tensor, role: str) -> list[torch.Tensor]:
    """``Q_i(states, actions)`` (batch, 1) of each critic, acting with roles ``f"{role}_1"``, ``f"{role}_2"``."""
    return [
        critic.act({"states": states, "taken_actions": actions}, role=f"{role}_{i}")[0]
        for i, critic in enumerate(critics, start=1)
    ]


def main(
    steps: int = 6000,
    seed: int = 0,
    warmup: int = 500,
    batch_size: int = 256,
    gamma: float = 0.99,
    tau: float = 0.05,
    learning_rate: float = 2e-3,
    exploration_noise: float = 0.1,
    smoothing_noise: float = 0.2,
    noise_clip: float = 0.5,
    policy_delay: int = 2,
    eval_episodes: int = 10,
) -> float:
    """Train TD3 for ``steps`` environment steps and return the mean return of the policy.

    Args:
        steps: environment steps (one env, one gradient step per step after the warm-up).
        seed: seed of torch, NumPy, the env resets and the evaluation episodes.
        warmup: steps of uniformly random actions (``random_act``) before learning starts.
        batch_size: transitions per gradient step.
        gamma: discount factor.
        tau: polyak coefficient of the targets (0.05: faster value propagation than the usual 0.005, which
            Pendulum's short horizon tolerates).
        learning_rate: Adam learning rate of the policy and the critics.
        exploration_noise: std of the Gaussian noise added to actions while collecting, as a fraction of ``high``.
        smoothing_noise: std of the target policy smoothing noise, as a fraction of ``high``.
        noise_clip: bound of the smoothing noise, as a fraction of ``high``.
        policy_delay: critic updates per policy (and target) update.
        eval_episodes: evaluation episodes.

    Returns:
        Mean evaluation return (Pendulum: about -1200 for a random policy, -150 for a good one).
    """
    seed_everything(seed)
    env = make_envs(ENV_ID, 1, seed)
    obs_space, act_space = env.single_observation_space, env.single_action_space
    low, high = torch.as_tensor(act_space.low), torch.as_tensor(act_space.high)

    policy = Policy(obs_space, act_space)
    critics = [Critic(obs_space, act_space) for _ in range(2)]
    target_policy = copy.deepcopy(policy)
    target_critics = [copy.deepcopy(critic) for critic in critics]
    for target, source in zip([target_policy, *target_critics], [policy, *critics], strict=True):
        target.update_parameters(source, polyak=1)  # hard copy (a no-op after deepcopy, shown for the API)
        target.freeze_parameters(True)

    policy_optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate, fused=True)
    critic_parameters = [parameter for critic in critics for parameter in critic.parameters()]
    critic_optimizer = torch.optim.Adam(critic_parameters, lr=learning_rate, fused=True)
    buffer = ReplayBuffer(steps, policy.num_observations, policy.num_actions, torch.float32)

    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    with single_thread():
        for step in range(steps):
            states = torch.as_tensor(obs, dtype=torch.float32)
            if step < warmup:
                actions = policy.random_act({"states": states}, role="policy")[0]
            else:
                with torch.no_grad():
                    actions = policy.act({"states": states}, role="policy")[0]
                actions = torch.clamp(actions + exploration_noise * high * torch.randn_like(actions), low, high)
            next_obs, rewards, terminated, truncated, info = env.step(actions.numpy())
            buffer.add(states, actions, rewards, final_observations(next_obs, terminated | truncated, info), terminated)
            obs = next_obs
            if step < warmup:
                continue

            s, a, r, s_next, term = buffer.sample(batch_size)

            # critics: clipped double-Q target of a smoothed target action
            with torch.no_grad():
                noise = (smoothing_noise * high * torch.randn_like(a)).clamp(-noise_clip * high, noise_clip * high)
                a_next = target_policy.act({"states": s_next}, role="target_policy")[0]
                a_next = torch.clamp(a_next + noise, low, high)
                q_next = torch.min(*q_values(target_critics, s_next, a_next, role="target_critic"))
                target_q = r + gamma * (1 - term) * q_next
            critic_loss = sum(F.mse_loss(q, target_q) for q in q_values(critics, s, a, role="critic"))
            critic_optimizer.zero_grad()
            critic_loss.backward()
            critic_optimizer.step()

            if step % policy_delay:
                continue
            # policy (delayed): maximise Q_1 of its own action, then move every target
            policy_actions = policy.act({"states": s}, role="policy")[0]
            policy_loss = -critics[0].act({"states": s, "taken_actions": policy_actions}, role="critic_1")[0].mean()
            policy_optimizer.zero_grad()
            policy_loss.backward()
            policy_optimizer.step()
            for target, source in zip([target_policy, *target_critics], [policy, *critics], strict=True):
                target.update_parameters(source, polyak=tau)

        def greedy(obs: np.ndarray, info: dict) -> np.ndarray:
            states = torch.as_tensor(obs, dtype=torch.float32)
            return policy.act({"states": states}, role="policy")[0].numpy()

        with torch.no_grad():
            mean_return = float(np.mean(evaluate(ENV_ID, greedy, eval_episodes, seed=seed + 10_000)))
    env.close()
    print(f"TD3 {ENV_ID}: mean return {mean_return:.1f} after {steps} steps in {time.perf_counter() - start:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], steps=6000)
    main(steps=args.steps, seed=args.seed)
