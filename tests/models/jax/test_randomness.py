import logging

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixrl._logging
from mixrl.models.jax import GaussianMixin, Model

from .conftest import GaussianPolicy, N, build, params_of


class ModeAware(GaussianMixin, Model):
    """Mean is the states' first 3 columns in eval mode, zeros in train mode; echoes the key it was given."""

    def __init__(self, observation_space=5, action_space=3, device=None, **kwargs):
        Model.__init__(self, observation_space, action_space, device, **kwargs)
        GaussianMixin.__init__(self)

    @nn.compact
    def __call__(self, inputs, role):
        log_std = self.param("log_std", nn.initializers.zeros, (3,))
        mean = jnp.zeros_like(inputs["states"][:, :3]) if self.training else inputs["states"][:, :3]
        return mean, log_std, {"seen_key": inputs["key"]}


@pytest.fixture(scope="module")
def policy():
    return build(GaussianPolicy, gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,)))


@pytest.fixture(scope="module")
def mode_aware():
    model = ModeAware()
    model.init_state_dict("policy")
    return model


class TestPerModelKeys:
    def test_two_identically_built_models_have_different_parameters(self, box_obs, box_act):
        """Each model folds its creation index into config.jax.key (skrl: identical parameters)."""
        first, second = build(GaussianPolicy, box_obs, box_act), build(GaussianPolicy, box_obs, box_act)
        assert not np.allclose(params_of(first, "hidden", "kernel"), params_of(second, "hidden", "kernel"))

    def test_two_models_with_equal_parameters_draw_different_noise(self, policy, states):
        """Same parameters, own keys: different actions (skrl: identical exploration noise)."""
        twin = build(GaussianPolicy, gymnasium.spaces.Box(-1, 1, (5,)), gymnasium.spaces.Box(-1, 1, (3,)))
        twin.state_dict = policy.state_dict
        assert not np.allclose(twin.act({"states": states}, "policy")[0], policy.act({"states": states}, "policy")[0])

    def test_consecutive_calls_draw_fresh_noise(self, policy, states):
        """The model's own key advances on every call (no repeated noise)."""
        first = policy.act({"states": states}, "policy")[0]
        assert not np.allclose(first, policy.act({"states": states}, "policy")[0])


class TestCallerKey:
    def test_act_does_not_modify_the_callers_inputs(self, policy, states):
        """No "key" is added to the caller's dict, and a given "key" is not removed."""
        inputs = {"states": states}
        policy.act(inputs, "policy")
        assert list(inputs) == ["states"]
        keyed = {"states": states, "key": jax.random.PRNGKey(0)}
        policy.act(keyed, "policy")
        assert list(keyed) == ["states", "key"]

    def test_a_caller_key_is_used_as_is(self, mode_aware, states):
        """actions = mean + std * jax.random.normal(key); __call__ receives that key; the same key repeats."""
        key = jax.random.PRNGKey(42)
        actions, _, outputs = mode_aware.act({"states": states, "key": key}, "policy")
        np.testing.assert_allclose(actions, states[:, :3] + jax.random.normal(key, (N, 3)), rtol=1e-6)
        np.testing.assert_array_equal(outputs["seen_key"], key)
        np.testing.assert_array_equal(mode_aware.act({"states": states, "key": key}, "policy")[0], actions)


class TestJit:
    def test_act_jits_as_a_whole_and_matches_the_eager_result(self, policy, states):
        """jax.jit of a function calling model.act(inputs, "policy", params) with a key equals eager act."""
        inputs = {"states": states, "key": jax.random.PRNGKey(5)}
        jitted = jax.jit(lambda params, x: policy.act(x, "policy", params))(policy.state_dict.params, inputs)
        eager = policy.act(inputs, "policy")
        for got, want in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6)

    def test_tracing_without_key_warns_once_and_keeps_the_model_key(self, policy, states, caplog, monkeypatch):
        """Traced without key and taken_actions: one warning; no tracer is stored as the model's key."""
        monkeypatch.setattr(mixrl._logging, "_said_once", set())
        key = policy._mixrl_key
        step = jax.jit(lambda params, s: policy.act({"states": s}, "policy", params)[0])
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            step(policy.state_dict.params, states)
            step(policy.state_dict.params, states + 1)
            jax.jit(lambda p, s, k: policy.act({"states": s, "key": k}, "policy", p)[0])(
                policy.state_dict.params, states, jax.random.PRNGKey(0)
            )
        warnings = [r.getMessage() for r in caplog.records if "compile-time constant" in r.getMessage()]
        assert len(warnings) == 1
        assert policy._mixrl_key is key


class TestMode:
    def test_call_sees_the_mode_of_each_call(self, mode_aware, states):
        """__call__ reads self.training: eval -> mean = states[:, :3], train -> zeros."""
        key = jax.random.PRNGKey(0)
        mode_aware.set_mode("eval")
        eval_mean = mode_aware.act({"states": states, "key": key}, "policy")[2]["mean_actions"]
        mode_aware.set_mode("train")
        train_mean = mode_aware.act({"states": states, "key": key}, "policy")[2]["mean_actions"]
        mode_aware.set_mode("eval")
        np.testing.assert_allclose(eval_mean, states[:, :3])
        np.testing.assert_array_equal(train_mean, 0.0)

    def test_an_agent_jitted_apply_follows_mode_changes(self, states):
        """jax.jit(model.apply, static_argnums=2) built in eval mode behaves as train after set_mode("train")."""
        model = ModeAware()
        model.init_state_dict("policy")
        model.apply = jax.jit(model.apply, static_argnums=2)
        inputs = {"states": states, "key": jax.random.PRNGKey(0)}
        np.testing.assert_allclose(model.act(inputs, "policy")[2]["mean_actions"], states[:, :3])
        np.testing.assert_allclose(model.apply(model.state_dict.params, inputs, "policy")[0], states[:, :3])
        model.set_mode("train")
        np.testing.assert_array_equal(model.act(inputs, "policy")[2]["mean_actions"], 0.0)
        np.testing.assert_array_equal(model.apply(model.state_dict.params, inputs, "policy")[0], 0.0)
        model.training = False  # agents assign the attribute directly
        np.testing.assert_allclose(model.act(inputs, "policy")[2]["mean_actions"], states[:, :3])
