import copy
import math

import gymnasium
import pytest
import torch
from torch.distributions import Normal

from mixrl.models.torch import GaussianMixin, Model

from .conftest import GaussianPolicy

N = 32


@pytest.fixture
def states(box_obs):
    torch.manual_seed(0)
    return torch.randn(N, 5)


def reference(policy, states):
    """Mean and std the policy's network produces, computed outside the mixin."""
    hidden = policy.net(states)
    log_std = policy.log_std_head(hidden) if policy.state_dependent else policy.log_std.expand(N, -1)
    return policy.mean(hidden), log_std.clamp(-20, 2).exp()


class TestShapes:
    @pytest.mark.parametrize("reduction, width", [("sum", 1), ("mean", 1), ("prod", 1), ("none", 3)])
    def test_actions_log_prob_and_outputs_have_documented_shapes(self, box_obs, box_act, states, reduction, width):
        """actions (N, A), log_prob (N, 1) or (N, A) for 'none', outputs carry mean_actions (N, A)."""
        policy = GaussianPolicy(box_obs, box_act, reduction=reduction)
        actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        assert actions.shape == (N, 3)
        assert log_prob.shape == (N, width)
        assert outputs["mean_actions"].shape == (N, 3)

    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_entropy_and_log_std_are_batch_by_actions(self, box_obs, box_act, states, state_dependent):
        """get_entropy and get_log_std are (N, A) for state-independent and state-dependent log-std."""
        policy = GaussianPolicy(box_obs, box_act, state_dependent=state_dependent)
        policy.act({"states": states}, role="policy")
        assert policy.get_entropy("policy").shape == (N, 3)
        assert policy.get_log_std("policy").shape == (N, 3)

    def test_entropy_before_any_act_is_zero(self, box_obs, box_act):
        """Agents may log the entropy before the first act: it is the scalar 0.0."""
        policy = GaussianPolicy(box_obs, box_act)
        assert policy.get_entropy("policy").item() == 0.0
        assert policy.distribution("policy") is None

    def test_invalid_reduction_is_rejected(self, box_obs, box_act):
        """An unknown reduction names the allowed ones."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            GaussianPolicy(box_obs, box_act, reduction="max")


class TestMath:
    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_log_prob_of_taken_actions_matches_torch_normal(self, box_obs, box_act, states, state_dependent):
        """log_prob(taken_actions) equals torch.distributions.Normal(mean, std).log_prob summed over actions."""
        policy = GaussianPolicy(box_obs, box_act, state_dependent=state_dependent)
        taken = torch.randn(N, 3)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        mean, std = reference(policy, states)
        expected = Normal(mean, std).log_prob(taken).sum(-1, keepdim=True)
        torch.testing.assert_close(log_prob, expected)

    def test_log_prob_of_sampled_actions_matches_torch_normal(self, box_obs, box_act, states):
        """Without taken_actions the log-prob is that of the returned (sampled) actions."""
        policy = GaussianPolicy(box_obs, box_act)
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        mean, std = reference(policy, states)
        torch.testing.assert_close(log_prob, Normal(mean, std).log_prob(actions).sum(-1, keepdim=True))

    def test_log_prob_at_mean_is_minus_half_log_two_pi_minus_log_std_per_dimension(self, box_obs, box_act, states):
        """Closed form: log N(mu | mu, sigma) = -log sigma - log(2 pi) / 2 per dimension."""
        policy = GaussianPolicy(box_obs, box_act, reduction="none")
        mean, _ = reference(policy, states)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": mean}, role="policy")
        expected = torch.full((N, 3), 0.5 - 0.5 * math.log(2 * math.pi))  # log_std = -0.5
        torch.testing.assert_close(log_prob, expected)

    @pytest.mark.parametrize("reduction, reduce", [("mean", torch.mean), ("prod", torch.prod)])
    def test_mean_and_prod_reductions(self, box_obs, box_act, states, reduction, reduce):
        """'mean' and 'prod' reduce the per-dimension log-densities over the last axis."""
        policy = GaussianPolicy(box_obs, box_act, reduction=reduction)
        taken = torch.randn(N, 3)
        _, log_prob, _ = policy.act({"states": states, "taken_actions": taken}, role="policy")
        mean, std = reference(policy, states)
        torch.testing.assert_close(log_prob, reduce(Normal(mean, std).log_prob(taken), -1, keepdim=True))

    @pytest.mark.parametrize("state_dependent", [False, True])
    def test_entropy_matches_torch_normal(self, box_obs, box_act, states, state_dependent):
        """get_entropy equals Normal(mean, std).entropy() element-wise."""
        policy = GaussianPolicy(box_obs, box_act, state_dependent=state_dependent)
        policy.act({"states": states}, role="policy")
        mean, std = reference(policy, states)
        torch.testing.assert_close(policy.get_entropy("policy"), Normal(mean, std).entropy())

    def test_log_std_is_clamped_to_its_bounds(self, box_obs, box_act, states):
        """clip_log_std clamps to [min_log_std, max_log_std] before anything else."""
        policy = GaussianPolicy(box_obs, box_act, min_log_std=-1.0, max_log_std=0.5)
        with torch.no_grad():
            policy.log_std.copy_(torch.tensor([-5.0, 0.0, 5.0]))
        policy.act({"states": states}, role="policy")
        torch.testing.assert_close(policy.get_log_std("policy"), torch.tensor([-1.0, 0.0, 0.5]).expand(N, 3))
        torch.testing.assert_close(policy.distribution("policy").stddev[0], torch.tensor([-1.0, 0.0, 0.5]).exp())

    def test_sample_statistics_follow_mean_and_std(self, box_obs, box_act):
        """Monte-Carlo: 1e5 samples have the network's mean and std (within 2%)."""
        torch.manual_seed(1)
        policy = GaussianPolicy(box_obs, box_act)
        states = torch.zeros(100_000, 5)
        with torch.no_grad():
            actions, log_prob, outputs = policy.act({"states": states}, role="policy")
        torch.testing.assert_close(actions.mean(0), outputs["mean_actions"][0], atol=0.01, rtol=0)
        torch.testing.assert_close(actions.std(0), torch.full((3,), math.exp(-0.5)), atol=0.01, rtol=0)
        # entropy is minus the expected log-density
        entropy = policy.get_entropy("policy").sum(-1).mean()
        torch.testing.assert_close(-log_prob.mean(), entropy, atol=0.01, rtol=0)


