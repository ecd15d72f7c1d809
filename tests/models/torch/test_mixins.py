"""Torch-only behaviour of the heads: accessors that read the last ``act`` (``get_entropy(role)``, ``get_log_std``,
``distribution``), the ``torch.distributions`` objects they build, deep copies and autograd details.

The shared behaviour of every head (shapes, log-probabilities, entropies, sampling) is in ``tests/models/test_*.py``.
"""

import copy
import math

import gymnasium
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MultivariateNormal, Normal, TransformedDistribution
from torch.distributions.transforms import AffineTransform, TanhTransform

from mixrl.models.torch.multicategorical import MultiCategoricalDistribution

from . import models

N = 32
BOX_OBS = gymnasium.spaces.Box(-1.0, 1.0, (5,))
BOX_ACT = gymnasium.spaces.Box(np.float32([-1.0, 0.0, 5.0]), np.float32([1.0, 1.0, 6.0]))
NVEC = [3, 2, 4]


@pytest.fixture
def states():
    torch.manual_seed(0)
    return torch.randn(N, 5)


def gaussian_reference(policy, states):
    hidden = torch.tanh(policy.hidden(states))
    log_std = policy.log_std_head(hidden) if policy.state_dependent else policy.log_std.expand(N, -1)
    return policy.mean(hidden), log_std.clamp(-20, 2).exp()


class TestBeforeAnyAct:
    @pytest.mark.parametrize(
        "model",
        [
            models.GaussianPolicy(BOX_OBS, BOX_ACT),
            models.MultivariateGaussianPolicy(BOX_OBS, BOX_ACT),
            models.BetaPolicy(4, gymnasium.spaces.Box(-2.0, 2.0, (3,))),
            models.CategoricalPolicy(BOX_OBS, gymnasium.spaces.Discrete(3)),
            models.MultiCategoricalPolicy(BOX_OBS, gymnasium.spaces.MultiDiscrete(NVEC)),
        ],
        ids=lambda m: type(m).__name__,
    )
    def test_entropy_is_zero_and_there_is_no_distribution(self, model):
        """Agents may log the entropy before the first act: it is the scalar 0.0."""
        assert model.get_entropy("policy").item() == 0.0
        assert model.distribution("policy") is None

    def test_get_log_std_says_to_act_first(self):
        with pytest.raises(RuntimeError, match="act"):
            models.MultivariateGaussianPolicy(BOX_OBS, BOX_ACT).get_log_std("policy")


class TestGaussianAccessors:
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_get_log_std_is_batch_by_actions(self, states, state_dependent):
        """get_log_std is (N, A) for a state-independent and a state-dependent log-std (skrl: (N*N, A))."""
        policy = models.GaussianPolicy(BOX_OBS, BOX_ACT, state_dependent=state_dependent)
        policy.act({"states": states}, role="policy")
        torch.testing.assert_close(policy.get_log_std("policy"), gaussian_reference(policy, states)[1].log())

    def test_clamped_log_std_reaches_the_accessors(self, states):
        """clip_log_std clamps before get_log_std and distribution().stddev see it."""
        policy = models.GaussianPolicy(BOX_OBS, BOX_ACT, min_log_std=-1.0, max_log_std=0.5)
        with torch.no_grad():
            policy.log_std.copy_(torch.tensor([-5.0, 0.0, 5.0]))
        policy.act({"states": states}, role="policy")
        torch.testing.assert_close(policy.get_log_std("policy"), torch.tensor([-1.0, 0.0, 0.5]).expand(N, 3))
        torch.testing.assert_close(policy.distribution("policy").stddev[0], torch.tensor([-1.0, 0.0, 0.5]).exp())

    def test_sampled_log_prob_gradient_matches_torch_normal(self, states):
        """The log-prob of rsampled actions has the same gradient as torch's Normal.log_prob(rsample)."""
        policy = models.GaussianPolicy(BOX_OBS, BOX_ACT)
        torch.manual_seed(3)
        ours = torch.autograd.grad(policy.act({"states": states})[1].sum(), policy.log_std)[0]
        torch.manual_seed(3)
        dist = Normal(*gaussian_reference(policy, states))
        theirs = torch.autograd.grad(dist.log_prob(dist.rsample()).sum(), policy.log_std)[0]
        torch.testing.assert_close(ours, theirs)

    def test_squashed_distribution_is_a_tanh_and_affine_transform_of_the_normal(self):
        """distribution() with squash=True gives act's log-prob and samples inside the Box."""
        low, high = np.float32([-2.0, 0.0]), np.float32([2.0, 1.0])
        model = models.SquashedPolicy(3, gymnasium.spaces.Box(low, high))
        taken = torch.tensor([[1.5, 0.2], [-1.9, 0.9]])
        log_prob = model.act({"states": torch.zeros(2, 3), "taken_actions": taken})[1]
        dist = model.distribution()
        assert isinstance(dist, TransformedDistribution)
        assert isinstance(dist.transforms[0], TanhTransform) and isinstance(dist.transforms[1], AffineTransform)
        torch.testing.assert_close(log_prob, dist.log_prob(taken).sum(-1, keepdim=True), atol=1e-4, rtol=1e-5)
        sample = dist.sample()
        assert (sample >= torch.tensor(low)).all() and (sample <= torch.tensor(high)).all()


