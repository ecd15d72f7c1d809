import copy

import gymnasium
import pytest
import torch
from torch.distributions import Categorical

from mixrl.models.torch import Model
from mixrl.models.torch.multicategorical import MultiCategoricalDistribution, MultiCategoricalMixin

N = 64
UNEQUAL = [3, 2, 4]
EQUAL = [4, 4, 4]


class MultiCategoricalPolicy(MultiCategoricalMixin, Model):
    def __init__(self, action_space, probabilities=False, **kwargs):
        Model.__init__(self, 4, action_space, "cpu")
        MultiCategoricalMixin.__init__(self, unnormalized_log_prob=not probabilities, **kwargs)
        self.probabilities = probabilities
        self.net = torch.nn.Linear(4, self.num_actions)

    def compute(self, inputs, role):
        out = self.net(inputs["states"])
        if self.probabilities:  # softmax per chunk: non-negative weights with a non-zero sum per component
            out = torch.cat([torch.softmax(c, -1) for c in torch.split(out, self.nvec, dim=-1)], dim=-1)
        return out, {}

    @property
    def nvec(self):
        space = self.action_space
        return [int(space.n)] if isinstance(space, gymnasium.spaces.Discrete) else space.nvec.tolist()


def reference(policy, states):
    """One torch Categorical per chunk of the network's logits, built outside the mixin."""
    return [Categorical(logits=chunk) for chunk in torch.split(policy.net(states), policy.nvec, dim=-1)]


def per_component(dists, fn):
    return torch.stack([fn(k, d) for k, d in enumerate(dists)], dim=-1)


@pytest.fixture
def states():
    torch.manual_seed(0)
    return torch.randn(N, 4)


@pytest.fixture(params=[UNEQUAL, EQUAL], ids=["unequal", "equal"])
def nvec(request):
    return request.param


class TestShapes:
    @pytest.mark.parametrize("reduction, width", [("sum", 1), ("mean", 1), ("prod", 1), ("none", 3)])
    def test_nvec_3_2_4_actions_log_prob_and_entropy_shapes(self, states, reduction, width):
        """actions (N, 3) int64 in range, log_prob and entropy (N, 1), or (N, 3) for 'none'."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(UNEQUAL), reduction=reduction)
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 3) and actions.dtype == torch.int64
        assert ((actions >= 0) & (actions < torch.tensor(UNEQUAL))).all()
        assert log_prob.shape == (N, width)
        assert outputs["net_output"].shape == (N, 9)
        assert policy.get_entropy("policy").shape == (N, width)

    def test_discrete_space_is_a_single_component(self, states):
        """A Discrete(5) action space gives actions (N, 1) in 0..4."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.Discrete(5))
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 1) and ((actions >= 0) & (actions < 5)).all()
        torch.testing.assert_close(log_prob, reference(policy, states)[0].log_prob(actions[:, 0]).unsqueeze(1))

    def test_entropy_before_any_act_is_zero(self):
        """0.0 before any act, and no distribution yet."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(UNEQUAL))
        assert policy.get_entropy("policy").item() == 0.0
        assert policy.distribution("policy") is None

    @pytest.mark.parametrize("space", [gymnasium.spaces.Box(-1.0, 1.0, (3,)), 9])
    def test_action_space_must_be_multidiscrete_or_discrete(self, space):
        """Any other action space is refused at construction, naming what came."""
        with pytest.raises(ValueError, match=f"MultiDiscrete.*got {type(space).__name__}"):
            MultiCategoricalPolicy(space)

    def test_net_output_of_the_wrong_width_names_the_expected_width(self, states, nvec):
        """compute must return sum(nvec) columns: anything else is a ValueError naming both widths."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec))
        policy.compute = lambda inputs, role: (torch.zeros(N, sum(nvec) + 1), {})
        with pytest.raises(ValueError, match=rf"sum\(nvec\) = {sum(nvec)}.*got shape .*{sum(nvec) + 1}"):
            policy.act({"states": states}, role="policy")

    def test_invalid_reduction_is_rejected(self):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(UNEQUAL), reduction="max")