class TestClippingAndGradients:
    def test_clipped_actions_stay_inside_each_dimension_of_the_box(self, box_obs, box_act, states):
        """clip_actions clamps per dimension to low=[-1, 0, 5], high=[1, 1, 6]."""
        policy = GaussianPolicy(box_obs, box_act, clip_actions=True)
        with torch.no_grad():
            policy.log_std.fill_(2.0)  # wide distribution: many samples fall outside
        actions, _, _ = policy.act({"states": states}, role="policy")
        assert (actions >= torch.tensor([-1.0, 0.0, 5.0])).all() and (actions <= torch.tensor([1.0, 1.0, 6.0])).all()

    def test_clipped_action_log_prob_uses_the_unclipped_gaussian(self, box_obs, box_act, states):
        """The documented semantics: density of the unclipped Gaussian at the clipped action."""
        policy = GaussianPolicy(box_obs, box_act, clip_actions=True)
        actions, log_prob, _ = policy.act({"states": states}, role="policy")
        mean, std = reference(policy, states)
        torch.testing.assert_close(log_prob, Normal(mean, std).log_prob(actions).sum(-1, keepdim=True))

    def test_clipping_needs_a_box_action_space(self, box_obs):
        """clip_actions=True with an int action space cannot read bounds: ValueError at construction."""
        with pytest.raises(ValueError, match="Box action space.*got int"):
            GaussianPolicy(box_obs, 3, clip_actions=True)

    def test_gradients_flow_through_reparameterised_actions(self, box_obs, box_act, states):
        """SAC relies on d(actions)/d(mean) and d(actions)/d(log_std)."""
        policy = GaussianPolicy(box_obs, box_act)
        actions, _, _ = policy.act({"states": states}, role="policy")
        assert actions.requires_grad
        actions.sum().backward()
        assert policy.mean.weight.grad.abs().sum() > 0
        assert policy.log_std.grad.abs().sum() > 0

    def test_sampled_log_prob_gradient_matches_torch_normal(self, box_obs, box_act, states):
        """The log-prob of rsampled actions has the same gradient as torch's Normal.log_prob(rsample)."""
        policy = GaussianPolicy(box_obs, box_act)
        torch.manual_seed(3)
        _, log_prob, _ = policy.act({"states": states}, role="policy")
        ours = torch.autograd.grad(log_prob.sum(), policy.log_std)[0]
        torch.manual_seed(3)
        mean, std = reference(policy, states)
        dist = Normal(mean, std)
        theirs = torch.autograd.grad(dist.log_prob(dist.rsample()).sum(), policy.log_std)[0]
        torch.testing.assert_close(ours, theirs)


class TwoRoles(GaussianMixin, Model):
    """Two Gaussian heads with different clip settings in one model."""

    def __init__(self):
        Model.__init__(self, 2, gymnasium.spaces.Box(-1.0, 1.0, (2,)), "cpu")
        GaussianMixin.__init__(self, clip_actions=True, role="clipped")
        GaussianMixin.__init__(self, clip_actions=False, role="free")
        self.log_std = torch.nn.Parameter(torch.zeros(2))

    def compute(self, inputs, role):
        return torch.full((inputs["states"].shape[0], 2), 50.0), self.log_std, {}


class TestRoles:
    def test_each_role_keeps_its_own_settings(self):
        """Registering a second role does not overwrite the first one's clip_actions."""
        model = TwoRoles()
        states = torch.zeros(8, 2)
        assert model.act({"states": states}, role="clipped")[0].max() <= 1.0
        assert model.act({"states": states}, role="free")[0].min() > 40.0

    def test_unknown_role_on_a_multi_role_model_is_an_error(self):
        """The error lists the registered roles."""
        with pytest.raises(ValueError, match="unknown role 'value'.*'clipped', 'free'"):
            TwoRoles().act({"states": torch.zeros(1, 2)}, role="value")

    def test_single_role_model_serves_any_role_name(self, box_obs, box_act, states):
        """A policy registered without role answers to 'policy' and 'target_policy' alike."""
        policy = GaussianPolicy(box_obs, box_act, reduction="none", role="policy")
        assert policy.act({"states": states}, role="target_policy")[1].shape == (N, 3)


class TestCompatibility:
    def test_no_global_distribution_state_is_changed(self, box_obs, box_act, states):
        """Importing and acting leaves torch.distributions' default argument validation alone."""
        before = torch.distributions.Distribution._validate_args
        GaussianPolicy(box_obs, box_act).act({"states": states}, role="policy")
        assert torch.distributions.Distribution._validate_args == before

    def test_deepcopy_after_act(self, box_obs, box_act, states):
        """TRPO deep-copies a policy that has acted: the copy works and has no last distribution."""
        policy = GaussianPolicy(box_obs, box_act)
        policy.act({"states": states}, role="policy")
        clone = copy.deepcopy(policy)
        assert clone.distribution("policy") is None
        assert clone.act({"states": states}, role="policy")[0].shape == (N, 3)
        assert policy.distribution("policy") is not None