class TestMultivariateGaussianAccessors:
    def test_distribution_scale_is_the_standard_deviation(self, states):
        """W#4: log_std = log 2 gives stddev 2 and covariance 4 I (skrl: 4 and 16 I)."""
        policy = models.MultivariateGaussianPolicy(BOX_OBS, BOX_ACT)
        taken = torch.randn(N, 3)
        log_prob = policy.act({"states": states, "taken_actions": taken})[1]
        dist = policy.distribution("policy")
        assert isinstance(dist, MultivariateNormal)
        torch.testing.assert_close(dist.stddev, torch.full((N, 3), 2.0))
        torch.testing.assert_close(dist.covariance_matrix[0], 4.0 * torch.eye(3))
        torch.testing.assert_close(log_prob, dist.log_prob(taken).unsqueeze(-1))
        torch.testing.assert_close(policy.get_log_std("policy"), torch.full((N, 3), math.log(2.0)))

    def test_log_prob_gradient_matches_torch_multivariate_normal(self, states):
        """d log_prob(taken) / d log_std equals the gradient through torch's MultivariateNormal."""
        policy = models.MultivariateGaussianPolicy(BOX_OBS, BOX_ACT)
        taken = torch.randn(N, 3)
        ours = torch.autograd.grad(policy.act({"states": states, "taken_actions": taken})[1].sum(), policy.log_std)[0]
        mean, std = gaussian_reference(policy, states)
        reference = MultivariateNormal(mean, scale_tril=torch.diag_embed(std))
        theirs = torch.autograd.grad(reference.log_prob(taken).sum(), policy.log_std)[0]
        torch.testing.assert_close(ours, theirs)


class TestBetaAccessors:
    def test_distribution_is_a_beta_moved_by_the_box_rescale_with_scipy_moments(self):
        """distribution() = TransformedDistribution(Beta, AffineTransform(low, high - low)): act's log-prob, and
        mean, stddev (logged by PPO) and entropy of scipy.stats.beta(loc, scale)."""
        from scipy import stats

        low, high = np.float32([-2.0, 0.0, 5.0]), np.float32([2.0, 1.0, 6.0])
        policy = models.BetaPolicy(4, gymnasium.spaces.Box(low, high), reduction="none")
        taken = torch.as_tensor(np.random.default_rng(0).uniform(low, high, (8, 3)), dtype=torch.float32)
        log_prob = policy.act({"states": torch.zeros(8, 4), "taken_actions": taken})[1]
        dist = policy.distribution()
        assert isinstance(dist, TransformedDistribution) and isinstance(dist.transforms[0], AffineTransform)
        torch.testing.assert_close(dist.log_prob(taken), log_prob)
        reference = stats.beta([2.0, 0.5, 5.0], [3.0, 0.7, 1.5], loc=low, scale=high - low)
        np.testing.assert_allclose(dist.mean[0].detach().numpy(), reference.mean(), rtol=1e-6)
        np.testing.assert_allclose(dist.stddev[0].detach().numpy(), reference.std(), rtol=1e-5)
        np.testing.assert_allclose(dist.entropy()[0].detach().numpy(), reference.entropy(), rtol=1e-5, atol=1e-5)


class TestCategoricalAccessors:
    def test_distribution_is_a_torch_categorical_with_the_softmax_probabilities(self, states):
        policy = models.CategoricalPolicy(BOX_OBS, gymnasium.spaces.Discrete(3))
        policy.act({"states": states}, role="policy")
        dist = policy.distribution("policy")
        assert isinstance(dist, Categorical)
        torch.testing.assert_close(dist.probs, torch.softmax(policy.logits(states), -1))

    def test_entropy_with_an_impossible_action_has_finite_gradients(self):
        """A -inf logit contributes 0 to the entropy and no NaN to its gradient (as torch's Categorical)."""
        policy = models.CategoricalPolicy(BOX_OBS, gymnasium.spaces.Discrete(3))
        logits = torch.tensor([[0.0, -float("inf"), 1.0]], requires_grad=True)
        policy.compute = lambda inputs, role: (logits, {})
        policy.act({"states": torch.zeros(1, 5)}, role="policy")
        entropy = policy.get_entropy("policy")
        entropy.sum().backward()
        reference = torch.tensor([[0.0, -float("inf"), 1.0]], requires_grad=True)
        Categorical(logits=reference).entropy().sum().backward()
        torch.testing.assert_close(entropy, Categorical(logits=reference).entropy())
        torch.testing.assert_close(logits.grad, reference.grad)


