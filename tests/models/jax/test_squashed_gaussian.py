import math

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import CategoricalMixin, GaussianMixin, Model

LOW, HIGH = np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32)
MEAN, LOG_STD = np.array([0.3, -0.4], np.float32), np.array([-0.5, 0.2], np.float32)


class Squashed(GaussianMixin, Model):
    """Fixed mean and log-std parameters (set from MEAN / LOG_STD)."""

    def __init__(self, observation_space=3, action_space=None, device=None, parent=None, name=None, **kwargs):
        Model.__init__(self, observation_space, action_space or gymnasium.spaces.Box(LOW, HIGH), device, parent, name)
        GaussianMixin.__init__(self, squash=True, **kwargs)

    @nn.compact
    def __call__(self, inputs, role):
        mean = self.param("mean", lambda _: jnp.asarray(MEAN))
        log_std = self.param("log_std", lambda _: jnp.asarray(LOG_STD))
        return jnp.broadcast_to(mean, (inputs["states"].shape[0], 2)), log_std, {}


def change_of_variables(actions):
    """Reference log-density (NumPy float64): log N(u) - log|da/du| with u = atanh((a - c) / h)."""
    a = np.asarray(actions, np.float64)
    center, half = (HIGH + LOW) / 2.0, (HIGH - LOW) / 2.0
    y = (a - center) / half
    u = np.arctanh(y)
    std = np.exp(LOG_STD.astype(np.float64))
    log_normal = -0.5 * ((u - MEAN) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)
    return (log_normal - np.log(half * (1 - y**2))).sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def model():
    policy = Squashed()
    policy.init_state_dict("policy")
    return policy


class TestSquashedGaussian:
    def test_actions_inside_the_box_and_squashed_mean(self, model):
        """Samples stay in [low, high]; mean_actions = center + half * tanh(mean)."""
        actions, _, outputs = model.act({"states": jnp.zeros((4096, 3))}, role="policy")
        assert (np.asarray(actions) >= LOW).all() and (np.asarray(actions) <= HIGH).all()
        expected = (HIGH + LOW) / 2 + (HIGH - LOW) / 2 * np.tanh(MEAN)
        np.testing.assert_allclose(np.asarray(outputs["mean_actions"][0]), expected, rtol=1e-6)

    def test_log_prob_of_taken_actions_matches_the_change_of_variables(self, model):
        """Against a float64 NumPy reference of the formula."""
        taken = np.array([[1.5, 0.2], [-1.9, 0.9], [0.0, 0.5]], np.float32)
        _, log_prob, _ = model.act({"states": jnp.zeros((3, 3)), "taken_actions": taken}, role="policy")
        np.testing.assert_allclose(np.asarray(log_prob), change_of_variables(taken), atol=1e-4)

    def test_log_prob_of_sampled_actions_matches_the_reference(self, model):
        """The sampling path agrees with the formula evaluated on the returned actions."""
        actions, log_prob, _ = model.act({"states": jnp.zeros((256, 3))}, role="policy")
        np.testing.assert_allclose(np.asarray(log_prob), change_of_variables(actions), atol=2e-3)

    def test_saturated_and_boundary_actions_are_finite(self, model):
        """Taken actions exactly on the bounds give finite log-probs and finite gradients."""
        taken = jnp.asarray(np.stack([LOW, HIGH]))
        params = model.state_dict.params

        def total(params):
            return model.act(
                {"states": jnp.zeros((2, 3)), "taken_actions": taken, "key": jax.random.key(0)}, "policy", params
            )[1].sum()

        value, grads = jax.value_and_grad(total)(params)
        assert np.isfinite(float(value))
        assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree_util.tree_leaves(grads))

    def test_torch_and_jax_agree(self, model):
        """The same taken actions give the same log-probabilities on both backends."""
        torch = pytest.importorskip("torch")
        from mixrl.models.jax.distributions import squashed_gaussian_correction as jax_correction
        from mixrl.models.torch.distributions import squashed_gaussian_correction as torch_correction

        u = np.linspace(-30, 30, 13, dtype=np.float32).reshape(-1, 1)
        log_half = np.array([0.7], np.float32)
        np.testing.assert_allclose(
            np.asarray(jax_correction(jnp.asarray(u), jnp.asarray(log_half))),
            torch_correction(torch.from_numpy(u), torch.from_numpy(log_half)).numpy(),
            rtol=1e-5,
            atol=1e-5,
        )

    def test_squash_needs_a_bounded_box(self):
        """An unbounded Box is a ValueError at construction."""
        with pytest.raises(ValueError, match="finite Box bounds"):
            Squashed(action_space=gymnasium.spaces.Box(-np.inf, np.inf, (2,)))


class TestModeActions:
    def test_categorical_outputs_carry_the_argmax_with_start(self):
        """outputs['mode_actions'] is the most likely action, shifted by the space's start."""

        class Policy(CategoricalMixin, Model):
            def __init__(self, observation_space=1, action_space=None, device=None, parent=None, name=None):
                Model.__init__(self, observation_space, gymnasium.spaces.Discrete(3, start=4), device, parent, name)
                CategoricalMixin.__init__(self)

            @nn.compact
            def __call__(self, inputs, role):
                logits = jnp.asarray([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
                return logits + 0.0 * self.param("unused", lambda _: jnp.zeros(1)), {}

        policy = Policy()
        policy.init_state_dict("policy")
        outputs = policy.act({"states": jnp.zeros((2, 1))}, role="policy")[2]
        assert np.asarray(outputs["mode_actions"]).tolist() == [[5], [4]]
