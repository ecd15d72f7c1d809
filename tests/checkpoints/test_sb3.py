"""Real stable-baselines3 checkpoints: train briefly, save the .zip, migrate, compare outputs with SB3's own."""

import gymnasium
import numpy as np
import pytest
import torch

sb3 = pytest.importorskip("stable_baselines3")

from mixrl.checkpoints import read_sb3  # noqa: E402
from mixrl.models.torch import CategoricalMixin, DeterministicMixin, GaussianMixin, Model  # noqa: E402

pytestmark = pytest.mark.slow


def mlp(sizes: list[int], activation: type[torch.nn.Module]) -> torch.nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` after every layer (SB3's hidden-layer layout)."""
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), activation()]
    return torch.nn.Sequential(*layers)


class CartPolePolicy(CategoricalMixin, Model):
    """SB3 PPO's policy path: ``policy_net`` (tanh MLP) then ``action_net`` (logits)."""

    def __init__(self, observation_space, action_space, hiddens):
        Model.__init__(self, observation_space, action_space, device="cpu")
        CategoricalMixin.__init__(self)
        self.net = mlp([self.num_observations, *hiddens], torch.nn.Tanh)
        self.logits = torch.nn.Linear(hiddens[-1], self.num_actions)

    def compute(self, inputs, role):
        return self.logits(self.net(inputs["states"])), {}


class CartPoleValue(DeterministicMixin, Model):
    """SB3 PPO's value path: ``value_net`` of the extractor (tanh MLP) then the ``value_net`` head."""

    def __init__(self, observation_space, action_space, hiddens):
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self)
        self.net = mlp([self.num_observations, *hiddens], torch.nn.Tanh)
        self.value = torch.nn.Linear(hiddens[-1], 1)

    def compute(self, inputs, role):
        return self.value(self.net(inputs["states"])), {}


class PendulumActor(GaussianMixin, Model):
    """SB3 SAC's actor: ``latent_pi`` (ReLU MLP), ``mu`` and a state-dependent ``log_std`` head (pre-tanh)."""

    def __init__(self, observation_space, action_space):
        Model.__init__(self, observation_space, action_space, device="cpu")
        GaussianMixin.__init__(self, clip_log_std=True, min_log_std=-20, max_log_std=2)
        self.net = mlp([self.num_observations, 32, 32], torch.nn.ReLU)
        self.mean = torch.nn.Linear(32, self.num_actions)
        self.log_std = torch.nn.Linear(32, self.num_actions)

    def compute(self, inputs, role):
        hidden = self.net(inputs["states"])
        return self.mean(hidden), self.log_std(hidden), {}


class PendulumCritic(DeterministicMixin, Model):
    """SB3 SAC's ``qf0``: a ReLU MLP on ``concat(observations, actions)``."""

    def __init__(self, observation_space, action_space):
        Model.__init__(self, observation_space, action_space, device="cpu")
        DeterministicMixin.__init__(self)
        self.net = torch.nn.Sequential(
            *mlp([self.num_observations + self.num_actions, 32, 32], torch.nn.ReLU), torch.nn.Linear(32, 1)
        )

    def compute(self, inputs, role):
        return self.net(torch.cat([inputs["states"], inputs["taken_actions"]], dim=-1)), {}


def observations(space: gymnasium.spaces.Box, n: int = 16) -> torch.Tensor:
    space.seed(0)
    return torch.as_tensor(np.stack([space.sample() for _ in range(n)]), dtype=torch.float32)


def test_ppo_cartpole_migrates_by_auto_mapping(tmp_path):
    """PPO with distinct layer widths (pi [32, 24], vf [16, 8]): auto-mapping alone is unambiguous.

    The migrated categorical policy gives SB3's action probabilities and the value model its values.
    """
    env = gymnasium.make("CartPole-v1")
    net_arch = {"pi": [32, 24], "vf": [16, 8]}
    agent = sb3.PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=64,
        n_epochs=2,
        policy_kwargs={"net_arch": net_arch},
        seed=0,
        device="cpu",
    )
    agent.learn(total_timesteps=256)
    path = tmp_path / "ppo_cartpole.zip"
    agent.save(path)

    policy = CartPolePolicy(env.observation_space, env.action_space, net_arch["pi"])
    value = CartPoleValue(env.observation_space, env.action_space, net_arch["vf"])
    assert policy.migrate(path=str(path)) is True
    assert value.migrate(path=str(path)) is True

    obs = observations(env.observation_space)
    with torch.no_grad():
        expected_probs = agent.policy.get_distribution(obs).distribution.probs
        expected_values = agent.policy.predict_values(obs)
        _, _, outputs = policy.act({"states": obs}, role="policy")
        values, _, _ = value.act({"states": obs}, role="value")
    torch.testing.assert_close(torch.softmax(outputs["net_output"], dim=-1), expected_probs)
    torch.testing.assert_close(values, expected_values)


def test_sac_pendulum_migrates_with_a_name_map(tmp_path):
    """SAC (net_arch [32, 32]): actor and qf0 are ambiguous by shape, so a name_map maps them.

    SB3 squashes the actor's mean with tanh: the deterministic action is tanh(mixrl's mean_actions).
    """
    env = gymnasium.make("Pendulum-v1")
    kwargs = {"learning_starts": 50, "batch_size": 32, "train_freq": 4, "policy_kwargs": {"net_arch": [32, 32]}}
    agent = sb3.SAC("MlpPolicy", env, seed=0, device="cpu", **kwargs)
    agent.learn(total_timesteps=256)
    path = tmp_path / "sac_pendulum.zip"
    agent.save(path)

    actor = PendulumActor(env.observation_space, env.action_space)
    critic = PendulumCritic(env.observation_space, env.action_space)
    actor_map = {f"net.{i}.{p}": f"actor.latent_pi.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")}
    actor_map |= {
        f"{ours}.{p}": f"actor.{theirs}.{p}"
        for ours, theirs in (("mean", "mu"), ("log_std", "log_std"))
        for p in ("weight", "bias")
    }
    critic_map = {f"net.{i}.{p}": f"critic.qf0.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}
    assert actor.migrate(path=str(path)) is False  # ambiguous without the map (and nothing loaded)
    assert actor.migrate(path=str(path), name_map=actor_map) is True
    assert critic.migrate(path=str(path), name_map=critic_map) is True

    obs = observations(env.observation_space)
    actions = torch.as_tensor(np.stack([env.action_space.sample() for _ in range(len(obs))])) / 2.0  # SB3 scale
    with torch.no_grad():
        latent = agent.actor.latent_pi(agent.actor.extract_features(obs, agent.actor.features_extractor))
        expected_mean = agent.actor.mu(latent)
        expected_action = agent.actor(obs, deterministic=True)
        expected_q = agent.critic.q1_forward(obs, actions)
        _, _, outputs = actor.act({"states": obs}, role="policy")
        q, _, _ = critic.act({"states": obs, "taken_actions": actions}, role="critic")
    torch.testing.assert_close(outputs["mean_actions"], expected_mean)
    torch.testing.assert_close(torch.tanh(outputs["mean_actions"]), expected_action)
    torch.testing.assert_close(q, expected_q)
    assert read_sb3(path).keys() >= {"actor.mu.weight", "critic.qf0.4.bias", "critic_target.qf1.0.weight"}
