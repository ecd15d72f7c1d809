import copy

import gymnasium
import pytest
import torch

from mixrl.models.torch import Model
from mixrl.models.torch.tabular import TabularMixin

OBS = gymnasium.spaces.Discrete(16)
ACT = gymnasium.spaces.Discrete(4)


class EpsilonGreedy(TabularMixin, Model):
    """The documented Q-learning example: an epsilon-greedy policy over ``self.q_table``."""

    def __init__(self, obs, act, device=None, num_envs=1, epsilon=0.1):
        Model.__init__(self, obs, act, device)
        TabularMixin.__init__(self, num_envs)
        self.epsilon = epsilon
        self.q_table = torch.ones((num_envs, self.num_observations, self.num_actions), device=self.device)

    def compute(self, inputs, role):
        s = inputs["states"].long().view(-1, 1)
        greedy = self.q_table[torch.arange(self.num_envs).view(-1, 1), s].argmax(-1).view(-1, 1)
        explore = torch.rand(s.shape[0], 1, device=self.device) < self.epsilon
        rand = torch.randint(self.num_actions, s.shape, device=self.device)
        return torch.where(explore, rand, greedy), {}


class NoTable(TabularMixin, Model):
    def __init__(self):
        Model.__init__(self, OBS, ACT, "cpu")
        TabularMixin.__init__(self)

    def compute(self, inputs, role):
        return torch.zeros(1, 1, dtype=torch.int64), {}


@pytest.fixture
def policy():
    torch.manual_seed(0)
    model = EpsilonGreedy(OBS, ACT, "cpu", epsilon=0.0)
    with torch.no_grad():
        model.q_table.copy_(torch.rand(1, 16, 4))
    return model


class TestAct:
    def test_act_returns_actions_none_and_outputs(self, policy):
        """act wraps compute's (actions, outputs) as (actions (N, 1), None, outputs)."""
        actions, log_prob, outputs = policy.act({"states": torch.tensor([[5]])}, role="policy")
        assert actions.shape == (1, 1) and actions.dtype == torch.int64
        assert log_prob is None
        assert outputs == {}

    def test_greedy_action_is_the_argmax_of_the_state_row(self, policy):
        """With epsilon 0 the action is argmax_a Q(s, a) for every state."""
        for state in range(16):
            action = policy.act({"states": torch.tensor([[state]])}, role="policy")[0]
            assert action.item() == policy.q_table[0, state].argmax().item()

    def test_num_envs_is_set_on_the_model(self):
        """TabularMixin(num_envs) sets self.num_envs (the table's first dimension)."""
        model = EpsilonGreedy(OBS, ACT, "cpu", num_envs=3)
        assert model.num_envs == 3
        assert model.table().shape == (3, 16, 4)
        assert model.act({"states": torch.tensor([[0], [1], [2]])}, role="policy")[0].shape == (3, 1)


class TestTable:
    def test_table_is_the_q_table_itself(self, policy):
        """table() returns self.q_table (not a copy)."""
        assert policy.table() is policy.q_table

    def test_in_place_mutation_through_table_changes_the_model_state(self, policy):
        """Q-learning writes policy.table()[...] = ...: the state dict and the next act see it."""
        policy.table()[0, 3, 2] = 100.0
        assert policy.state_dict()["q_table"][0, 3, 2] == 100.0
        assert policy.act({"states": torch.tensor([[3]])}, role="policy")[0].item() == 2

    def test_missing_q_table_is_an_attribute_error_with_a_hint(self):
        """A model without self.q_table is told to define it."""
        with pytest.raises(AttributeError, match=r"NoTable has no q_table.*self\.q_table = "):
            NoTable().table()

    def test_a_tensor_named_table_would_hide_the_method_and_is_refused(self):
        """W#12: self.table = tensor shadows table(); it is an error naming q_table."""
        model = NoTable()
        with pytest.raises(AttributeError, match="NoTable.table.*q_table"):
            model.table = torch.zeros(1, 16, 4)
        assert callable(model.table)


