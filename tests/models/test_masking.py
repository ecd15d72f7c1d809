"""Action masking (``inputs["action_mask"]``, True = allowed) on both backends, against plain NumPy sums."""

import math

import gymnasium
import numpy as np
import pytest

LOGITS = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 1.0]], np.float32)
MASK = np.array([[True, False, True, True], [False, True, False, True]])
STATES = np.eye(2, dtype=np.float32)  # one-hot rows: logits = STATES @ LOGITS


def fixed(backend, start=0, probabilities=False):
    """A categorical policy whose logits are LOGITS (row i for state e_i)."""
    model = backend.build(
        "CategoricalPolicy", 2, gymnasium.spaces.Discrete(4, start=start), probabilities=probabilities
    )
    backend.set_weights(model, **{"logits.kernel": LOGITS, "logits.bias": np.zeros(4)})
    return model


def allowed_log_probs(logits, mask):
    """Reference: softmax over the allowed actions only, with plain exp and sums (-inf where masked)."""
    weights = np.exp(logits.astype(np.float64)) * mask
    with np.errstate(divide="ignore"):
        return np.log(weights / weights.sum(-1, keepdims=True))


class TestCategoricalMasking:
    def test_masked_actions_are_never_sampled(self, backend):
        """10 000 draws per row land only on allowed actions, and on every allowed one."""
        model = fixed(backend)
        states, mask = np.tile(STATES, (10_000, 1)), np.tile(MASK, (10_000, 1))
        actions = backend.act(model, {"states": states, "action_mask": mask}, seed=0)[0]
        assert np.take_along_axis(mask, actions.astype(int), 1).all()
        assert set(actions[0::2, 0].tolist()) == {0, 2, 3} and set(actions[1::2, 0].tolist()) == {1, 3}

    @pytest.mark.parametrize("probabilities", [False, True])
    def test_log_probs_are_renormalised_over_allowed_actions_and_minus_inf_when_masked(self, backend, probabilities):
        """log p(a) = log(exp(l_a) / sum of allowed exp(l)); a masked taken action has log-prob -inf."""
        model = fixed(backend, probabilities=probabilities)
        reference = allowed_log_probs(LOGITS, MASK)
        for action in range(4):
            inputs = {"states": STATES, "taken_actions": np.full((2, 1), action), "action_mask": MASK}
            np.testing.assert_allclose(backend.act(model, inputs)[1][:, 0], reference[:, action], atol=1e-5, rtol=1e-5)
        inputs = {"states": STATES, "taken_actions": np.array([[1], [0]]), "action_mask": MASK}
        assert (backend.act(model, inputs)[1] == -math.inf).all()

    @pytest.mark.parametrize("probabilities", [False, True])
    def test_net_output_is_the_masked_output(self, backend, probabilities):
        """outputs["net_output"]: masked entries -inf (logits) or 0 (probabilities), the others as computed."""
        outputs = backend.act(fixed(backend, probabilities=probabilities), {"states": STATES, "action_mask": MASK})[2]
        computed = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True) if probabilities else LOGITS
        expected = np.where(MASK, computed, 0.0 if probabilities else -math.inf)
        np.testing.assert_allclose(outputs["net_output"], expected, rtol=1e-5)

    def test_entropy_ignores_masked_actions_and_has_finite_gradients(self, backend):
        """The entropy of the renormalised allowed distribution; no NaN in its gradient, none on masked logits."""
        model = fixed(backend)
        inputs = {"states": STATES, "action_mask": MASK}
        _, _, outputs = backend.act(model, inputs)
        reference = allowed_log_probs(LOGITS, MASK)
        expected = -(np.exp(reference) * np.nan_to_num(reference, neginf=0.0)).sum(-1)
        np.testing.assert_allclose(backend.entropy(model, outputs), expected, rtol=1e-5)
        grads, _ = backend.gradients(model, inputs, lambda *result: backend.raw_entropy(model, result[2]).sum())
        assert np.isfinite(grads["logits.kernel"]).all()
        assert np.abs(grads["logits.kernel"][~MASK]).max() < 1e-6  # row i of the kernel holds state i's logits

    def test_a_row_with_every_action_masked_is_an_error(self, backend):
        """Nothing could be sampled: ValueError naming the row."""
        mask = MASK.copy()
        mask[1] = False
        with pytest.raises(ValueError, match=r"masks every action of rows \[1\]"):
            backend.act(fixed(backend), {"states": STATES, "action_mask": mask})

    def test_a_mask_of_the_wrong_shape_is_an_error(self, backend):
        """The expected (batch, n) shape is named."""
        with pytest.raises(ValueError, match=r"must be \(batch, 4\), got shape \(2, 3\)"):
            backend.act(fixed(backend), {"states": STATES, "action_mask": MASK[:, :3]})

    @pytest.mark.parametrize("value", [0.5, np.nan])
    def test_a_float_mask_is_an_error(self, backend, value):
        """0.5 or NaN has no clear allowed/masked meaning: bool or integer masks only, the dtype is named."""
        mask = np.where(MASK, value, 0.0).astype(np.float32)
        with pytest.raises(ValueError, match=r"bool \(True = allowed\) or integer.*float32"):
            backend.act(fixed(backend), {"states": STATES, "action_mask": mask})

    def test_an_integer_mask_reads_non_zero_as_allowed(self, backend):
        """gymnasium's int8 masks: the same log-probs as the bool mask."""
        inputs = {"states": STATES, "taken_actions": np.array([[0], [3]])}
        expected = backend.act(fixed(backend), {**inputs, "action_mask": MASK})[1]
        received = backend.act(fixed(backend), {**inputs, "action_mask": MASK.astype(np.int8)})[1]
        np.testing.assert_allclose(received, expected)

    def test_mode_actions_in_eval_mode_is_the_best_allowed_action_with_start(self, backend):
        """Row 0: best allowed is 0 (index 1 masked); row 1: 3 (index 2 masked); shifted by start=10."""
        model = fixed(backend, start=10)
        model.set_mode("eval")
        outputs = backend.act(model, {"states": STATES, "action_mask": MASK})[2]
        assert outputs["mode_actions"].tolist() == [[10], [13]]
        assert backend.act(model, {"states": STATES})[2]["mode_actions"].tolist() == [[11], [12]]


