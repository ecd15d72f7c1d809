import gymnasium
import numpy as np
import pytest
import torch

from .conftest import DeterministicPolicy


class TestDeterministic:
    def test_returns_compute_output_and_no_log_prob(self):
        """act returns (compute's output, None, outputs)."""
        model = DeterministicPolicy(4, 2)
        states = torch.randn(7, 4)
        actions, log_prob, outputs = model.act({"states": states}, role="value")
        assert log_prob is None and outputs == {}
        torch.testing.assert_close(actions, 10 * model.net(states))

    def test_clipping_keeps_actions_inside_each_dimension(self):
        """clip_actions clamps per dimension to the Box bounds."""
        space = gymnasium.spaces.Box(np.array([-1.0, 2.0], np.float32), np.array([1.0, 3.0], np.float32))
        model = DeterministicPolicy(4, space, clip_actions=True)
        actions = model.act({"states": torch.randn(256, 4)}, role="policy")[0]
        raw = 10 * model.net(torch.zeros(1, 4))
        assert raw.abs().max() > 0  # the network does produce values outside the box somewhere
        assert (actions[:, 0].abs() <= 1).all() and ((actions[:, 1] >= 2) & (actions[:, 1] <= 3)).all()

    def test_clipping_without_box_is_rejected(self):
        """A Discrete action space has no bounds to clip to."""
        with pytest.raises(ValueError, match="Box action space.*Discrete"):
            DeterministicPolicy(4, gymnasium.spaces.Discrete(2), clip_actions=True)
