"""Recurrent PPO on a partially observed CartPole-v1: the velocities are hidden, a GRU has to infer them.

``HideVelocities`` keeps only the cart position and the pole angle. ``RecurrentActorCritic`` is a shared
model (``CategoricalMixin`` role ``"policy"``, ``DeterministicMixin`` role ``"value"``) whose trunk is a GRU
run by :func:`mixrl.models.torch.rnn.sequence_forward`; ``get_specification`` comes from
:func:`~mixrl.models.torch.rnn.rnn_specification`. The loop follows skrl 1.x's recurrent-agent contract:

* rollout (``model.training`` False): one step per call with ``inputs["rnn"] = [h]`` (1, num_envs, H); the
  returned ``outputs["rnn"]`` is kept and zeroed for the environments whose episode ended;
* update (``model.training`` True): minibatches of whole sequences of ``SEQUENCE_LENGTH`` steps, rows
  ``b*L .. b*L+L-1`` forming sequence ``b``, with the state stored at every step in ``inputs["rnn"]`` (only
  the first of each sequence is used) and ``inputs["terminated"]`` so the GRU restarts inside a sequence
  where an episode ended.

Goal: a mean deterministic evaluation return of at least 400 (the maximum is 500).

Run: ``python examples/ppo_rnn_cartpole.py [--steps 150000] [--seed 0]``
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from _common import seed_everything, single_thread
from _ppo_common import EpisodeReturns, evaluate, gae, make_envs, ppo_loss, run
from torch import nn

from mixrl.models.torch import CategoricalMixin, DeterministicMixin, Model
from mixrl.models.torch.rnn import rnn_specification, sequence_forward

NUM_ENVS, ROLLOUT, SEQUENCE_LENGTH, EPOCHS, MINIBATCHES = 8, 128, 16, 4, 4
GAMMA, GAE_LAMBDA, LEARNING_RATE, MAX_GRAD_NORM, ENTROPY_COEF = 0.99, 0.95, 2e-3, 0.5, 0.01
REWARD_SCALE = 0.1  # value targets up to 10 instead of 100: the value loss does not swamp the shared GRU's gradient
HIDDEN = 64


class HideVelocities(gym.ObservationWrapper):
    """CartPole observations without the two velocities: (cart position, pole angle)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        low, high = env.observation_space.low[[0, 2]], env.observation_space.high[[0, 2]]
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[[0, 2]]


def make_env() -> gym.Env:
    return HideVelocities(gym.make("CartPole-v1"))


