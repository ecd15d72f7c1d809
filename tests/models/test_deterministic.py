"""DeterministicMixin on both backends: policies, value functions and Q-functions."""

import gymnasium
import numpy as np
import pytest

from .conftest import HIGH, LOW, N


class TestDeterministic:
    def test_act_returns_the_network_output_no_log_prob_and_only_the_users_outputs(
        self, backend, box_obs, box_act, states
    ):
        """(actions, None, {}) with actions = 10 * (states @ kernel + bias)."""
        model = backend.build("DeterministicPolicy", box_obs, box_act)
        actions, log_prob, outputs = backend.act(model, {"states": states}, role="target_policy")
        w = backend.weights(model)
        np.testing.assert_allclose(actions, 10 * (states @ w["out.kernel"] + w["out.bias"]), rtol=1e-5, atol=1e-5)
        assert log_prob is None and outputs == {}

    def test_clipping_keeps_each_dimension_in_its_bounds(self, backend, box_obs, box_act, states):
        """clip_actions clamps to low=[-1, 0, 5], high=[1, 1, 6] (the unclipped outputs do leave the box)."""
        model = backend.build("DeterministicPolicy", box_obs, box_act, clip_actions=True)
        actions = backend.act(model, {"states": states})[0]
        w = backend.weights(model)
        raw = 10 * (states @ w["out.kernel"] + w["out.bias"])
        assert ((raw < LOW) | (raw > HIGH)).any()
        np.testing.assert_allclose(actions, np.clip(raw, LOW, HIGH), rtol=1e-5, atol=1e-5)

    def test_q_function_reads_states_and_taken_actions(self, backend, box_obs, box_act, states):
        """A critic consumes concat(states, taken_actions) and returns (N, 1)."""
        model = backend.build("DeterministicPolicy", box_obs, box_act, critic=True)
        taken = np.ones((N, 3), np.float32)
        q, _, _ = backend.act(model, {"states": states, "taken_actions": taken}, role="critic_1")
        w = backend.weights(model)
        expected = np.concatenate([states, taken], -1) @ w["q.kernel"] + w["q.bias"]
        np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-6)

    def test_clipping_needs_a_box(self, backend, box_obs):
        """Clipping a Discrete action space is refused at construction."""
        with pytest.raises(ValueError, match="DeterministicMixin.*Box action space.*Discrete"):
            backend.models.DeterministicPolicy(box_obs, gymnasium.spaces.Discrete(3), clip_actions=True)
