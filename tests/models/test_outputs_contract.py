"""The ``outputs`` dict of every head: the same keys and shapes on both backends."""

import gymnasium
import numpy as np
import pytest
from scipy import stats

from .conftest import N
from .test_beta import ALPHA, BETA, BOX, SCALE
from .test_beta import LOW as BETA_LOW


class TestContinuousHeads:
    @pytest.mark.parametrize("name", ["GaussianPolicy", "MultivariateGaussianPolicy"])
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_mean_log_std_and_stddev_are_batch_by_actions(
        self, backend, box_obs, box_act, states, name, state_dependent
    ):
        """mean_actions, log_std (after clamping) and stddev = exp(log_std), each (N, A), even for a
        state-independent log-std parameter."""
        policy = backend.build(name, box_obs, box_act, state_dependent=state_dependent, max_log_std=0.5)
        if not state_dependent:
            backend.set_weights(policy, log_std=[-0.5, 0.2, 5.0])
        _, _, outputs = backend.act(policy, {"states": states})
        for key in ("mean_actions", "log_std", "stddev"):
            assert outputs[key].shape == (N, 3), key
        np.testing.assert_allclose(outputs["stddev"], np.exp(outputs["log_std"]), rtol=1e-6)
        assert outputs["log_std"].max() <= 0.5
        if not state_dependent:
            np.testing.assert_allclose(outputs["log_std"], np.broadcast_to([-0.5, 0.2, 0.5], (N, 3)), rtol=1e-6)

    def test_beta_carries_the_concentrations_and_the_rescaled_moments(self, backend):
        """alpha, beta as computed; mean_actions and stddev equal scipy.stats.beta(loc, scale) moments; all (N, A)."""
        _, _, outputs = backend.act(backend.build("BetaPolicy", 4, BOX), {"states": np.zeros((N, 4))})
        for key in ("mean_actions", "alpha", "beta", "stddev"):
            assert outputs[key].shape == (N, 3), key
        reference = stats.beta(ALPHA, BETA, loc=BETA_LOW, scale=SCALE)
        np.testing.assert_allclose(outputs["alpha"][0], ALPHA, rtol=1e-6)
        np.testing.assert_allclose(outputs["beta"][0], BETA, rtol=1e-6)
        np.testing.assert_allclose(outputs["mean_actions"][0], reference.mean(), rtol=1e-6)
        np.testing.assert_allclose(outputs["stddev"][0], reference.std(), rtol=1e-5)


class TestDiscreteHeads:
    def test_net_output_is_batch_by_n_or_by_sum_of_nvec(self, backend, box_obs, states):
        """Categorical net_output (N, n); MultiCategorical net_output (N, sum(nvec))."""
        categorical = backend.build("CategoricalPolicy", box_obs, gymnasium.spaces.Discrete(4))
        multi = backend.build("MultiCategoricalPolicy", box_obs, gymnasium.spaces.MultiDiscrete([3, 2, 4]))
        assert backend.act(categorical, {"states": states})[2]["net_output"].shape == (N, 4)
        assert backend.act(multi, {"states": states})[2]["net_output"].shape == (N, 9)

    def test_categorical_mode_actions_only_in_eval_mode_with_start(self, backend, box_obs, states):
        """Eval: mode_actions (N, 1) = argmax(logits) + start; train: no mode_actions."""
        policy = backend.build("CategoricalPolicy", box_obs, gymnasium.spaces.Discrete(4, start=3))
        policy.set_mode("train")
        assert "mode_actions" not in backend.act(policy, {"states": states})[2]
        policy.set_mode("eval")
        outputs = backend.act(policy, {"states": states})[2]
        w = backend.weights(policy)
        expected = (states @ w["logits.kernel"] + w["logits.bias"]).argmax(-1)[:, None] + 3
        np.testing.assert_array_equal(outputs["mode_actions"], expected)

    def test_multicategorical_mode_actions_only_in_eval_mode_with_start(self, backend, box_obs, states):
        """Eval: mode_actions (N, K) = per-component argmax + start; train: no mode_actions."""
        space = gymnasium.spaces.MultiDiscrete([3, 2], start=[1, -1])
        policy = backend.build("MultiCategoricalPolicy", box_obs, space)
        policy.set_mode("train")
        assert "mode_actions" not in backend.act(policy, {"states": states})[2]
        policy.set_mode("eval")
        outputs = backend.act(policy, {"states": states})[2]
        w = backend.weights(policy)
        logits = states @ w["logits.kernel"] + w["logits.bias"]
        expected = np.stack([logits[:, :3].argmax(-1) + 1, logits[:, 3:].argmax(-1) - 1], -1)
        np.testing.assert_array_equal(outputs["mode_actions"], expected)


class TestDeterministicHead:
    def test_only_the_users_outputs(self, backend, box_obs, box_act, states):
        """A deterministic head adds nothing to the outputs the model returned."""
        model = backend.build("DeterministicPolicy", box_obs, box_act)
        for mode in ("train", "eval"):
            model.set_mode(mode)
            assert backend.act(model, {"states": states})[2] == {}