class TestTableTensors:
    def test_state_dict_holds_the_table_tensors(self, policy):
        """Plain tensor attributes are persistent state: state_dict() == {'q_table': ...}."""
        state = policy.state_dict()
        assert list(state) == ["q_table"]
        torch.testing.assert_close(state["q_table"], policy.q_table)

    def test_repr_shows_each_table_tensor_with_its_shape(self, policy):
        """repr lists '(q_table): Tensor(shape=[1, 16, 4])'."""
        assert "(q_table): Tensor(shape=[1, 16, 4])" in repr(policy)

    def test_to_moves_and_casts_the_tables(self, policy):
        """to() reaches the tables like any buffer (device via 'meta', dtype via float64)."""
        assert policy.to("cpu").q_table.device.type == "cpu"
        assert policy.to(torch.float64).table().dtype == torch.float64
        assert policy.to("meta").table().device.type == "meta"

    def test_reassigning_a_table_replaces_it_in_the_state(self, policy):
        """A new tensor (even of another shape) assigned to the attribute replaces the saved entry."""
        policy.q_table = torch.zeros(2, 16, 4)
        assert list(policy.state_dict()) == ["q_table"]
        assert policy.state_dict()["q_table"].shape == (2, 16, 4)

    def test_other_attributes_keep_their_usual_meaning(self, policy):
        """Numbers stay plain, parameters stay parameters, _private tensors are not state."""
        policy.visits = torch.zeros(16)
        policy.bias = torch.nn.Parameter(torch.zeros(4))
        policy._cache = torch.zeros(3)
        assert policy.epsilon == 0.0
        assert set(policy.state_dict()) == {"q_table", "visits", "bias"}
        assert [name for name, _ in policy.named_parameters()] == ["bias"]

    def test_load_state_dict_restores_into_the_same_tensor(self, policy):
        """Restoring copies in place, so a table() reference held by an agent sees the values."""
        table = policy.table()
        values = torch.rand(1, 16, 4)
        policy.load_state_dict({"q_table": values})
        assert policy.table() is table
        torch.testing.assert_close(table, values)

    @pytest.mark.parametrize(
        "state, message",
        [
            ({"q_table": torch.zeros(1, 4, 4)}, r"q_table: expected shape \[1, 16, 4\], got \[1, 4, 4\]"),
            (
                {"q_table": torch.zeros(1, 16, 4, dtype=torch.float64)},
                "expected dtype torch.float32, got torch.float64",
            ),
            ({"q_table": torch.zeros(1, 16, 4), "r_table": torch.zeros(1)}, r"unexpected entries \['r_table'\]"),
            ({}, r"missing entries \['q_table'\]"),
        ],
    )
    def test_mismatched_state_is_a_value_error_and_changes_nothing(self, policy, state, message):
        """Shape, dtype and names must match; the table is untouched when they do not."""
        before = policy.q_table.clone()
        with pytest.raises(ValueError, match=message):
            policy.load_state_dict(state)
        torch.testing.assert_close(policy.q_table, before)


class TestCheckpoints:
    def test_save_load_round_trip_restores_the_table_in_eval_mode(self, policy, tmp_path):
        """save then load (after the table changed) brings back the saved values, on the model's device."""
        saved = policy.q_table.clone()
        policy.save(tmp_path / "table.pt")
        policy.table().fill_(-1.0)
        policy.load(tmp_path / "table.pt")
        torch.testing.assert_close(policy.q_table, saved)
        assert policy.q_table.device == policy.device
        assert policy.training is False

    def test_save_writes_the_given_state_dict(self, policy, tmp_path):
        """save(path, state_dict) writes that dict, not the model's (skrl ignored the argument)."""
        other = {"q_table": torch.full((1, 16, 4), 7.0)}
        policy.save(tmp_path / "other.pt", state_dict=other)
        policy.load(tmp_path / "other.pt")
        torch.testing.assert_close(policy.q_table, other["q_table"])

    def test_load_refuses_a_table_of_another_dtype(self, policy, tmp_path):
        """load applies the same checks as load_state_dict."""
        torch.save({"q_table": torch.zeros(1, 16, 4, dtype=torch.int64)}, tmp_path / "ints.pt")
        with pytest.raises(ValueError, match="dtype"):
            policy.load(tmp_path / "ints.pt")

    def test_deepcopy_has_an_independent_table(self, policy):
        """Agents deep-copy models: the copy's table is registered and separate."""
        clone = copy.deepcopy(policy)
        clone.table().fill_(0.0)
        assert policy.q_table.sum() > 0
        assert list(clone.state_dict()) == ["q_table"]


class TestQLearning:
    def test_epsilon_greedy_q_learning_solves_deterministic_frozen_lake(self):
        """2000 Q-learning steps on 4x4 FrozenLake (not slippery): the greedy policy always reaches the goal."""
        torch.manual_seed(0)
        env = gymnasium.make("FrozenLake-v1", is_slippery=False)
        policy = EpsilonGreedy(env.observation_space, env.action_space, "cpu", epsilon=0.2)
        alpha, gamma = 0.5, 0.95

        state, _ = env.reset(seed=0)
        for _ in range(2000):
            action = policy.act({"states": torch.tensor([[state]])}, role="policy")[0]
            next_state, reward, terminated, truncated, _ = env.step(int(action))
            q = policy.table()
            target = reward + (0.0 if terminated else gamma * q[0, next_state].max())
            q[0, state, action] += alpha * (target - q[0, state, action])
            state = next_state
            if terminated or truncated:
                state, _ = env.reset()

        policy.epsilon = 0.0
        successes = 0.0
        for _ in range(5):
            state, _ = env.reset()
            for _ in range(100):
                action = policy.act({"states": torch.tensor([[state]])}, role="policy")[0]
                state, reward, terminated, truncated, _ = env.step(int(action))
                if terminated or truncated:
                    break
            successes += reward
        assert successes / 5 == 1.0
