"""Soft Actor-Critic on Pendulum-v1 with mixrl models written by hand.

A squashed Gaussian policy with a state-dependent log-std (``GaussianMixin(squash=True)``: actions
``2 * tanh(u)`` inside Pendulum's torque bounds, log-probabilities through the change of variables), two
Q-critics and their targets (``DeterministicMixin`` on ``concat(states, taken_actions)``), soft target
updates with ``update_parameters(polyak=tau)`` and automatic entropy tuning.

Run: ``python examples/sac_pendulum.py [--steps 5000] [--seed 0]``
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
from mixrl.models.torch import DeterministicMixin, GaussianMixin, Model

ENV_ID = "Pendulum-v1"


class Policy(GaussianMixin, Model):
    """Actions ``a = center + half_range * tanh(u)`` with ``u ~ Normal(mean, std)``, inside the Box.

    Why squash and not ``clip_actions=True``: clipping evaluates the log-prob of a clipped action under the
    unclipped Gaussian and has zero gradient beyond the bounds, so a wider Gaussian earns entropy bonus at no
    cost and the mean may wander past the bounds. On Pendulum, whose best actions often sit at the bounds, that
    is what happened in a run of this loop with ``clip_actions=True`` (tau 0.05, initial alpha 0.1): the std
    grew, the temperature fell to 0, the mean ran past a bound and the return stayed between -1200 and -1600
    (random level) for 4000 steps. With ``squash=True`` every action stays inside with a non-zero gradient, and
    ``act`` returns the exact log-probability of ``a`` (the stable tanh log-det on ``u`` and the rescale).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden: int = 64) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        GaussianMixin.__init__(self, clip_log_std=True, min_log_std=-5, max_log_std=2, squash=True)
        self.trunk = nn.Sequential(
            nn.Linear(self.num_observations, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.mean_layer = nn.Linear(hidden, self.num_actions)
        self.log_std_layer = nn.Linear(hidden, self.num_actions)

    def compute(self, inputs: dict, role: str) -> tuple[torch.Tensor, torch.Tensor, dict]:
        hidden = self.trunk(inputs["states"])
        return self.mean_layer(hidden), self.log_std_layer(hidden), {}


class Critic(DeterministicMixin, Model):
    """Q(s, a) (batch, 1) of an action ``a`` in the environment's bounds."""

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


def min_q(critics: list[Critic], states: torch.Tensor, actions: torch.Tensor, role: str) -> torch.Tensor:
    """Clipped double Q: the element-wise minimum (batch, 1) of the critics' ``Q(states, actions)``.

    Args:
        critics: the two critics (or the two targets).
        states: (batch, num_observations).
        actions: (batch, num_actions).
        role: ``"critic"`` or ``"target_critic"``; the i-th model acts with role ``f"{role}_{i}"`` (skrl's names).
    """
    q_1, q_2 = (
        critic.act({"states": states, "taken_actions": actions}, role=f"{role}_{i}")[0]
        for i, critic in enumerate(critics, start=1)
    )
    return torch.min(q_1, q_2)


def main(
    steps: int = 5000,
    seed: int = 0,
    num_envs: int = 1,
    warmup: int = 200,
    batch_size: int = 256,
    gamma: float = 0.99,
    tau: float = 0.05,
    learning_rate: float = 2e-3,
    eval_episodes: int = 10,
) -> float:
    """Train SAC for ``steps`` environment steps and return the mean return of the deterministic policy.

    Args:
        steps: environment steps, summed over the ``num_envs`` sub-envs.
        seed: seed of torch, NumPy, the env resets and the evaluation episodes.
        num_envs: parallel sub-envs; one gradient step per vector step.
        warmup: steps of uniformly random actions (``random_act``) before learning starts.
        batch_size: transitions per gradient step.
        gamma: discount factor.
        tau: polyak coefficient of the target critics. 0.05 (ten times the usual 0.005) propagates values
            much sooner: measured here, 1500-2000 steps to swing up instead of about 3500 (0.005) or 2500 (0.02).
        learning_rate: Adam learning rate of the policy, the critics and the entropy temperature.
        eval_episodes: evaluation episodes (the squashed mean action).

    Returns:
        Mean evaluation return (Pendulum: about -1200 for a random policy, -150 for a good one).
    """
    seed_everything(seed)
    env = make_envs(ENV_ID, num_envs, seed)
    obs_space, act_space = env.single_observation_space, env.single_action_space

    policy = Policy(obs_space, act_space)
    critics = [Critic(obs_space, act_space) for _ in range(2)]
    targets = [copy.deepcopy(critic) for critic in critics]
    for target, critic in zip(targets, critics, strict=True):
        target.update_parameters(critic, polyak=1)  # hard copy (a no-op after deepcopy, shown for the API)
        target.freeze_parameters(True)

    log_alpha = torch.zeros(1, requires_grad=True)  # alpha = 1 at the start
    target_entropy = -float(policy.num_actions)
    policy_optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate, fused=True)
    critic_parameters = [parameter for critic in critics for parameter in critic.parameters()]
    critic_optimizer = torch.optim.Adam(critic_parameters, lr=learning_rate, fused=True)
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=learning_rate, fused=True)
    buffer = ReplayBuffer(steps, policy.num_observations, policy.num_actions, torch.float32)

    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    with single_thread():
        for step in range(0, steps, num_envs):
            states = torch.as_tensor(obs, dtype=torch.float32)
            if step < warmup:
                actions = policy.random_act({"states": states}, role="policy")[0]
            else:
                with torch.no_grad():
                    actions, _, _ = policy.act({"states": states}, role="policy")
            next_obs, rewards, terminated, truncated, info = env.step(actions.numpy())
            real_next_obs = final_observations(next_obs, terminated | truncated, info)
            buffer.add(states, actions, rewards, real_next_obs, terminated)
            obs = next_obs
            if step < warmup:
                continue

            s, a, r, s_next, term = buffer.sample(batch_size)
            alpha = log_alpha.exp().detach()

            # critics: soft Bellman target from the frozen targets and a fresh next action
            with torch.no_grad():
                a_next, log_prob_next, _ = policy.act({"states": s_next}, role="policy")
                q_next = min_q(targets, s_next, a_next, role="target_critic")
                target_q = r + gamma * (1 - term) * (q_next - alpha * log_prob_next)
            critic_loss = sum(
                F.mse_loss(critic.act({"states": s, "taken_actions": a}, role=f"critic_{i + 1}")[0], target_q)
                for i, critic in enumerate(critics)
            )
            critic_optimizer.zero_grad()
            critic_loss.backward()
            critic_optimizer.step()

            # policy: maximise min Q - alpha * log pi through the reparameterised, squashed sample
            a_new, log_prob, _ = policy.act({"states": s}, role="policy")
            policy_loss = (alpha * log_prob - min_q(critics, s, a_new, role="critic")).mean()
            policy_optimizer.zero_grad()
            policy_loss.backward()
            policy_optimizer.step()

            # temperature: drive the policy entropy towards -num_actions
            alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
            alpha_optimizer.zero_grad()
            alpha_loss.backward()
            alpha_optimizer.step()

            for target, critic in zip(targets, critics, strict=True):
                target.update_parameters(critic, polyak=tau)

        def greedy(obs: np.ndarray, info: dict) -> np.ndarray:
            states = torch.as_tensor(obs, dtype=torch.float32)
            return policy.act({"states": states}, role="policy")[2]["mean_actions"].numpy()  # squashed mean

        with torch.no_grad():
            mean_return = float(np.mean(evaluate(ENV_ID, greedy, eval_episodes, seed=seed + 10_000)))
    env.close()
    print(f"SAC {ENV_ID}: mean return {mean_return:.1f} after {steps} steps in {time.perf_counter() - start:.1f} s")
    return mean_return


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], steps=5000)
    main(steps=args.steps, seed=args.seed)
