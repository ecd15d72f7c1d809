import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import Model, TabularMixin

OBS = gymnasium.spaces.Discrete(16)
ACT = gymnasium.spaces.Discrete(4)


class EpsilonGreedy(TabularMixin, Model):
    """The TabularMixin docstring example: epsilon-greedy over the "q_table" variable, greedy in eval mode."""

    def __init__(
        self, observation_space=None, action_space=None, device=None, parent=None, name=None, num_envs=1, epsilon=0.1
    ):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.epsilon = epsilon
        TabularMixin.__init__(self, num_envs)

    @nn.compact
    def __call__(self, inputs, role):
        shape = (self.num_envs, self.num_observations, self.num_actions)
        q_table = self.variable("table", "q_table", jnp.ones, shape).value
        s = inputs["states"].reshape(-1).astype(jnp.int32)
        greedy = q_table[jnp.arange(self.num_envs), s].argmax(-1, keepdims=True)
        if not self.training:
            return greedy, {}
        explore, pick = jax.random.split(inputs["key"])
        random = jax.random.randint(pick, greedy.shape, 0, self.num_actions)
        return jnp.where(jax.random.uniform(explore, greedy.shape) < self.epsilon, random, greedy), {}


class NoTable(TabularMixin, Model):
    def __init__(self, observation_space=OBS, action_space=ACT, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        TabularMixin.__init__(self)

    def __call__(self, inputs, role):
        return jnp.zeros((1, 1), jnp.int32), {}


def random_table(num_envs=1, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(num_envs, 16, 4)).astype(np.float32))


@pytest.fixture
def policy():
    """Epsilon-greedy policy with a random Q-table, in eval (greedy) mode."""
    model = EpsilonGreedy(OBS, ACT)
    model.init_state_dict("policy")
    model.state_dict = model.state_dict.replace(params=model.with_table(random_table()))
    return model


class TestAct:
    def test_act_returns_actions_none_and_outputs(self, policy):
        """act wraps __call__'s (actions, outputs) as (actions (N, 1), None, outputs)."""
        actions, log_prob, outputs = policy.act({"states": np.array([[5]])}, role="policy")
        assert actions.shape == (1, 1) and jnp.issubdtype(actions.dtype, jnp.integer)
        assert log_prob is None
        assert outputs == {}

    def test_greedy_action_is_the_argmax_of_the_state_row(self, policy):
        """In eval mode the action is argmax_a Q(s, a) for every state."""
        table = np.asarray(policy.table())
        for state in range(16):
            action = policy.act({"states": np.array([[state]])}, role="policy")[0]
            assert int(action[0, 0]) == table[0, state].argmax()

    def test_train_mode_explores_with_the_given_key(self, policy):
        """epsilon = 0.1: over 2000 keyed calls about 10% * 3/4 of the actions differ from the greedy one."""
        greedy = int(np.asarray(policy.table())[0, 3].argmax())
        policy.set_mode("train")
        keys = jax.random.split(jax.random.PRNGKey(0), 2000)
        actions = [int(policy.act({"states": np.array([[3]]), "key": k}, "policy")[0][0, 0]) for k in keys]
        assert 0.04 < np.mean(np.array(actions) != greedy) < 0.11

    def test_num_envs_is_set_and_each_env_reads_its_own_table(self):
        """TabularMixin(num_envs) sets self.num_envs; row i of the batch uses table i."""
        model = EpsilonGreedy(OBS, ACT, num_envs=3)
        model.init_state_dict("policy")
        assert model.num_envs == 3 and model.table().shape == (3, 16, 4)
        table = random_table(3, seed=1)
        params = model.with_table(table)
        actions = model.act({"states": np.array([[0], [0], [0]])}, "policy", params)[0]
        np.testing.assert_array_equal(np.asarray(actions)[:, 0], np.asarray(table)[:, 0].argmax(-1))


