"""Model cases of ``act_latency.py``: each builds a hand-written floor, the mixrl model and (optionally) skrl's.

A :class:`Case` says how to build every contender of one model with identical weights and how to make
its inputs; :data:`CASES` is the registry that ``act_latency.py --cases`` selects from. Every contender
needs ``act(inputs, role) -> (actions, log_prob, outputs)``, ``get_entropy(role)`` and
``zero_grad(set_to_none=True)`` (any ``nn.Module``).

Cases:

* ``gaussian``: MLP 17-256-256-6, diagonal Gaussian with a clamped state-independent log-std;
* ``categorical``: MLP 4-64-64-2, categorical over logits;
* ``multicategorical``: MLP 8-64-64-12, one categorical per component of ``MultiDiscrete([3, 4, 5])``;
* ``multivariate_gaussian``: MLP 17-256-256-6, multivariate normal with diagonal covariance;
* ``shared_ppo``: a policy and a value head on one trunk (17-256-256), called PPO-style (policy, then
  value on the same states); contenders ``floor``, ``mixrl`` (trunk cached between the two passes)
  and ``mixrl_two_pass`` (the same model recomputing the trunk for the value pass).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium
import torch
from torch import nn

try:
    import mixrl  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixrl.models.torch import (  # noqa: E402
    CategoricalMixin,
    DeterministicMixin,
    GaussianMixin,
    Model,
    MultiCategoricalMixin,
    MultivariateGaussianMixin,
)

try:
    import skrl
    from skrl.models.torch import CategoricalMixin as SkrlCategoricalMixin
    from skrl.models.torch import GaussianMixin as SkrlGaussianMixin
    from skrl.models.torch import Model as SkrlModel
    from skrl.models.torch import MultiCategoricalMixin as SkrlMultiCategoricalMixin
except ImportError:
    skrl = None

SKRL_VERSION: str | None = skrl.__version__ if skrl is not None else None

Inputs = dict[str, torch.Tensor]
Builder = Callable[[nn.Module], nn.Module]
HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
LOG_STD_BOUNDS = (-20.0, 2.0)
# settings shared by every Gaussian mixin of the cases (mixrl and skrl spell them the same)
GAUSSIAN_SETTINGS = {
    "clip_actions": False,
    "clip_log_std": True,
    "min_log_std": LOG_STD_BOUNDS[0],
    "max_log_std": LOG_STD_BOUNDS[1],
}


@dataclass(frozen=True)
class Case:
    """One model to benchmark: how to build each contender and its inputs.

    Attributes:
        name: row label and ``--cases`` key.
        build_mixrl: builds the mixrl model (its weights are the reference).
        build_floor: builds the hand-written floor from the mixrl model (copies its weights).
        build_skrl: builds the skrl model from the mixrl model (copies its weights); ``None`` if there is none.
        make_inputs: ``(batch, generator) -> {"states": ..., "taken_actions": ...}``.
        build_extra: further contenders, ``name -> builder`` from the mixrl model (copies its weights);
            each gets its own ``name / floor`` column.
        pairs: ``(a, b)`` contender pairs whose paired ratio ``t_a / t_b`` is reported too (column ``a / b``).
    """

    name: str
    build_mixrl: Callable[[], nn.Module]
    build_floor: Builder
    build_skrl: Builder | None
    make_inputs: Callable[[int, torch.Generator], Inputs]
    build_extra: dict[str, Builder] = field(default_factory=dict)
    pairs: tuple[tuple[str, str], ...] = ()


def copy_weights(target: nn.Module, source: nn.Module) -> nn.Module:
    """Load ``source``'s state dict into ``target`` (same parameter names) and return ``target``."""
    target.load_state_dict(source.state_dict())
    return target


