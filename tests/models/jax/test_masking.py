"""Action masking of the JAX categorical heads, against NumPy oracles of the renormalised allowed distribution."""

import math

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import CategoricalMixin, Model, MultiCategoricalMixin
from mixrl.models.jax import distributions as jax_distributions

LOGITS = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 1.0]], np.float32)
MASK = np.array([[True, False, True, True], [False, True, False, True]])


class Fixed(CategoricalMixin, Model):
    """Categorical policy with the trainable logits ``LOGITS`` (or their softmax), repeated over the batch."""

    def __init__(
        self, observation_space=1, action_space=None, device=None, parent=None, name=None, probabilities=False
    ):
        Model.__init__(self, observation_space, action_space or gymnasium.spaces.Discrete(4), device, parent, name)
        self.probabilities = probabilities
        CategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities)

    @nn.compact
    def __call__(self, inputs, role):
        logits = jnp.tile(self.param("logits", lambda _: jnp.asarray(LOGITS)), (inputs["states"].shape[0] // 2, 1))
        return (nn.softmax(logits) if self.probabilities else logits), {}


class MultiFixed(MultiCategoricalMixin, Model):
    """nvec = [3, 2], reduction 'none': fixed logits for every row."""

    def __init__(self, observation_space=1, action_space=None, device=None, parent=None, name=None):
        Model.__init__(self, observation_space, gymnasium.spaces.MultiDiscrete([3, 2]), device, parent, name)
        MultiCategoricalMixin.__init__(self, reduction="none")

    @nn.compact
    def __call__(self, inputs, role):
        logits = self.param("logits", lambda _: jnp.asarray([[2.0, 1.0, 0.0, 0.5, -0.5]]))
        return jnp.broadcast_to(logits, (inputs["states"].shape[0], 5)), {}


def build(cls, **kwargs):
    model = cls(**kwargs)
    model.init_state_dict("policy")
    return model


def allowed_log_probs(logits, mask):
    """Reference: log of the softmax over the allowed actions only, with plain exp and sums (-inf when masked)."""
    weights = np.exp(logits.astype(np.float64)) * mask
    with np.errstate(divide="ignore"):
        return np.log(weights / weights.sum(-1, keepdims=True))


def entropy_of(log_probs):
    """-sum p log p over the allowed actions (masked ones have p = 0 and contribute nothing)."""
    p = np.exp(log_probs)
    return -(p * np.where(np.isfinite(log_probs), log_probs, 0.0)).sum(-1)


def states(batch=2):
    return np.zeros((batch, 1), np.float32)


@pytest.fixture(scope="module")
def policy():
    return build(Fixed)


@pytest.fixture(scope="module")
def probs_policy():
    return build(Fixed, probabilities=True)


class TestSampling:
    def test_a_mask_allowing_only_action_0_always_samples_0(self, policy):
        """The reported bug (masked actions sampled 68% of the time): 20 000 draws, every one is action 0."""
        mask = np.tile([[True, False, False, False]], (20_000, 1))
        actions, log_prob, _ = policy.act({"states": states(20_000), "action_mask": mask}, "policy")
        assert (np.asarray(actions) == 0).all()
        np.testing.assert_array_equal(log_prob, 0.0)  # the only allowed action has probability 1

    @pytest.mark.parametrize("probabilities", [False, True])
    def test_masked_actions_are_never_sampled(self, policy, probs_policy, probabilities):
        """10 000 draws per row land only on allowed actions; every allowed action shows up."""
        model = probs_policy if probabilities else policy
        mask = np.tile(MASK, (10_000, 1))
        actions = np.asarray(model.act({"states": states(20_000), "action_mask": mask}, "policy")[0])
        assert np.take_along_axis(mask, actions, axis=-1).all()
        assert set(actions[0::2, 0].tolist()) == {0, 2, 3} and set(actions[1::2, 0].tolist()) == {1, 3}

    def test_sampling_frequencies_follow_the_renormalised_probabilities(self, policy):
        """Monte-Carlo: 1e5 draws of row 0 match exp(allowed_log_probs) within 0.01."""
        mask = np.tile(MASK, (50_000, 1))
        actions = np.asarray(policy.act({"states": states(100_000), "action_mask": mask}, "policy")[0])
        frequencies = np.bincount(actions[0::2, 0], minlength=4) / 50_000
        np.testing.assert_allclose(frequencies, np.exp(allowed_log_probs(LOGITS, MASK))[0], atol=0.01)


class TestLogProbAndEntropy:
    @pytest.mark.parametrize("probabilities", [False, True])
    def test_log_probs_are_renormalised_over_allowed_actions_and_minus_inf_when_masked(
        self, policy, probs_policy, probabilities
    ):
        """log p(a) = log(exp(l_a) / sum of allowed exp(l)); a masked taken action has log-prob -inf."""
        model = probs_policy if probabilities else policy
        reference = allowed_log_probs(LOGITS, MASK)
        for action in range(4):
            taken = np.full((2, 1), action)
            log_prob = model.act({"states": states(), "taken_actions": taken, "action_mask": MASK}, "policy")[1]
            np.testing.assert_allclose(np.asarray(log_prob)[:, 0], reference[:, action], rtol=1e-5, atol=1e-5)
        taken = np.array([[1], [0]])
        log_prob = model.act({"states": states(), "taken_actions": taken, "action_mask": MASK}, "policy")[1]
        assert (np.asarray(log_prob) == -math.inf).all()

    @pytest.mark.parametrize("probabilities", [False, True])
    def test_entropy_of_outputs_or_net_output_ignores_masked_actions(self, policy, probs_policy, probabilities):
        """get_entropy(outputs) and get_entropy(outputs["net_output"]) equal the renormalised allowed entropy."""
        model = probs_policy if probabilities else policy
        outputs = model.act({"states": states(), "action_mask": MASK}, "policy")[2]
        expected = entropy_of(allowed_log_probs(LOGITS, MASK))
        np.testing.assert_allclose(model.get_entropy(outputs, "policy"), expected, rtol=1e-5)
        np.testing.assert_allclose(model.get_entropy(outputs["net_output"], "policy"), expected, rtol=1e-5)

    def test_net_output_carries_the_mask(self, policy, probs_policy):
        """Masked entries of net_output are -inf (logits) or 0 (probabilities); allowed ones are unchanged."""
        logits = np.asarray(policy.act({"states": states(), "action_mask": MASK}, "policy")[2]["net_output"])
        np.testing.assert_array_equal(logits[~MASK], -np.inf)
        np.testing.assert_allclose(logits[MASK], LOGITS[MASK])
        probs = np.asarray(probs_policy.act({"states": states(), "action_mask": MASK}, "policy")[2]["net_output"])
        np.testing.assert_array_equal(probs[~MASK], 0.0)

    def test_entropy_and_log_prob_gradients_are_finite_and_ignore_masked_logits(self, policy):
        """d(entropy + log_prob of allowed taken actions)/d(logits): finite, zero on the masked logits."""
        inputs = {
            "states": states(),
            "taken_actions": np.array([[0], [3]]),
            "action_mask": MASK,
            "key": jax.random.key(0),
        }

        def objective(params):
            _, log_prob, outputs = policy.act(inputs, "policy", params)
            return policy.get_entropy(outputs, "policy").sum() + log_prob.sum()

        grad = np.asarray(jax.grad(objective)(policy.state_dict.params)["params"]["logits"])
        assert np.isfinite(grad).all()
        np.testing.assert_array_equal(grad[~MASK], 0.0)
        assert np.abs(grad[MASK]).sum() > 0


class TestModeActions:
    def test_mode_actions_in_eval_mode_is_the_best_allowed_action_with_start(self):
        """Row 0: best allowed is index 0 (index 1 masked); row 1: index 3 (index 2 masked); shifted by start=10."""
        model = build(Fixed, action_space=gymnasium.spaces.Discrete(4, start=10))
        model.set_mode("eval")
        outputs = model.act({"states": states(), "action_mask": MASK}, "policy")[2]
        assert np.asarray(outputs["mode_actions"]).tolist() == [[10], [13]]
        assert np.asarray(model.act({"states": states()}, "policy")[2]["mode_actions"]).tolist() == [[11], [12]]

    def test_no_mode_actions_in_train_mode(self, policy):
        """Rollouts in train mode skip the argmax, as on torch (the mode is static in the compiled act)."""
        policy.set_mode("train")
        try:
            outputs = policy.act({"states": states(), "action_mask": MASK}, "policy")[2]
        finally:
            policy.set_mode("eval")
        assert "mode_actions" not in outputs and "net_output" in outputs


class TestErrors:
    @pytest.mark.parametrize("as_jax", [False, True])
    def test_a_row_with_every_action_masked_is_an_error(self, policy, as_jax):
        """Checked on the host before dispatch, for NumPy and concrete JAX masks: ValueError naming the row."""
        mask = MASK.copy()
        mask[1] = False
        with pytest.raises(ValueError, match=r"masks every action of rows \[1\]: nothing to sample"):
            policy.act({"states": states(), "action_mask": jnp.asarray(mask) if as_jax else mask}, "policy")

    @pytest.mark.parametrize("mask", [MASK[:, :3], MASK[0], MASK[None]], ids=["narrow", "1-d", "3-d"])
    def test_a_mask_of_the_wrong_shape_is_an_error(self, policy, mask):
        """The expected (batch, n) shape and the received one are named."""
        with pytest.raises(ValueError, match=rf"must be \(batch, 4\), got shape {re_shape(mask.shape)}"):
            policy.act({"states": states(), "action_mask": mask}, "policy")

    def test_a_mask_for_another_batch_is_an_error(self, policy):
        """(1, n) for a batch of 2 would broadcast silently: refused, naming net_output's shape."""
        with pytest.raises(ValueError, match=r"shape of net_output \(2, 4\), got shape \(1, 4\)"):
            policy.act({"states": states(), "action_mask": MASK[:1]}, "policy")

    def test_a_float_mask_is_an_error_and_an_integer_mask_works(self, policy):
        """Floats are refused (naming dtype and shape); gymnasium's int8 masks read non-zero as allowed."""
        with pytest.raises(ValueError, match=r"bool \(True = allowed\).*got dtype float32 with shape \(2, 4\)"):
            policy.act({"states": states(), "action_mask": MASK.astype(np.float32)}, "policy")
        taken = {"states": states(), "taken_actions": np.array([[1], [0]])}
        log_prob = policy.act({**taken, "action_mask": MASK.astype(np.int8)}, "policy")[1]
        assert (np.asarray(log_prob) == -math.inf).all()

    def test_a_list_is_an_error(self, policy):
        """The mask must be an array (it is an input of the compiled act)."""
        with pytest.raises(ValueError, match=r"must be a \(batch, 4\) bool array, got list"):
            policy.act({"states": states(), "action_mask": MASK.tolist()}, "policy")


class TestJit:
    def test_a_traced_mask_gives_the_eager_results(self, policy):
        """act inside jax.jit with the mask as an argument equals the eager act."""
        key = jax.random.key(3)
        inputs = {"states": states(), "taken_actions": np.array([[2], [3]]), "action_mask": MASK, "key": key}
        jitted = jax.jit(lambda p, x: policy.act(x, "policy", p))(policy.state_dict.params, inputs)
        eager = policy.act(inputs, "policy")
        for got, want in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6)

    def test_a_fully_masked_row_is_not_checked_under_jit_and_its_log_prob_is_nan(self, policy):
        """Traced masks are not read on the host: a fully masked row gets NaN log-prob and entropy; others are right."""
        mask = MASK.copy()
        mask[1] = False

        @jax.jit
        def step(params, mask, key):
            _, log_prob, outputs = policy.act(
                {"states": jnp.zeros((2, 1)), "action_mask": mask, "key": key}, "policy", params
            )
            return log_prob, policy.get_entropy(outputs, "policy")

        log_prob, entropy = step(policy.state_dict.params, mask, jax.random.key(0))
        assert np.isnan(log_prob[1, 0]) and np.isnan(entropy[1])
        assert np.isfinite(log_prob[0, 0])
        np.testing.assert_allclose(entropy[0], entropy_of(allowed_log_probs(LOGITS, MASK))[0], rtol=1e-5)

    def test_a_wrong_shape_is_an_error_while_tracing(self, policy):
        """Shapes are static: the check runs when the caller's jit traces act."""
        with pytest.raises(ValueError, match=r"must be \(batch, 4\), got shape \(2, 3\)"):
            jax.jit(lambda p, m: policy.act({"states": jnp.zeros((2, 1)), "action_mask": m}, "policy", p)[1])(
                policy.state_dict.params, MASK[:, :3]
            )


class TestMultiCategorical:
    MASK = np.array([[False, True, True, True, False]])

    def test_each_component_is_renormalised_over_its_allowed_actions(self):
        """Component 0 over {1, 2}, component 1 over {0}: its only allowed action has log-prob 0; masked ones -inf."""
        model = build(MultiFixed)
        inputs = {"states": states(1), "taken_actions": np.array([[1, 0]]), "action_mask": self.MASK}
        log_prob = model.act(inputs, "policy")[1]
        expected_first = 1.0 - math.log(math.exp(1.0) + math.exp(0.0))
        np.testing.assert_allclose(log_prob, [[expected_first, 0.0]], rtol=1e-6, atol=1e-7)
        masked = model.act({**inputs, "taken_actions": np.array([[0, 1]])}, "policy")[1]
        assert (np.asarray(masked) == -math.inf).all()

    def test_samples_and_mode_respect_the_mask(self):
        """5000 draws never use masked entries; mode_actions (eval) picks the best allowed per component."""
        model = build(MultiFixed)
        mask = np.tile(self.MASK, (5000, 1))
        actions = np.asarray(model.act({"states": states(5000), "action_mask": mask}, "policy")[0])
        assert set(actions[:, 0].tolist()) == {1, 2} and set(actions[:, 1].tolist()) == {0}
        model.set_mode("eval")
        outputs = model.act({"states": states(1), "action_mask": self.MASK}, "policy")[2]
        assert np.asarray(outputs["mode_actions"]).tolist() == [[1, 0]]

    def test_entropy_per_component_ignores_masked_actions(self):
        """get_entropy (reduction 'none') equals each component's renormalised allowed entropy (the second is 0)."""
        model = build(MultiFixed)
        outputs = model.act({"states": states(1), "action_mask": self.MASK}, "policy")[2]
        logits = np.array([[2.0, 1.0, 0.0, 0.5, -0.5]], np.float32)
        expected = [entropy_of(allowed_log_probs(logits[:, :3], self.MASK[:, :3]))[0], 0.0]
        np.testing.assert_allclose(model.get_entropy(outputs, "policy"), [expected], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(model.get_entropy(outputs["net_output"], "policy"), [expected], rtol=1e-5, atol=1e-7)

    def test_a_fully_masked_component_is_an_error(self):
        """Component 1 with both actions masked names the component and the row."""
        mask = np.array([[True, True, True, False, False]])
        with pytest.raises(ValueError, match=r"every action in component 1 of rows \[0\]"):
            build(MultiFixed).act({"states": states(1), "action_mask": mask}, "policy")

    def test_a_fully_masked_component_under_jit_has_a_nan_log_prob(self):
        """Unchecked when traced: that component's log-prob is NaN, the other one is finite."""
        model = build(MultiFixed)
        mask = np.array([[True, True, True, False, False]])
        log_prob = jax.jit(lambda p, m: model.act({"states": jnp.zeros((1, 1)), "action_mask": m}, "policy", p)[1])(
            model.state_dict.params, mask
        )
        assert np.isfinite(log_prob[0, 0]) and np.isnan(log_prob[0, 1])


class TestMaskFunctions:
    def test_mask_log_probs_matches_numpy_and_the_torch_twin(self):
        """jax mask_log_probs == NumPy renormalisation == torch mask_log_probs (same -inf entries)."""
        torch = pytest.importorskip("torch")
        from mixrl.models.torch import distributions as torch_distributions

        log_probs = jax.nn.log_softmax(jnp.asarray(LOGITS))
        got = np.asarray(jax_distributions.mask_log_probs(log_probs, jnp.asarray(MASK)))
        np.testing.assert_allclose(got, allowed_log_probs(LOGITS, MASK), rtol=1e-5, atol=1e-6)
        twin = torch_distributions.mask_log_probs(torch.from_numpy(np.array(log_probs)), torch.from_numpy(MASK))
        np.testing.assert_allclose(got, twin.numpy(), rtol=1e-6, atol=1e-6)

    def test_a_fully_masked_row_is_nan(self):
        """No allowed action: NaN, not -inf or a silent uniform distribution."""
        mask = jnp.asarray([[False, False], [True, False]])
        got = np.asarray(jax_distributions.mask_log_probs(jnp.zeros((2, 2)), mask))
        assert np.isnan(got[0]).all() and got[1].tolist() == [0.0, -np.inf]


def re_shape(shape):
    """A shape tuple as an escaped regular expression."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")