class TestTable:
    def test_table_lives_in_the_table_collection_of_the_variables(self, policy):
        """table() is state_dict.params["table"]["q_table"], beside (not inside) the "params" collection."""
        assert policy.table() is policy.state_dict.params["table"]["q_table"]
        assert list(policy.state_dict.params) == ["table"]  # the model has no trainable "params" collection

    def test_with_table_is_pure_and_the_next_act_sees_the_new_table(self, policy):
        """with_table returns new variables (the model is unchanged until assigned); act then uses them."""
        before = policy.table()
        updated = policy.with_table(before.at[0, 3, 2].set(100.0))
        assert policy.table() is before
        assert int(policy.act({"states": np.array([[3]])}, "policy", updated)[0][0, 0]) == 2
        policy.state_dict = policy.state_dict.replace(params=updated)
        assert int(policy.act({"states": np.array([[3]])}, "policy")[0][0, 0]) == 2

    def test_with_table_refuses_another_shape_or_dtype(self, policy):
        """The expected shape and dtype are named."""
        with pytest.raises(ValueError, match=r"shape \(1, 16, 4\) and dtype float32, got shape \(1, 16, 3\)"):
            policy.with_table(jnp.zeros((1, 16, 3)))
        with pytest.raises(ValueError, match="got shape \\(1, 16, 4\\) and dtype int32"):
            policy.with_table(jnp.zeros((1, 16, 4), jnp.int32))

    def test_missing_q_table_is_an_attribute_error_with_a_hint(self):
        """A model whose __call__ declares no Q-table variable is told how to declare it."""
        model = NoTable()
        model.init_state_dict("policy")
        with pytest.raises(AttributeError, match=r"NoTable has no Q-table.*self\.variable\('table', 'q_table'"):
            model.table()

    def test_table_before_init_state_dict_is_a_runtime_error(self):
        """As for every state_dict access."""
        with pytest.raises(RuntimeError, match=r"init_state_dict\(\) first"):
            EpsilonGreedy(OBS, ACT).table()


class TestCheckpoints:
    def test_save_load_round_trip_restores_the_table_in_eval_mode(self, policy, tmp_path):
        """save, change the table, load: the saved values are back, on the model's device, in eval mode."""
        saved = np.asarray(policy.table())
        policy.save(tmp_path / "table.msgpack")
        policy.state_dict = policy.state_dict.replace(params=policy.with_table(jnp.full((1, 16, 4), -1.0)))
        policy.set_mode("train")
        policy.load(tmp_path / "table.msgpack")
        np.testing.assert_array_equal(np.asarray(policy.table()), saved)
        assert policy.table().devices() == {policy.device}
        assert policy.training is False
        assert int(policy.act({"states": np.array([[7]])}, "policy")[0][0, 0]) == saved[0, 7].argmax()

    def test_load_refuses_a_table_of_another_shape(self, policy, tmp_path):
        """A checkpoint of a 3-env table does not fit a 1-env model; the model is unchanged."""
        other = EpsilonGreedy(OBS, ACT, num_envs=3)
        other.init_state_dict("policy")
        other.save(tmp_path / "three.msgpack")
        before = np.asarray(policy.table())
        with pytest.raises(ValueError, match="q_table"):
            policy.load(tmp_path / "three.msgpack")
        np.testing.assert_array_equal(np.asarray(policy.table()), before)


class TestQLearning:
    def test_epsilon_greedy_q_learning_solves_deterministic_frozen_lake(self):
        """2000 jitted functional Q-learning steps on 4x4 FrozenLake (not slippery): greedy then reaches the goal."""
        env = gymnasium.make("FrozenLake-v1", is_slippery=False)
        policy = EpsilonGreedy(env.observation_space, env.action_space, epsilon=0.2)
        policy.init_state_dict("policy")
        alpha, gamma = 0.5, 0.95

        @jax.jit
        def q_learning_step(params, s, a, r, s_next, terminated):
            q = policy.table(params)
            target = r + jnp.where(terminated, 0.0, gamma * q[0, s_next].max())
            return policy.with_table(q.at[0, s, a].add(alpha * (target - q[0, s, a])), params)

        params, key = policy.state_dict.params, jax.random.PRNGKey(0)
        policy.set_mode("train")
        state, _ = env.reset(seed=0)
        for _ in range(2000):
            key, subkey = jax.random.split(key)
            action = int(policy.act({"states": np.array([[state]]), "key": subkey}, "policy", params)[0][0, 0])
            next_state, reward, terminated, truncated, _ = env.step(action)
            params = q_learning_step(params, state, action, float(reward), next_state, terminated)
            state = next_state
            if terminated or truncated:
                state, _ = env.reset()
        policy.state_dict = policy.state_dict.replace(params=params)

        policy.set_mode("eval")
        state, _ = env.reset()
        for _ in range(100):
            state, reward, terminated, truncated, _ = env.step(
                int(policy.act({"states": np.array([[state]])})[0][0, 0])
            )
            if terminated or truncated:
                break
        assert reward == 1.0