class RecurrentActorCritic(CategoricalMixin, DeterministicMixin, Model):
    def __init__(self, observation_space: gym.Space, action_space: gym.Space, num_envs: int = 1) -> None:
        Model.__init__(self, observation_space, action_space, device="cpu")
        CategoricalMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.num_envs = num_envs
        self.gru = nn.GRU(self.num_observations, HIDDEN, batch_first=True)
        self.policy_layer = nn.Sequential(nn.Linear(HIDDEN, 64), nn.Tanh(), nn.Linear(64, self.num_actions))
        self.value_layer = nn.Sequential(nn.Linear(HIDDEN, 64), nn.Tanh(), nn.Linear(64, 1))
        nn.init.orthogonal_(self.policy_layer[2].weight, 0.01)

    def get_specification(self) -> dict:
        return rnn_specification(self.gru, self.num_envs, SEQUENCE_LENGTH)

    def act(self, inputs: dict, role: str = "") -> tuple:
        if role == "policy":
            return CategoricalMixin.act(self, inputs, role)
        return DeterministicMixin.act(self, inputs, role)

    def compute(self, inputs: dict, role: str) -> tuple:
        def trunk(states: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            terminated = inputs.get("terminated")
            length, training = SEQUENCE_LENGTH, self.training
            return sequence_forward(
                self.gru, states, inputs["rnn"], terminated=terminated, sequence_length=length, training=training
            )

        # the value pass reuses the policy pass's GRU run when called with the same inputs (same tensors)
        features, rnn_states = self.shared_cache(role, inputs["states"], trunk, producer="policy")
        head = self.policy_layer if role == "policy" else self.value_layer
        return head(features), {"rnn": rnn_states}


def sequences(tensor: torch.Tensor) -> torch.Tensor:
    """(T, num_envs, ...) rollout data -> (num_envs * T/L, L, ...): consecutive steps of one env per sequence."""
    steps, envs = tensor.shape[:2]
    per_env = tensor.transpose(0, 1)  # (num_envs, T, ...)
    return per_env.reshape(envs * steps // SEQUENCE_LENGTH, SEQUENCE_LENGTH, *tensor.shape[2:])


def main(steps: int = 150_000, seed: int = 0) -> float:
    """Train for ``steps`` environment steps; returns the mean deterministic return over 10 episodes."""
    seed_everything(seed)
    with single_thread():
        envs = make_envs(make_env, NUM_ENVS, seed)
        model = RecurrentActorCritic(envs.single_observation_space, envs.single_action_space, NUM_ENVS)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=1e-5)
        episodes = EpisodeReturns(NUM_ENVS)
        obs = torch.as_tensor(envs.reset(seed=seed)[0])
        sizes = model.get_specification()["rnn"]["sizes"]
        hidden = torch.zeros(sizes[0])  # (1, num_envs, HIDDEN)
        updates = max(1, steps // (NUM_ENVS * ROLLOUT))

        for update in range(updates):
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * (1 - update / updates)
            # ---- rollout: one GRU step per call; keep the state that went *into* every step
            model.set_mode("eval")
            states, actions, log_probs, values, rewards, dones, stored = [], [], [], [], [], [], []
            with torch.no_grad():
                for _ in range(ROLLOUT):
                    inputs = {"states": obs, "rnn": [hidden]}
                    action, log_prob, outputs = model.act(inputs, role="policy")
                    values.append(model.act(inputs, role="value")[0].flatten())
                    states.append(obs)
                    actions.append(action)
                    log_probs.append(log_prob.flatten())
                    stored.append(hidden[0])
                    next_obs, reward, terminated, truncated, info = envs.step(action.flatten().numpy())
                    done = terminated | truncated
                    episodes.add(reward, done)
                    reward = torch.as_tensor(reward * REWARD_SCALE, dtype=torch.float32)
                    hidden = outputs["rnn"][0]
                    cut = truncated & ~terminated  # bootstrap time limits with the state after the last step
                    if cut.any():
                        final = {"states": torch.as_tensor(np.stack(info["final_obs"][cut])), "rnn": [hidden[:, cut]]}
                        reward[cut] += GAMMA * model.act(final, role="value")[0].flatten()
                    hidden = hidden * torch.as_tensor(~done, dtype=torch.float32).view(1, -1, 1)
                    rewards.append(reward)
                    dones.append(torch.as_tensor(done, dtype=torch.float32))
                    obs = torch.as_tensor(next_obs)
                last_values = model.act({"states": obs, "rnn": [hidden]}, role="value")[0].flatten()
            advantages, returns = gae(
                torch.stack(rewards), torch.stack(values), torch.stack(dones), last_values, GAMMA, GAE_LAMBDA
            )

            # ---- update on whole sequences (T, envs, ...) -> (sequences, L, ...)
            model.set_mode("train")
            batch = {
                "states": sequences(torch.stack(states)),
                "actions": sequences(torch.stack(actions)),
                "log_probs": sequences(torch.stack(log_probs)),
                "advantages": sequences(advantages),
                "returns": sequences(returns),
                "terminated": sequences(torch.stack(dones)).bool(),
                "rnn": sequences(torch.stack(stored)),  # state entering every step: (sequences, L, HIDDEN)
            }
            count = batch["states"].shape[0]
            for _ in range(EPOCHS):
                for index in torch.randperm(count).chunk(MINIBATCHES):
                    mb = {name: tensor[index].flatten(0, 1) for name, tensor in batch.items()}  # (B*L, ...)
                    inputs = {
                        "states": mb["states"],
                        "taken_actions": mb["actions"],
                        "rnn": [mb["rnn"].unsqueeze(0)],  # (1, B*L, HIDDEN)
                        "terminated": mb["terminated"].view(-1, 1),
                    }
                    _, log_prob, _ = model.act(inputs, role="policy")
                    entropy = model.get_entropy(role="policy")
                    new_values = model.act(inputs, role="value")[0].flatten()
                    loss = ppo_loss(
                        log_prob.flatten(),
                        mb["log_probs"],
                        mb["advantages"],
                        new_values,
                        mb["returns"],
                        entropy,
                        entropy_coef=ENTROPY_COEF,
                    )
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                    optimizer.step()
        envs.close()

        model.set_mode("eval")
        state = {"hidden": torch.zeros(1, 1, HIDDEN)}

        def greedy(observation: torch.Tensor) -> int:
            _, _, outputs = model.act({"states": observation, "rnn": [state["hidden"]]}, role="policy")
            state["hidden"] = outputs["rnn"][0]
            return int(outputs["net_output"].argmax())

        def new_episode() -> None:
            state["hidden"] = torch.zeros(1, 1, HIDDEN)

        print(f"training: mean return of the last 20 episodes {episodes.mean():.1f}")
        return evaluate(make_env, greedy, new_episode=new_episode)


if __name__ == "__main__":
    run(main, 150_000, __doc__.splitlines()[0], "partially observed CartPole-v1 mean deterministic return")