MULTI_LOGITS = np.array([[2.0, 1.0, 0.0, 0.5, -0.5]], np.float32)
MULTI_MASK = np.array([[False, True, True, True, False]])


def multi_fixed(backend):
    """nvec = [3, 2], reduction 'none', logits MULTI_LOGITS for the state [1]."""
    model = backend.build("MultiCategoricalPolicy", 1, gymnasium.spaces.MultiDiscrete([3, 2]), reduction="none")
    backend.set_weights(model, **{"logits.kernel": MULTI_LOGITS, "logits.bias": np.zeros(5)})
    return model


class TestMultiCategoricalMasking:
    def test_each_component_is_renormalised_over_its_allowed_actions(self, backend):
        """Component 0 over {1, 2}, component 1 over {0}: its only allowed action has log-prob 0; masked: -inf."""
        model = multi_fixed(backend)
        inputs = {"states": np.ones((1, 1)), "taken_actions": np.array([[1, 0]]), "action_mask": MULTI_MASK}
        expected_first = 1.0 - math.log(math.exp(1.0) + math.exp(0.0))
        np.testing.assert_allclose(backend.act(model, inputs)[1], [[expected_first, 0.0]], rtol=1e-5, atol=1e-6)
        inputs["taken_actions"] = np.array([[0, 1]])
        assert (backend.act(model, inputs)[1] == -math.inf).all()

    def test_samples_and_mode_respect_the_mask(self, backend):
        """Samples never use masked entries; mode_actions (eval) picks the best allowed per component."""
        model = multi_fixed(backend)
        inputs = {"states": np.ones((5000, 1)), "action_mask": np.tile(MULTI_MASK, (5000, 1))}
        actions = backend.act(model, inputs, seed=0)[0]
        assert set(actions[:, 0].tolist()) == {1, 2} and set(actions[:, 1].tolist()) == {0}
        model.set_mode("eval")
        outputs = backend.act(model, {"states": np.ones((1, 1)), "action_mask": MULTI_MASK})[2]
        assert outputs["mode_actions"].tolist() == [[1, 0]]

    def test_entropy_is_that_of_each_renormalised_component(self, backend):
        """Component 0 is a two-way choice between logits 1 and 0; component 1 is certain (entropy 0)."""
        model = multi_fixed(backend)
        _, _, outputs = backend.act(model, {"states": np.ones((1, 1)), "action_mask": MULTI_MASK})
        p = math.exp(1.0) / (math.exp(1.0) + 1.0)
        expected = [[-(p * math.log(p) + (1 - p) * math.log(1 - p)), 0.0]]
        np.testing.assert_allclose(backend.entropy(model, outputs), expected, rtol=1e-5, atol=1e-6)

    def test_a_fully_masked_component_is_an_error(self, backend):
        """Component 1 with both actions masked names the component."""
        mask = np.array([[True, True, True, False, False]])
        with pytest.raises(ValueError, match="every action in component 1 of rows \\[0\\]"):
            backend.act(multi_fixed(backend), {"states": np.ones((1, 1)), "action_mask": mask})
