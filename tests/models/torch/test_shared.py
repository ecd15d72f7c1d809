"""The torch trunk cache of shared models (``shared_cache``: single forward pass).

Role dispatch of shared models is tested on both backends in ``tests/models/test_shared.py``.
"""

import gymnasium
import pytest
import torch

from mixrl.models.torch import DeterministicMixin, GaussianMixin, Model


class Counting(torch.nn.Module):
    """A trunk that counts how often it runs."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 8)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.tanh(self.layer(x))


class SharedActorCritic(GaussianMixin, DeterministicMixin, Model):
    """PPO-style shared model with automatic role dispatch (no act override)."""

    def __init__(self, single_forward_pass=True):
        Model.__init__(self, 4, gymnasium.spaces.Box(-1, 1, (2,)), "cpu")
        GaussianMixin.__init__(self, clip_actions=True, role="policy")
        DeterministicMixin.__init__(self, role="value")
        self.trunk = Counting()
        self.mean = torch.nn.Linear(8, 2)
        self.value = torch.nn.Linear(8, 1)
        self.log_std = torch.nn.Parameter(torch.zeros(2))
        self.single_forward_pass = single_forward_pass

    def compute(self, inputs, role):
        if self.single_forward_pass:
            hidden = self.shared_cache(role, inputs["states"], self.trunk, producer="policy")
        else:
            hidden = self.trunk(inputs["states"])
        if role == "policy":
            return self.mean(hidden), self.log_std, {}
        return self.value(hidden), {}


@pytest.fixture
def states():
    return torch.randn(16, 4)


class TestSingleForwardPass:
    def test_value_after_policy_on_the_same_states_reuses_the_trunk(self, states):
        """Policy then value on one tensor: the trunk runs once."""
        model = SharedActorCritic()
        model.act({"states": states}, role="policy")
        model.act({"states": states}, role="value")
        assert model.trunk.calls == 1

    def test_value_first_works_and_computes_the_trunk(self, states):
        """A value call without a preceding policy call computes the trunk (skrl raises AttributeError)."""
        model = SharedActorCritic()
        model.act({"states": states}, role="value")
        assert model.trunk.calls == 1

    def test_value_on_different_states_recomputes(self, states):
        """Cached trunk output is never served for other states."""
        model = SharedActorCritic()
        model.act({"states": states}, role="policy")
        other = torch.randn(16, 4)
        values = model.act({"states": other}, role="value")[0]
        assert model.trunk.calls == 2
        torch.testing.assert_close(values, model.value(torch.tanh(model.trunk.layer(other))))

    def test_a_skipped_value_pass_cannot_leak_a_stale_trunk(self, states):
        """Policy on A, (value skipped), policy on B, value on A: value is computed from A."""
        model = SharedActorCritic()
        other = torch.randn(16, 4)
        model.act({"states": states}, role="policy")
        model.act({"states": other}, role="policy")
        values = model.act({"states": states}, role="value")[0]
        torch.testing.assert_close(values, model.value(torch.tanh(model.trunk.layer(states))))

    def test_in_place_change_of_the_states_invalidates_the_cache(self, states):
        """The tensor's version counter is part of the key."""
        model = SharedActorCritic()
        model.act({"states": states}, role="policy")
        states.add_(1.0)
        values = model.act({"states": states}, role="value")[0]
        assert model.trunk.calls == 2
        torch.testing.assert_close(values, model.value(torch.tanh(model.trunk.layer(states))))

    def test_grad_mode_change_recomputes(self, states):
        """A policy pass under no_grad cannot feed a value pass that needs gradients."""
        model = SharedActorCritic()
        with torch.no_grad():
            model.act({"states": states}, role="policy")
        values = model.act({"states": states}, role="value")[0]
        assert values.requires_grad and model.trunk.calls == 2

    def test_cache_is_read_once(self, states):
        """A second value call on the same states recomputes (the cache is cleared after reading)."""
        model = SharedActorCritic()
        model.act({"states": states}, role="policy")
        model.act({"states": states}, role="value")
        model.act({"states": states}, role="value")
        assert model.trunk.calls == 2

    def test_set_mode_clears_the_cache(self, states):
        """Switching mode between the passes forces a recomputation."""
        model = SharedActorCritic()
        model.act({"states": states}, role="policy")
        model.set_mode("eval")
        model.act({"states": states}, role="value")
        assert model.trunk.calls == 2

    def test_without_single_forward_pass_the_trunk_runs_per_role(self, states):
        """single_forward_pass=False recomputes the trunk for each role."""
        model = SharedActorCritic(single_forward_pass=False)
        model.act({"states": states}, role="policy")
        model.act({"states": states}, role="value")
        assert model.trunk.calls == 2

    def test_update_step_gradients_reach_both_heads_through_one_trunk(self, states):
        """PPO update: policy loss + value loss backpropagate through the shared trunk once."""
        model = SharedActorCritic()
        _, log_prob, _ = model.act({"states": states, "taken_actions": torch.zeros(16, 2)}, role="policy")
        values = model.act({"states": states}, role="value")[0]
        (-(log_prob.mean()) + values.square().mean()).backward()
        assert model.trunk.calls == 1
        assert model.mean.weight.grad is not None and model.value.weight.grad is not None
        assert model.trunk.layer.weight.grad.abs().sum() > 0
