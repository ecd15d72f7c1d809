"""The JAX reference PPO's two hooks on the examples' tasks: action masks (PickTheLargest) and a Flax GRU.

The environments come from ``examples/ppo_masked_actions.py`` and ``examples/ppo_rnn_cartpole.py`` (their
PyTorch models are not used); the policies are JAX: the categorical MLP of ``examples/jax_ppo_cartpole.py``
and a GRU actor-critic built on :func:`mixrl.models.jax.rnn.sequence_forward`. The learning tests are seeded,
on a reduced budget, with thresholds far above a random policy.
"""

import flax.linen as nn
import jax
import numpy as np
import pytest

from mixrl.demo import ppo_jax
from mixrl.demo.common import EpisodeTracker, History, evaluate, make_envs, replace
from mixrl.models.jax import CategoricalMixin, DeterministicMixin, Model
from mixrl.models.jax.rnn import rnn_specification, sequence_forward

SEQUENCE_LENGTH, HIDDEN = 16, 64  # as examples/ppo_rnn_cartpole.py


class RecurrentActorCritic(CategoricalMixin, DeterministicMixin, Model):
    """One Flax GRU trunk (``sequence_forward``), a categorical ``"policy"`` and a deterministic ``"value"`` head."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None, num_envs=1):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.num_envs = num_envs
        CategoricalMixin.__init__(self, role="policy")
        DeterministicMixin.__init__(self, role="value")

    def get_specification(self):
        return rnn_specification(nn.GRUCell(HIDDEN, parent=None), self.num_envs, SEQUENCE_LENGTH)

    @nn.compact
    def __call__(self, inputs, role):
        features, states = sequence_forward(
            nn.GRUCell(HIDDEN, name="gru"),
            inputs["states"],
            inputs.get("rnn"),
            terminated=inputs.get("terminated"),
            sequence_length=SEQUENCE_LENGTH,
            training=self.training,
        )
        size, scale = (self.num_actions, 0.01) if role == "policy" else (1, 1.0)
        hidden = nn.tanh(nn.Dense(64, name=f"{role}_hidden")(features))
        output = nn.Dense(size, kernel_init=nn.initializers.orthogonal(scale), name=f"{role}_layer")(hidden)
        return output, {"rnn": states}


def recurrent_model(envs, seed: int = 0) -> RecurrentActorCritic:
    model = RecurrentActorCritic(envs.single_observation_space, envs.single_action_space, num_envs=envs.num_envs)
    model.init_state_dict("policy", key=jax.random.PRNGKey(seed))
    return model


def masked_models(load_example, envs, seed: int = 0):
    """The JAX categorical policy and value MLPs of ``examples/jax_ppo_cartpole.py``, initialised."""
    mlps = load_example("jax_ppo_cartpole")
    policy = mlps.Policy(envs.single_observation_space, envs.single_action_space)
    value = mlps.Value(envs.single_observation_space, envs.single_action_space)
    policy_key, value_key = jax.random.split(jax.random.PRNGKey(seed))
    policy.init_state_dict("policy", key=policy_key)
    value.init_state_dict("value", key=value_key)
    return policy, value


def one_rollout(model, value, envs, config, length):
    """:func:`mixrl.demo.ppo_jax.collect` once, from a fresh reset (seed 0)."""
    functions = ppo_jax.make_functions(model, value, config, 1, length)
    obs, info = envs.reset(seed=0)
    carry = {"obs": obs, "info": info, "key": jax.random.PRNGKey(1)}
    carry["policy_rnn"] = ppo_jax.rnn_states(model, config.num_envs)
    carry["value_rnn"] = None if value is model else ppo_jax.rnn_states(value, config.num_envs)
    params = {"policy": model.state_dict.params}
    if value is not model:
        params["value"] = value.state_dict.params
    tracker = EpisodeTracker(config.num_envs, History())
    return ppo_jax.collect(functions, params, envs, carry, tracker, 0, config, length)


class TestActionMasks:
    def test_rollout_samples_only_allowed_actions_and_stores_the_masks(self, load_example):
        """Every stored action is allowed by the stored mask (the env would have raised otherwise)."""
        tasks = load_example("ppo_masked_actions")
        config = replace(tasks.CONFIG, rollout_steps=8)
        envs = make_envs(tasks.PickTheLargest, config.num_envs, 0)
        policy, value = masked_models(load_example, envs)
        batch = one_rollout(policy, value, envs, config, 1)
        masks, actions = batch["action_mask"].reshape(-1, 8), batch["actions"].reshape(-1)
        assert masks.dtype == bool and masks.shape == (config.batch_size, 8)
        assert masks[np.arange(len(actions)), actions].all()
        assert np.isfinite(batch["log_probs"]).all()

    @pytest.mark.slow
    def test_masked_jax_policy_learns_to_pick_the_largest_available_item(self, load_example):
        """Uniform picks among the available items score 8, the best 12.5; 20k steps reach far more.

        Measured: 11.6 (seed 1: 11.7). The mask goes through the rollout, the jitted update and the greedy
        evaluation: an ignored mask makes the environment raise, a wrong masked log-prob or entropy keeps the
        score near 8.
        """
        tasks = load_example("ppo_masked_actions")
        envs = make_envs(tasks.PickTheLargest, tasks.CONFIG.num_envs, 0)
        policy, value = masked_models(load_example, envs)
        ppo_jax.learn(policy, value, envs, 20_000, 0, tasks.CONFIG)
        assert np.mean(evaluate(tasks.PickTheLargest, ppo_jax.greedy(policy), seed=10_000)) >= 10


class TestRecurrent:
    def test_training_pass_on_the_rollouts_sequences_reproduces_its_log_probs(self, load_example):
        """The update's inputs (first stored state of each sequence, ``terminated`` resets) give the rollout again.

        A wrong initial state, a missed reset after an episode end or a wrong sequence layout would change them.
        """
        tasks = load_example("ppo_rnn_cartpole")
        config = replace(tasks.CONFIG, num_envs=4, rollout_steps=4 * SEQUENCE_LENGTH)
        envs = make_envs(tasks.make_env, config.num_envs, 0)
        model = recurrent_model(envs)
        batch = one_rollout(model, model, envs, config, SEQUENCE_LENGTH)
        assert batch["states"].shape == (config.batch_size // SEQUENCE_LENGTH, SEQUENCE_LENGTH, 2)
        assert batch["terminated"].any(), "the rollout should contain episode ends"
        rows = {name: array.reshape(-1, *array.shape[2:]) for name, array in batch.items()}
        inputs = {
            "states": rows["states"],
            "taken_actions": rows["actions"],
            "rnn": [rows["rnn.policy.0"].swapaxes(0, 1)],
            "terminated": rows["terminated"].reshape(-1, 1),
        }
        model.set_mode("train")
        log_prob = model.act({**inputs, "key": jax.random.PRNGKey(0)}, "policy")[1]
        np.testing.assert_allclose(np.asarray(log_prob).reshape(-1), rows["log_probs"], rtol=1e-5, atol=1e-5)

    def test_rollout_steps_must_be_whole_sequences(self, load_example):
        """A rollout that does not cut into whole sequences is refused with both numbers."""
        tasks = load_example("ppo_rnn_cartpole")
        config = replace(tasks.CONFIG, rollout_steps=SEQUENCE_LENGTH + 1)
        envs = make_envs(tasks.make_env, config.num_envs, 0)
        with pytest.raises(ValueError, match=r"rollout_steps \(17\) must be a multiple of .* \(16\)"):
            ppo_jax.learn(recurrent_model(envs), None, envs, 1, 0, config)

    @pytest.mark.slow
    def test_jax_gru_policy_learns_cartpole_without_velocities(self, load_example):
        """Without the velocities a memoryless random policy scores about 22; 60k steps reach far more.

        The states are carried through the rollout, zeroed at episode ends, and the jitted update runs on
        sequences with ``terminated``; the greedy evaluation carries them too (measured: 500; seed 1: 500).
        """
        tasks = load_example("ppo_rnn_cartpole")
        envs = make_envs(tasks.make_env, tasks.CONFIG.num_envs, 0)
        model = recurrent_model(envs)
        ppo_jax.learn(model, None, envs, 60_000, 0, tasks.CONFIG)
        assert np.mean(evaluate(tasks.make_env, ppo_jax.greedy(model), seed=10_000)) >= 200
