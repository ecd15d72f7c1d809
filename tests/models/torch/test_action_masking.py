import math

import gymnasium
import pytest
import torch

from mixrl.models.torch import CategoricalMixin, Model, MultiCategoricalMixin

LOGITS = torch.tensor([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 1.0]])
MASK = torch.tensor([[True, False, True, True], [False, True, False, True]])


class Fixed(CategoricalMixin, Model):
    """Categorical policy returning fixed logits (or their softmax) for a batch of 2."""

    def __init__(self, probabilities=False, start=0):
        Model.__init__(self, 1, gymnasium.spaces.Discrete(4, start=start), "cpu")
        CategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities)
        self.logits = torch.nn.Parameter(LOGITS.clone())
        self.probabilities = probabilities

    def compute(self, inputs, role):
        logits = self.logits.repeat(inputs["states"].shape[0] // 2, 1)
        return (torch.softmax(logits, -1) if self.probabilities else logits), {}


def allowed_log_probs(logits, mask):
    """Reference: softmax over the allowed actions only, computed with plain exp and sums."""
    weights = logits.exp() * mask
    return (weights / weights.sum(-1, keepdim=True)).log()


class TestCategoricalMasking:
    def test_masked_actions_are_never_sampled(self):
        """10 000 draws per row land only on allowed actions."""
        torch.manual_seed(0)
        model = Fixed()
        actions = model.act({"states": torch.zeros(20_000, 1), "action_mask": MASK.repeat(10_000, 1)})[0]
        assert MASK.repeat(10_000, 1).gather(1, actions).all()

    @pytest.mark.parametrize("probabilities", [False, True])
    def test_log_probs_are_renormalised_over_allowed_actions_and_minus_inf_when_masked(self, probabilities):
        """log p(a) = log(exp(l_a) / sum of allowed exp(l)); a masked taken action has log-prob -inf."""
        model = Fixed(probabilities=probabilities)
        reference = allowed_log_probs(LOGITS, MASK)
        for action in range(4):
            taken = torch.full((2, 1), action)
            log_prob = model.act({"states": torch.zeros(2, 1), "taken_actions": taken, "action_mask": MASK})[1]
            torch.testing.assert_close(log_prob[:, 0], reference[:, action], atol=1e-5, rtol=1e-5)
        assert (
            model.act({"states": torch.zeros(2, 1), "taken_actions": torch.tensor([[1], [0]]), "action_mask": MASK})[1]
            .eq(-math.inf)
            .all()
        )

    def test_entropy_ignores_masked_actions_and_keeps_finite_gradients(self):
        """Entropy of the renormalised allowed distribution; no NaN in its gradient."""
        model = Fixed()
        model.act({"states": torch.zeros(2, 1), "action_mask": MASK})
        entropy = model.get_entropy()
        reference = allowed_log_probs(LOGITS, MASK)
        expected = -(reference.exp() * reference.nan_to_num(neginf=0.0)).sum(-1)
        torch.testing.assert_close(entropy, expected)
        entropy.sum().backward()
        assert torch.isfinite(model.logits.grad).all()
        assert model.logits.grad[~MASK].abs().max() < 1e-6  # masked logits do not influence the entropy

    def test_a_row_with_every_action_masked_is_an_error(self):
        """Nothing could be sampled: ValueError naming the row."""
        mask = MASK.clone()
        mask[1] = False
        with pytest.raises(ValueError, match=r"masks every action of rows \[1\]"):
            Fixed().act({"states": torch.zeros(2, 1), "action_mask": mask})

    def test_a_mask_of_the_wrong_shape_is_an_error(self):
        """The expected (batch, n) shape is named."""
        with pytest.raises(ValueError, match=r"must be \(batch, 4\), got shape \(2, 3\)"):
            Fixed().act({"states": torch.zeros(2, 1), "action_mask": MASK[:, :3]})

    def test_mode_actions_in_eval_mode_is_the_best_allowed_action_with_start(self):
        """Row 0: best allowed is 0 (index 1 masked); row 1: 3 (index 2 masked); shifted by start=10."""
        model = Fixed(start=10)
        model.set_mode("eval")
        outputs = model.act({"states": torch.zeros(2, 1), "action_mask": MASK})[2]
        assert outputs["mode_actions"].tolist() == [[10], [13]]
        without_mask = model.act({"states": torch.zeros(2, 1)})[2]["mode_actions"]
        assert without_mask.tolist() == [[11], [12]]

    def test_no_mode_actions_in_train_mode(self):
        """Rollouts in train mode skip the argmax (kept off the hot path)."""
        assert "mode_actions" not in Fixed().act({"states": torch.zeros(2, 1)})[2]


class MultiFixed(MultiCategoricalMixin, Model):
    """nvec = [3, 2]: fixed logits for a batch of 1."""

    def __init__(self):
        Model.__init__(self, 1, gymnasium.spaces.MultiDiscrete([3, 2]), "cpu")
        MultiCategoricalMixin.__init__(self, reduction="none")
        self.logits = torch.nn.Parameter(torch.tensor([[2.0, 1.0, 0.0, 0.5, -0.5]]))

    def compute(self, inputs, role):
        return self.logits.expand(inputs["states"].shape[0], -1), {}


class TestMultiCategoricalMasking:
    MASK = torch.tensor([[False, True, True, True, False]])

    def test_each_component_is_renormalised_over_its_allowed_actions(self):
        """Component 0 over {1, 2}, component 1 over {0}: its only allowed action has log-prob 0."""
        model = MultiFixed()
        taken = torch.tensor([[1, 0]])
        log_prob = model.act({"states": torch.zeros(1, 1), "taken_actions": taken, "action_mask": self.MASK})[1]
        expected_first = 1.0 - math.log(math.exp(1.0) + math.exp(0.0))
        torch.testing.assert_close(log_prob, torch.tensor([[expected_first, 0.0]]))
        masked = model.act(
            {"states": torch.zeros(1, 1), "taken_actions": torch.tensor([[0, 1]]), "action_mask": self.MASK}
        )
        assert masked[1].eq(-math.inf).all()

    def test_samples_and_mode_respect_the_mask(self):
        """Samples never use masked entries; mode_actions (eval) picks the best allowed per component."""
        model = MultiFixed()
        actions = model.act({"states": torch.zeros(5000, 1), "action_mask": self.MASK.expand(5000, -1)})[0]
        assert set(actions[:, 0].tolist()) <= {1, 2} and set(actions[:, 1].tolist()) == {0}
        model.set_mode("eval")
        assert model.act({"states": torch.zeros(1, 1), "action_mask": self.MASK})[2]["mode_actions"].tolist() == [
            [1, 0]
        ]

    def test_a_fully_masked_component_is_an_error(self):
        """Component 1 with both actions masked names the component."""
        mask = torch.tensor([[True, True, True, False, False]])
        with pytest.raises(ValueError, match="every action in component 1 of rows \\[0\\]"):
            MultiFixed().act({"states": torch.zeros(1, 1), "action_mask": mask})