def mlp(sizes: tuple[int, ...], activate_last: bool = False, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear`` layers of ``sizes`` with ``activation`` (ReLU) between them (and after the last one if
    ``activate_last``)."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if activate_last or index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def box(size: int, bound: float = math.inf) -> gymnasium.spaces.Box:
    """A Box space ``[-bound, bound]^size``."""
    return gymnasium.spaces.Box(-bound, bound, (size,))


def diagonal_gaussian(
    mean: torch.Tensor, log_std_parameter: torch.Tensor, taken: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-written diagonal Gaussian step: ``(actions, log_prob (batch, 1), clamped log_std)``.

    Draws a reparameterised sample and returns the log-density, summed over actions, of it (or of
    ``taken`` when given).
    """
    log_std = log_std_parameter.clamp(*LOG_STD_BOUNDS)
    std = log_std.exp()
    actions = mean + std * torch.randn_like(mean)
    x = actions if taken is None else taken
    log_prob = (-0.5 * ((x - mean) / std) ** 2 - log_std - HALF_LOG_TWO_PI).sum(-1, keepdim=True)
    return actions, log_prob, log_std


# ---------------------------------------------------------------------- Gaussian

GAUSSIAN_OBS, GAUSSIAN_ACT = 17, 6


def gaussian_net() -> nn.Sequential:
    """MLP 17-256-256-6 with ReLU: the mean-action network of the Gaussian cases."""
    return mlp((GAUSSIAN_OBS, 256, 256, GAUSSIAN_ACT))


def gaussian_policy(model_cls: type, mixin_cls: type, **mixin_kwargs: object) -> nn.Module:
    """A Gaussian-like policy (``compute`` returns mean and state-independent log-std) for any framework.

    Args:
        model_cls: the framework's ``Model`` (mixrl or skrl).
        mixin_cls: ``GaussianMixin`` or ``MultivariateGaussianMixin`` of that framework.
        mixin_kwargs: passed to the mixin after :data:`GAUSSIAN_SETTINGS`.
    """

    class GaussianPolicy(mixin_cls, model_cls):
        def __init__(self) -> None:
            model_cls.__init__(self, box(GAUSSIAN_OBS), box(GAUSSIAN_ACT, 1.0), device="cpu")
            mixin_cls.__init__(self, **GAUSSIAN_SETTINGS, **mixin_kwargs)
            self.net = gaussian_net()
            self.log_std_parameter = nn.Parameter(torch.zeros(GAUSSIAN_ACT))

        def compute(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
            return self.net(inputs["states"]), self.log_std_parameter, {}

    return GaussianPolicy()


class GaussianFloor(nn.Module):
    """Hand-written diagonal Gaussian policy with a clamped state-independent log-std, reduction sum."""

    def __init__(self) -> None:
        super().__init__()
        self.net = gaussian_net()
        self.log_std_parameter = nn.Parameter(torch.zeros(GAUSSIAN_ACT))
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Reparameterised sample and the log-density of it (or of ``inputs["taken_actions"]``)."""
        mean = self.net(inputs["states"])
        actions, log_prob, log_std = diagonal_gaussian(mean, self.log_std_parameter, inputs.get("taken_actions"))
        self._last = (mean, log_std)
        return actions, log_prob, {"mean_actions": mean}

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Element-wise entropy (batch, A) of the last distribution."""
        mean, log_std = self._last
        return (0.5 + HALF_LOG_TWO_PI + log_std).expand_as(mean)


def gaussian_inputs(batch: int, generator: torch.Generator) -> Inputs:
    """Random states (batch, 17) and taken actions (batch, 6)."""
    states = torch.randn(batch, GAUSSIAN_OBS, generator=generator)
    return {"states": states, "taken_actions": torch.randn(batch, GAUSSIAN_ACT, generator=generator)}


GAUSSIAN = Case(
    name="gaussian",
    build_mixrl=lambda: gaussian_policy(Model, GaussianMixin, reduction="sum"),
    build_floor=lambda reference: copy_weights(GaussianFloor(), reference),
    build_skrl=lambda reference: copy_weights(
        gaussian_policy(SkrlModel, SkrlGaussianMixin, reduction="sum"), reference
    ),
    make_inputs=gaussian_inputs,
)


# ---------------------------------------------------------------------- Categorical

CATEGORICAL_OBS, CATEGORICAL_N = 4, 2


def categorical_net() -> nn.Sequential:
    """MLP 4-64-64-2 with ReLU producing logits."""
    return mlp((CATEGORICAL_OBS, 64, 64, CATEGORICAL_N))


def categorical_policy(model_cls: type, mixin_cls: type) -> nn.Module:
    """The categorical policy written against a framework's ``Model`` and ``CategoricalMixin``."""

    class CategoricalPolicy(mixin_cls, model_cls):
        def __init__(self) -> None:
            model_cls.__init__(self, box(CATEGORICAL_OBS), gymnasium.spaces.Discrete(CATEGORICAL_N), device="cpu")
            mixin_cls.__init__(self, unnormalized_log_prob=True)
            self.net = categorical_net()

        def compute(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, dict]:
            return self.net(inputs["states"]), {}

    return CategoricalPolicy()


class CategoricalFloor(nn.Module):
    """Hand-written categorical policy over logits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = categorical_net()
        self._last: torch.Tensor | None = None

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One sample per row and its log-probability (or that of ``inputs["taken_actions"]``)."""
        logits = self.net(inputs["states"])
        logp_all = torch.log_softmax(logits, -1)
        actions = torch.multinomial(logp_all.exp(), 1)
        taken = inputs.get("taken_actions")
        log_prob = logp_all.gather(-1, actions if taken is None else taken)
        self._last = logp_all
        return actions, log_prob, {"net_output": logits}

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy (batch,) of the last distribution."""
        logp_all = self._last
        return -(logp_all.exp() * logp_all).sum(-1)


def categorical_inputs(batch: int, generator: torch.Generator) -> Inputs:
    """Random states (batch, 4) and taken actions (batch, 1) int64."""
    states = torch.randn(batch, CATEGORICAL_OBS, generator=generator)
    return {"states": states, "taken_actions": torch.randint(0, CATEGORICAL_N, (batch, 1), generator=generator)}


CATEGORICAL = Case(
    name="categorical",
    build_mixrl=lambda: categorical_policy(Model, CategoricalMixin),
    build_floor=lambda reference: copy_weights(CategoricalFloor(), reference),
    build_skrl=lambda reference: copy_weights(categorical_policy(SkrlModel, SkrlCategoricalMixin), reference),
    make_inputs=categorical_inputs,
)


# ---------------------------------------------------------------------- MultiCategorical

MULTICATEGORICAL_OBS, MULTICATEGORICAL_NVEC = 8, (3, 4, 5)


def multicategorical_net() -> nn.Sequential:
    """MLP 8-64-64-12 with ReLU producing the 3 + 4 + 5 logits."""
    return mlp((MULTICATEGORICAL_OBS, 64, 64, sum(MULTICATEGORICAL_NVEC)))


def multicategorical_policy(model_cls: type, mixin_cls: type) -> nn.Module:
    """The multi-categorical policy written against a framework's ``Model`` and ``MultiCategoricalMixin``."""

    class MultiCategoricalPolicy(mixin_cls, model_cls):
        def __init__(self) -> None:
            action_space = gymnasium.spaces.MultiDiscrete(list(MULTICATEGORICAL_NVEC))
            model_cls.__init__(self, box(MULTICATEGORICAL_OBS), action_space, device="cpu")
            mixin_cls.__init__(self, unnormalized_log_prob=True, reduction="sum")
            self.net = multicategorical_net()

        def compute(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, dict]:
            return self.net(inputs["states"]), {}

    return MultiCategoricalPolicy()


class MultiCategoricalFloor(nn.Module):
    """Hand-written multi-categorical policy: one categorical over logits per component, log-probs summed."""

    def __init__(self) -> None:
        super().__init__()
        self.net = multicategorical_net()
        self._last: list[torch.Tensor] | None = None

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One sample per component (batch, 3) and the summed log-probability (batch, 1) of it or of the taken one."""
        logits = self.net(inputs["states"])
        logp_all = [torch.log_softmax(chunk, -1) for chunk in logits.split(MULTICATEGORICAL_NVEC, -1)]
        actions = torch.cat([torch.multinomial(logp.exp(), 1) for logp in logp_all], -1)
        taken = inputs.get("taken_actions")
        index = actions if taken is None else taken
        log_prob = torch.cat([logp.gather(-1, index[:, k : k + 1]) for k, logp in enumerate(logp_all)], -1)
        self._last = logp_all
        return actions, log_prob.sum(-1, keepdim=True), {"net_output": logits}

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy (batch, 1) of the last distribution: the components' entropies summed."""
        return -torch.cat([(logp.exp() * logp).sum(-1, keepdim=True) for logp in self._last], -1).sum(-1, keepdim=True)


def multicategorical_inputs(batch: int, generator: torch.Generator) -> Inputs:
    """Random states (batch, 8) and taken actions (batch, 3) int64, component k in ``[0, nvec[k])``."""
    states = torch.randn(batch, MULTICATEGORICAL_OBS, generator=generator)
    taken = [torch.randint(0, n, (batch,), generator=generator) for n in MULTICATEGORICAL_NVEC]
    return {"states": states, "taken_actions": torch.stack(taken, -1)}


MULTICATEGORICAL = Case(
    name="multicategorical",
    build_mixrl=lambda: multicategorical_policy(Model, MultiCategoricalMixin),
    build_floor=lambda reference: copy_weights(MultiCategoricalFloor(), reference),
    build_skrl=lambda reference: copy_weights(multicategorical_policy(SkrlModel, SkrlMultiCategoricalMixin), reference),
    make_inputs=multicategorical_inputs,
)


# ---------------------------------------------------------------------- MultivariateGaussian


class MultivariateGaussianFloor(GaussianFloor):
    """Hand-written multivariate normal with diagonal covariance: the Gaussian floor with a summed entropy."""

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy (batch,) of the last distribution: the per-dimension entropies summed."""
        mean, log_std = self._last
        return (0.5 + HALF_LOG_TWO_PI + log_std).sum(-1).expand(mean.shape[:-1])


MULTIVARIATE_GAUSSIAN = Case(
    name="multivariate_gaussian",
    build_mixrl=lambda: gaussian_policy(Model, MultivariateGaussianMixin),
    build_floor=lambda reference: copy_weights(MultivariateGaussianFloor(), reference),
    # No skrl contender: skrl 1.x's MultivariateGaussianMixin passes the variance diag(exp(log_std) ** 2) as
    # scale_tril (the Cholesky factor, i.e. the standard deviation), a known skrl bug, so its log-probabilities
    # and entropies belong to another distribution and would fail the equivalence check against the floor.
    build_skrl=None,
    make_inputs=gaussian_inputs,
)


# ---------------------------------------------------------------------- shared policy + value (PPO)


def shared_trunk() -> nn.Sequential:
    """MLP 17-256-256 with ReLU after both layers: the trunk shared by the policy and value heads."""
    return mlp((GAUSSIAN_OBS, 256, 256), activate_last=True)


class SharedActorCritic(GaussianMixin, DeterministicMixin, Model):
    """mixrl shared model: Gaussian role ``"policy"`` and deterministic role ``"value"`` on one trunk.

    Args:
        single_forward_pass: reuse the policy pass's trunk output in the value pass on the same states
            (``Model.shared_cache``); ``False`` recomputes the trunk for the value pass.
    """

    def __init__(self, single_forward_pass: bool = True) -> None:
        Model.__init__(self, box(GAUSSIAN_OBS), box(GAUSSIAN_ACT, 1.0), device="cpu")
        GaussianMixin.__init__(self, **GAUSSIAN_SETTINGS, reduction="sum", role="policy")
        DeterministicMixin.__init__(self, clip_actions=False, role="value")
        self.trunk = shared_trunk()
        self.mean_head = nn.Linear(256, GAUSSIAN_ACT)
        self.value_head = nn.Linear(256, 1)
        self.log_std_parameter = nn.Parameter(torch.zeros(GAUSSIAN_ACT))
        self.single_forward_pass = single_forward_pass

    def compute(self, inputs: Inputs, role: str = "") -> tuple:
        states = inputs["states"]
        if self.single_forward_pass:
            hidden = self.shared_cache(role, states, self.trunk, producer="policy")
        else:
            hidden = self.trunk(states)
        if role == "policy":
            return self.mean_head(hidden), self.log_std_parameter, {}
        return self.value_head(hidden), {}


class PolicyThenValue(nn.Module):
    """Calls a shared model the PPO way: ``act`` runs the policy role, then the value role on the same states.

    ``act(inputs, role)`` (``role`` is ignored) calls ``model.act(inputs, role="policy")``, then
    ``model.act({"states": inputs["states"]}, role="value")`` (the same states tensor object, as a PPO
    rollout or update step does), and returns ``(actions, log_prob - 0.5 * values.square(), outputs)``.

    Folding the values into the returned log-prob is a benchmark trick: the harness's generic update
    step (``loss = -log_prob.mean() - 0.01 * entropy.mean()``) then also minimises ``0.5 * values**2``
    (a value loss towards a zero target), so ``backward`` goes through both heads and the trunk, and
    the equivalence check compares the values too. ``get_entropy`` is the policy's entropy.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        actions, log_prob, outputs = self.model.act(inputs, role="policy")
        values, _, _ = self.model.act({"states": inputs["states"]}, role="value")
        return actions, log_prob - 0.5 * values.square(), outputs

    def get_entropy(self, role: str = "") -> torch.Tensor:
        return self.model.get_entropy("policy")


class SharedFloor(nn.Module):
    """Hand-written shared policy + value: the trunk once, both heads, Gaussian math (see :class:`PolicyThenValue`)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = shared_trunk()
        self.mean_head = nn.Linear(256, GAUSSIAN_ACT)
        self.value_head = nn.Linear(256, 1)
        self.log_std_parameter = nn.Parameter(torch.zeros(GAUSSIAN_ACT))
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Policy sample, ``log_prob - 0.5 * values**2`` (batch, 1) and the mean actions."""
        hidden = self.trunk(inputs["states"])
        mean = self.mean_head(hidden)
        actions, log_prob, log_std = diagonal_gaussian(mean, self.log_std_parameter, inputs.get("taken_actions"))
        values = self.value_head(hidden)
        self._last = (mean, log_std)
        return actions, log_prob - 0.5 * values.square(), {"mean_actions": mean}

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Element-wise policy entropy (batch, A) of the last call."""
        mean, log_std = self._last
        return (0.5 + HALF_LOG_TWO_PI + log_std).expand_as(mean)


SHARED_PPO = Case(
    name="shared_ppo",
    build_mixrl=lambda: PolicyThenValue(SharedActorCritic(single_forward_pass=True)),
    build_floor=lambda reference: copy_weights(SharedFloor(), reference.model),
    build_skrl=None,  # skrl's shared-model pattern has no cache to compare against; mixrl_two_pass is the baseline
    make_inputs=gaussian_inputs,
    build_extra={
        "mixrl_two_pass": lambda reference: copy_weights(
            PolicyThenValue(SharedActorCritic(single_forward_pass=False)), reference
        )
    },
    pairs=(("mixrl", "mixrl_two_pass"),),
)

CASES: dict[str, Case] = {
    case.name: case for case in (GAUSSIAN, CATEGORICAL, MULTICATEGORICAL, MULTIVARIATE_GAUSSIAN, SHARED_PPO)
}