class TestMath:
    def test_log_prob_of_taken_actions_is_the_sum_of_component_log_probs(self, states, nvec):
        """log_prob(taken_actions) = sum_k Categorical(chunk_k).log_prob(taken[:, k]); float inputs are cast."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec))
        taken = torch.stack([torch.randint(0, n, (N,)) for n in nvec], dim=-1)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken.float()}, role="policy")
        expected = per_component(reference(policy, states), lambda k, d: d.log_prob(taken[:, k]))
        torch.testing.assert_close(log_prob, expected.sum(-1, keepdim=True))

    def test_log_prob_of_sampled_actions_per_component_with_reduction_none(self, states, nvec):
        """Without taken_actions, 'none' gives each component's log-prob of the returned actions (N, K)."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec), reduction="none")
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        expected = per_component(reference(policy, states), lambda k, d: d.log_prob(actions[:, k]))
        torch.testing.assert_close(log_prob, expected)

    def test_mean_reduction_averages_components(self, states):
        """'mean' is the average of the K component log-probs."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(UNEQUAL), reduction="mean")
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        expected = per_component(reference(policy, states), lambda k, d: d.log_prob(actions[:, k]))
        torch.testing.assert_close(log_prob, expected.mean(-1, keepdim=True))

    @pytest.mark.parametrize("reduction", ["sum", "none"])
    def test_entropy_matches_torch_categoricals(self, states, nvec, reduction):
        """get_entropy is the per-component Categorical entropy, summed (N, 1) or kept (N, K)."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec), reduction=reduction)
        policy.act({"states": states}, role="policy")
        expected = per_component(reference(policy, states), lambda k, d: d.entropy())
        expected = expected.sum(-1, keepdim=True) if reduction == "sum" else expected
        torch.testing.assert_close(policy.get_entropy("policy"), expected)

    def test_probabilities_mode_gives_the_same_log_probs_as_logits(self, states, nvec):
        """unnormalized_log_prob=False reading per-chunk softmax(logits) equals reading the logits."""
        logits_policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec), reduction="none")
        probs_policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec), True, reduction="none")
        probs_policy.load_state_dict(logits_policy.state_dict())
        taken = torch.stack([torch.randint(0, n, (N,)) for n in nvec], dim=-1)
        a = logits_policy.act({"states": states, "taken_actions": taken}, role="policy")[1]
        b = probs_policy.act({"states": states, "taken_actions": taken}, role="policy")[1]
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    def test_sampling_frequencies_follow_each_component_and_are_independent(self, nvec):
        """Monte-Carlo, 1e5 draws: marginals match softmax(chunk_k); the joint of components 0, 1 is their product."""
        torch.manual_seed(2)
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec))
        with torch.no_grad():
            actions, _, _ = policy.act({"states": torch.zeros(100_000, 4)}, role="policy")
            probs = [d.probs[0] for d in reference(policy, torch.zeros(1, 4))]
        for k, p in enumerate(probs):
            frequencies = torch.bincount(actions[:, k], minlength=nvec[k]).float() / len(actions)
            torch.testing.assert_close(frequencies, p, atol=0.01, rtol=0)
        joint = torch.bincount(actions[:, 0] * nvec[1] + actions[:, 1], minlength=nvec[0] * nvec[1]).float()
        torch.testing.assert_close(joint / len(actions), torch.outer(probs[0], probs[1]).flatten(), atol=0.01, rtol=0)

    def test_log_prob_gradients_reach_the_network(self, states):
        """PPO differentiates log_prob(taken_actions) with respect to the logits."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(UNEQUAL))
        taken = torch.zeros(N, 3, dtype=torch.int64)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        log_prob.sum().backward()
        assert policy.net.weight.grad.abs().sum() > 0

    def test_multidiscrete_start_shifts_actions_and_taken_actions(self, states):
        """MultiDiscrete([3, 2], start=[5, -1]): actions in 5..7 and -1..0; log_prob([5, -1]) is that of [0, 0]."""
        space = gymnasium.spaces.MultiDiscrete([3, 2], start=[5, -1])
        policy = MultiCategoricalPolicy(space, reduction="none")
        actions, _, _ = policy.act({"states": states}, role="policy")
        assert ((actions[:, 0] >= 5) & (actions[:, 0] <= 7)).all()
        assert ((actions[:, 1] >= -1) & (actions[:, 1] <= 0)).all()
        taken = torch.tensor([[5, -1]]).expand(N, 2)
        log_prob = policy.act({"states": states, "taken_actions": taken}, role="policy")[1]
        expected = per_component(reference(policy, states), lambda k, d: d.log_prob(torch.zeros(N)))
        torch.testing.assert_close(log_prob, expected)


class TestDistribution:
    def test_composite_exposes_every_component_as_a_torch_categorical(self, states, nvec):
        """distribution() has len K, [k] and .distributions[k] are Categoricals with chunk k's probabilities."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec))
        policy.act({"states": states}, role="policy")
        dist = policy.distribution("policy")
        assert isinstance(dist, MultiCategoricalDistribution)
        assert len(dist) == len(nvec) == len(dist.distributions)
        for k, expected in enumerate(reference(policy, states)):
            assert isinstance(dist[k], Categorical) and dist[k] is dist.distributions[k]
            torch.testing.assert_close(dist[k].probs, expected.probs)

    def test_composite_sample_log_prob_entropy_and_mode(self, states, nvec):
        """sample (N, K) in range; log_prob, entropy and mode (N, K) match the torch Categoricals."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(nvec))
        policy.act({"states": states}, role="policy")
        dist, expected = policy.distribution("policy"), reference(policy, states)
        sample = dist.sample()
        assert sample.shape == (N, len(nvec)) and ((sample >= 0) & (sample < torch.tensor(nvec))).all()
        torch.testing.assert_close(
            dist.log_prob(sample), per_component(expected, lambda k, d: d.log_prob(sample[:, k]))
        )
        torch.testing.assert_close(dist.entropy(), per_component(expected, lambda k, d: d.entropy()))
        torch.testing.assert_close(dist.mode, per_component(expected, lambda k, d: d.probs.argmax(-1)))


class TwoRoles(MultiCategoricalMixin, Model):
    """Two multi-categorical heads with different reductions in one model."""

    def __init__(self):
        Model.__init__(self, 2, gymnasium.spaces.MultiDiscrete(UNEQUAL), "cpu")
        MultiCategoricalMixin.__init__(self, reduction="sum", role="summed")
        MultiCategoricalMixin.__init__(self, reduction="none", role="separate")

    def compute(self, inputs, role):
        return torch.zeros(inputs["states"].shape[0], 9), {}


class TestRolesAndCompatibility:
    def test_each_role_keeps_its_own_reduction(self):
        """Registering a second role does not overwrite the first one's reduction."""
        model = TwoRoles()
        states = torch.zeros(8, 2)
        assert model.act({"states": states}, role="summed")[1].shape == (8, 1)
        assert model.act({"states": states}, role="separate")[1].shape == (8, 3)

    def test_unknown_role_on_a_multi_role_model_is_an_error(self):
        """The error lists the registered roles."""
        with pytest.raises(ValueError, match="unknown role 'value'.*'summed', 'separate'"):
            TwoRoles().act({"states": torch.zeros(1, 2)}, role="value")

    def test_deepcopy_after_act(self, states):
        """A deep copy works and carries no last distribution."""
        policy = MultiCategoricalPolicy(gymnasium.spaces.MultiDiscrete(UNEQUAL))
        policy.act({"states": states}, role="policy")
        clone = copy.deepcopy(policy)
        assert clone.distribution("policy") is None
        assert clone.act({"states": states}, role="policy")[0].shape == (N, 3)