class TestMultiCategoricalAccessors:
    def test_composite_distribution_sample_log_prob_entropy_and_mode(self, states):
        """distribution() has len K; [k] is chunk k's torch Categorical; sample, log_prob, entropy and mode (N, K)."""
        policy = models.MultiCategoricalPolicy(BOX_OBS, gymnasium.spaces.MultiDiscrete(NVEC))
        policy.act({"states": states}, role="policy")
        dist = policy.distribution("policy")
        expected = [Categorical(logits=c) for c in torch.split(policy.logits(states), NVEC, -1)]
        assert isinstance(dist, MultiCategoricalDistribution) and len(dist) == len(dist.distributions) == 3
        for k, reference in enumerate(expected):
            assert isinstance(dist[k], Categorical) and dist[k] is dist.distributions[k]
            torch.testing.assert_close(dist[k].probs, reference.probs)
        sample = dist.sample()
        assert sample.shape == (N, 3) and ((sample >= 0) & (sample < torch.tensor(NVEC))).all()
        stack = lambda fn: torch.stack([fn(k, d) for k, d in enumerate(expected)], -1)  # noqa: E731
        torch.testing.assert_close(dist.log_prob(sample), stack(lambda k, d: d.log_prob(sample[:, k])))
        torch.testing.assert_close(dist.entropy(), stack(lambda k, d: d.entropy()))
        torch.testing.assert_close(dist.mode, stack(lambda k, d: d.probs.argmax(-1)))

    def test_a_discrete_space_is_a_single_component(self, states):
        """torch also accepts Discrete(5): actions (N, 1) in 0..4 (the JAX mixin requires MultiDiscrete)."""
        policy = models.MultiCategoricalPolicy(BOX_OBS, gymnasium.spaces.Discrete(5))
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 1) and ((actions >= 0) & (actions < 5)).all()
        expected = Categorical(logits=policy.logits(states)).log_prob(actions[:, 0]).unsqueeze(1)
        torch.testing.assert_close(log_prob, expected)

    def test_net_output_of_the_wrong_width_names_the_expected_width(self, states):
        """compute must return sum(nvec) columns: anything else is a ValueError naming both widths."""
        policy = models.MultiCategoricalPolicy(BOX_OBS, gymnasium.spaces.MultiDiscrete(NVEC))
        policy.compute = lambda inputs, role: (torch.zeros(N, 10), {})
        with pytest.raises(ValueError, match=r"sum\(nvec\) = 9.*got shape .*10"):
            policy.act({"states": states}, role="policy")


class TestCopiesAndGlobalState:
    @pytest.mark.parametrize(
        "model",
        [
            models.GaussianPolicy(BOX_OBS, BOX_ACT),
            models.MultivariateGaussianPolicy(BOX_OBS, BOX_ACT),
            models.MultiCategoricalPolicy(BOX_OBS, gymnasium.spaces.MultiDiscrete(NVEC)),
        ],
        ids=lambda m: type(m).__name__,
    )
    def test_deepcopy_after_act_has_no_last_distribution_and_acts(self, model, states):
        """TRPO deep-copies a policy that has acted: the copy works and carries no last distribution."""
        model.act({"states": states}, role="policy")
        clone = copy.deepcopy(model)
        assert clone.distribution("policy") is None and model.distribution("policy") is not None
        assert clone.act({"states": states}, role="policy")[0].shape[0] == N

    def test_no_global_distribution_state_is_changed(self, states):
        """Acting and building distributions leave torch.distributions' default argument validation alone."""
        before = torch.distributions.Distribution._validate_args
        for model in (models.GaussianPolicy(BOX_OBS, BOX_ACT), models.MultivariateGaussianPolicy(BOX_OBS, BOX_ACT)):
            model.act({"states": states}, role="policy")
            model.distribution("policy")
        assert torch.distributions.Distribution._validate_args == before

    def test_accessors_without_a_role_resolve_to_the_one_role_that_has_them(self, states):
        """get_log_std() and distribution() on Gaussian('policy') + Deterministic('value') are the policy's."""
        model = models.SharedActorCritic(5, gymnasium.spaces.Box(-1.0, 1.0, (3,)))
        model.act({"states": states}, role="policy")
        torch.testing.assert_close(model.get_log_std(), model.get_log_std("policy"))
        torch.testing.assert_close(model.distribution().mean, model.distribution("policy").mean)
