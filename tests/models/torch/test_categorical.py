import gymnasium
import pytest
import torch
from torch.distributions import Categorical

from .conftest import CategoricalPolicy

N = 64


@pytest.fixture
def states():
    torch.manual_seed(0)
    return torch.randn(N, 4)


class TestCategorical:
    def test_shapes_and_outputs(self, states):
        """actions (N, 1) int64, log_prob (N, 1), outputs['net_output'] (N, n), entropy (N,)."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 1) and actions.dtype == torch.int64
        assert log_prob.shape == (N, 1)
        assert outputs["net_output"].shape == (N, 3)
        assert policy.get_entropy("policy").shape == (N,)
        assert ((actions >= 0) & (actions < 3)).all()

    def test_log_prob_of_taken_actions_matches_torch_categorical(self, states):
        """log_prob(taken_actions) equals torch.distributions.Categorical(logits).log_prob."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        taken = torch.randint(0, 3, (N, 1))
        _, log_prob, outputs = policy.act({"states": states, "taken_actions": taken.float()}, role="policy")
        expected = Categorical(logits=policy.net(states)).log_prob(taken.squeeze(1)).unsqueeze(1)
        torch.testing.assert_close(log_prob, expected)

    def test_log_prob_of_sampled_actions_matches_torch_categorical(self, states):
        """Without taken_actions the log-prob is that of the returned actions."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        expected = Categorical(logits=policy.net(states)).log_prob(actions.squeeze(1)).unsqueeze(1)
        torch.testing.assert_close(log_prob, expected)

    def test_entropy_matches_torch_categorical(self, states):
        """get_entropy equals Categorical(logits).entropy()."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        policy.act({"states": states}, role="policy")
        torch.testing.assert_close(policy.get_entropy("policy"), Categorical(logits=policy.net(states)).entropy())

    def test_probabilities_mode_gives_the_same_log_probs_as_logits(self, states):
        """unnormalized_log_prob=False reading softmax(logits) equals reading the logits."""
        logits_policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        probs_policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3), probabilities=True)
        probs_policy.load_state_dict(logits_policy.state_dict())
        taken = torch.randint(0, 3, (N, 1))
        a = logits_policy.act({"states": states, "taken_actions": taken}, role="policy")[1]
        b = probs_policy.act({"states": states, "taken_actions": taken}, role="policy")[1]
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    def test_sampling_frequencies_follow_the_probabilities(self):
        """Monte-Carlo: 1e5 draws from fixed logits match softmax(logits) within 0.01."""
        torch.manual_seed(2)
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        states = torch.zeros(100_000, 4)
        with torch.no_grad():
            actions, _, outputs = policy.act({"states": states}, role="policy")
        frequencies = torch.bincount(actions.flatten(), minlength=3).float() / len(actions)
        torch.testing.assert_close(frequencies, torch.softmax(outputs["net_output"][0], -1), atol=0.01, rtol=0)

    def test_discrete_start_is_added_to_actions_and_removed_from_taken_actions(self, states):
        """Discrete(3, start=5): actions are 5..7 and log_prob(5) is the log-prob of index 0."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3, start=5))
        actions, _, _ = policy.act({"states": states}, role="policy")
        assert ((actions >= 5) & (actions <= 7)).all()
        taken = torch.full((N, 1), 5)
        log_prob = policy.act({"states": states, "taken_actions": taken}, role="policy")[1]
        expected = torch.log_softmax(policy.net(states), -1)[:, :1]
        torch.testing.assert_close(log_prob, expected)

    def test_entropy_before_act_and_distribution_object(self, states):
        """0.0 before any act; afterwards distribution() is a torch Categorical with the same probabilities."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        assert policy.get_entropy("policy").item() == 0.0
        policy.act({"states": states}, role="policy")
        dist = policy.distribution("policy")
        assert isinstance(dist, Categorical)
        torch.testing.assert_close(dist.probs, torch.softmax(policy.net(states), -1))

    def test_entropy_with_an_impossible_action_has_finite_gradients(self):
        """A -inf logit contributes 0 to the entropy and no NaN to its gradient (as torch's Categorical)."""
        policy = CategoricalPolicy(4, gymnasium.spaces.Discrete(3))
        logits = torch.tensor([[0.0, -float("inf"), 1.0]], requires_grad=True)
        policy.compute = lambda inputs, role: (logits, {})
        policy.act({"states": torch.zeros(1, 4)}, role="policy")
        entropy = policy.get_entropy("policy")
        entropy.sum().backward()
        reference = torch.tensor([[0.0, -float("inf"), 1.0]], requires_grad=True)
        Categorical(logits=reference).entropy().sum().backward()
        torch.testing.assert_close(entropy, Categorical(logits=reference).entropy())
        torch.testing.assert_close(logits.grad, reference.grad)
