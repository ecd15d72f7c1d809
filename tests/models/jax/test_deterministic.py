import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

from .conftest import DeterministicPolicy, N, build, params_of


class TestDeterministic:
    def test_act_returns_the_network_output_and_no_log_prob(self, box_obs, box_act, states):
        """(actions, None, outputs) with actions = 10 * Dense(states)."""
        model = build(DeterministicPolicy, box_obs, box_act)
        actions, log_prob, outputs = model.act({"states": states}, role="target_policy")
        expected = 10 * (np.asarray(states) @ params_of(model, "out", "kernel") + params_of(model, "out", "bias"))
        np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
        assert log_prob is None and outputs == {}

    def test_clipping_keeps_each_dimension_in_its_bounds(self, box_obs, box_act, states):
        """clip_actions clamps to low=[-1, 0, 5], high=[1, 1, 6]."""
        model = build(DeterministicPolicy, box_obs, box_act, clip_actions=True)
        actions = np.asarray(model.act({"states": states}, role="policy")[0])
        assert (actions >= [-1, 0, 5]).all() and (actions <= [1, 1, 6]).all()

    def test_q_function_reads_states_and_taken_actions(self, box_obs, box_act, states):
        """A critic consumes concat(states, taken_actions) and returns (N, 1)."""
        model = DeterministicPolicy(box_obs, box_act, critic=True)
        model.init_state_dict("critic_1")
        taken = jnp.ones((N, 3))
        q, _, _ = model.act({"states": states, "taken_actions": taken}, role="critic_1")
        x = np.concatenate([np.asarray(states), np.ones((N, 3))], -1)
        np.testing.assert_allclose(q, x @ params_of(model, "q", "kernel") + params_of(model, "q", "bias"), rtol=1e-5)

    def test_clipping_needs_a_box(self, box_obs):
        """Clipping a Discrete action space is refused at construction."""
        with pytest.raises(ValueError, match="DeterministicMixin.*got Discrete"):
            DeterministicPolicy(box_obs, gymnasium.spaces.Discrete(3), clip_actions=True)
