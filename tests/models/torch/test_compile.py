"""``act`` under ``torch.compile(..., fullgraph=True)``: every torch head traces without a graph break.

``fullgraph=True`` raises on the first graph break, so a call that returns is the check. The ``eager`` backend
replays the traced aten ops one by one (no code generation, fast on a small CPU), in the order eager ``act``
runs them: with the same seed it draws the same noise, so the compiled results must equal eager ``act``'s
exactly. One test compiles with the default backend (inductor). The CUDA-graph tests run only with a GPU.
"""

import gymnasium
import pytest
import torch

from mixrl.models.torch import DeterministicMixin, GaussianMixin, Model

from .models import (
    BetaPolicy,
    CategoricalPolicy,
    DeterministicPolicy,
    GaussianPolicy,
    MultiCategoricalPolicy,
    MultivariateGaussianPolicy,
    SharedActorCritic,
    SquashedPolicy,
)

BATCH = 5
BOX = gymnasium.spaces.Box(-1.0, 1.0, (2,))
MASK = torch.tensor([[True, False, True, True], [False, False, True, False]] * 2 + [[True] * 4])
MULTI_MASK = torch.tensor([[True, False, True, True], [False, True, True, False]] * 2 + [[True] * 4])  # 2 + 2

# name -> (model builder, extra inputs beside "states" (batch, 3))
HEADS = {
    "gaussian": (lambda: GaussianPolicy(3, BOX), {}),
    "gaussian_state_dependent": (lambda: GaussianPolicy(3, BOX, state_dependent=True), {}),
    "gaussian_clip": (lambda: GaussianPolicy(3, BOX, clip_actions=True), {}),
    "gaussian_squash": (lambda: SquashedPolicy(3, BOX), {}),
    "gaussian_reduction_none": (lambda: GaussianPolicy(3, BOX, reduction="none"), {}),
    "multivariate_gaussian": (lambda: MultivariateGaussianPolicy(3, BOX, clip_actions=True), {}),
    "beta": (lambda: BetaPolicy(3, gymnasium.spaces.Box(-1.0, 1.0, (3,))), {}),
    "categorical": (lambda: CategoricalPolicy(3, gymnasium.spaces.Discrete(4)), {}),
    "categorical_start": (lambda: CategoricalPolicy(3, gymnasium.spaces.Discrete(4, start=-2)), {}),
    "categorical_probabilities": (lambda: CategoricalPolicy(3, gymnasium.spaces.Discrete(4), probabilities=True), {}),
    "categorical_mask": (lambda: CategoricalPolicy(3, gymnasium.spaces.Discrete(4)), {"action_mask": MASK}),
    "multicategorical": (lambda: MultiCategoricalPolicy(3, gymnasium.spaces.MultiDiscrete([2, 3])), {}),
    "multicategorical_equal_start": (
        lambda: MultiCategoricalPolicy(3, gymnasium.spaces.MultiDiscrete([2, 2], start=[1, -1])),
        {},
    ),
    "multicategorical_mask": (
        lambda: MultiCategoricalPolicy(3, gymnasium.spaces.MultiDiscrete([2, 2])),
        {"action_mask": MULTI_MASK},
    ),
    "deterministic_clip": (lambda: DeterministicPolicy(3, BOX, clip_actions=True), {}),
}


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test traces from scratch (no recompilation limit carried over from another test's models)."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def compiled_act(model, role="", backend="eager"):
    """``torch.compile`` of a wrapper calling ``model.act(inputs, role)``, raising on any graph break."""

    def act(inputs):
        return model.act(inputs, role)

    return torch.compile(act, fullgraph=True, backend=backend)


def same_seed(function, inputs, seed=0):
    torch.manual_seed(seed)
    return function(inputs)


def assert_same_result(received, expected):
    (actions, log_prob, outputs), (expected_actions, expected_log_prob, expected_outputs) = received, expected
    torch.testing.assert_close(actions, expected_actions, rtol=0, atol=0)
    if expected_log_prob is None:
        assert log_prob is None
    else:
        torch.testing.assert_close(log_prob, expected_log_prob, rtol=0, atol=0, equal_nan=True)
    assert outputs.keys() == expected_outputs.keys()
    for key, value in expected_outputs.items():
        torch.testing.assert_close(outputs[key], value, rtol=0, atol=0, equal_nan=True)


def inputs_of(extra, taken_actions=None):
    inputs = {"states": torch.randn(BATCH, 3, generator=torch.Generator().manual_seed(1)), **extra}
    if taken_actions is not None:
        inputs["taken_actions"] = taken_actions
    return inputs


class TestFullGraph:
    @pytest.mark.parametrize("mode", ["train", "eval"])
    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_sampling_act_compiles_without_graph_break_and_equals_eager_act(self, name, mode):
        """A rollout call (no taken actions), in both modes: same actions, log-probs and outputs as eager."""
        build, extra = HEADS[name]
        model = build()
        model.set_mode(mode)
        inputs = inputs_of(extra)
        with torch.no_grad():
            expected = same_seed(lambda x: model.act(x), inputs)
            received = same_seed(compiled_act(model), inputs)
        assert_same_result(received, expected)

    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_update_act_with_taken_actions_compiles_and_its_gradient_equals_eager(self, name):
        """The update call (taken actions, grad mode): same log-prob and the same parameter gradients as eager."""
        build, extra = HEADS[name]
        model = build()
        with torch.no_grad():
            taken = model.act(inputs_of(extra))[0]
        inputs = inputs_of(extra, taken)

        def gradients(function):
            model.zero_grad(set_to_none=True)
            actions, log_prob, outputs = same_seed(function, inputs)
            loss = actions.float().sum() if log_prob is None else log_prob.nan_to_num(neginf=0.0).sum()
            loss.backward()
            return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

        expected = gradients(lambda x: model.act(x))
        received = gradients(compiled_act(model))
        assert received.keys() == expected.keys() and expected
        for key, value in expected.items():
            torch.testing.assert_close(received[key], value)

    def test_the_bound_method_compiles_directly(self):
        """``torch.compile(model.act, fullgraph=True)`` (no wrapper) traces too."""
        model = GaussianPolicy(3, BOX)
        inputs = inputs_of({})
        with torch.no_grad():
            expected = same_seed(model.act, inputs)
            received = same_seed(torch.compile(model.act, fullgraph=True, backend="eager"), inputs)
        assert_same_result(received, expected)

    def test_a_fully_masked_row_is_not_checked_while_compiled_and_has_a_nan_log_prob(self):
        """As under JAX's jit: the data-dependent check would break the graph; that row's log-prob is NaN."""
        model = CategoricalPolicy(3, gymnasium.spaces.Discrete(4))
        mask = MASK.clone()
        mask[1] = False
        with torch.no_grad():
            _, log_prob, _ = compiled_act(model)(inputs_of({"action_mask": mask}))
        assert torch.isnan(log_prob[1]).all()
        assert torch.isfinite(log_prob[[0, 2, 3, 4]]).all()
        with pytest.raises(ValueError, match="masks every action"):
            model.act(inputs_of({"action_mask": mask}))


class TestSharedModels:
    def test_both_roles_of_a_shared_model_compile_in_one_graph(self):
        """Gaussian "policy" and deterministic "value" heads routed by role, both calls in one compiled function."""
        model = SharedActorCritic(3, BOX, clip_actions=True)

        def both(inputs):
            return model.act(inputs, "policy"), model.act(inputs, "value")

        inputs = inputs_of({})
        with torch.no_grad():
            (expected_policy, expected_value) = same_seed(both, inputs)
            (policy, value) = same_seed(torch.compile(both, fullgraph=True, backend="eager"), inputs)
        assert_same_result(policy, expected_policy)
        assert_same_result(value, expected_value)

    def test_the_single_forward_pass_cache_is_bypassed_while_compiled(self):
        """``shared_cache``'s storage/version check is data-dependent: compiled, each pass runs the trunk."""

        class Cached(GaussianMixin, DeterministicMixin, Model):
            def __init__(self):
                Model.__init__(self, 3, BOX, "cpu")
                GaussianMixin.__init__(self, role="policy")
                DeterministicMixin.__init__(self, role="value")
                self.trunk = torch.nn.Linear(3, 8)
                self.mean = torch.nn.Linear(8, 2)
                self.value = torch.nn.Linear(8, 1)
                self.log_std = torch.nn.Parameter(torch.zeros(2))

            def compute(self, inputs, role):
                hidden = self.shared_cache(role, inputs["states"], self.trunk, producer="policy")
                if role == "policy":
                    return self.mean(hidden), self.log_std, {}
                return self.value(hidden), {}

        model = Cached()

        def both(inputs):
            return model.act(inputs, "policy"), model.act(inputs, "value")

        inputs = inputs_of({})
        with torch.no_grad():
            (expected_policy, expected_value) = same_seed(both, inputs)
            (policy, value) = same_seed(torch.compile(both, fullgraph=True, backend="eager"), inputs)
        assert_same_result(policy, expected_policy)
        assert_same_result(value, expected_value)
        assert model._mixrl_shared is None  # nothing traced was left behind for a later eager pass


class TestInductor:
    def test_gaussian_act_compiles_with_the_default_backend(self):
        """Inductor (generated C++ on CPU): sampled actions of the right shape, the eager log-prob of taken actions."""
        model = GaussianPolicy(3, BOX, clip_actions=True)
        taken = torch.rand(BATCH, 2) * 2 - 1
        inputs = inputs_of({}, taken)
        compiled = torch.compile(lambda x: model.act(x), fullgraph=True)
        with torch.no_grad():
            actions, log_prob, outputs = compiled(inputs)
            expected = model.act(inputs)
        assert actions.shape == (BATCH, 2) and (actions.abs() <= 1).all()
        torch.testing.assert_close(log_prob, expected[1])
        torch.testing.assert_close(outputs["mean_actions"], expected[2]["mean_actions"])


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
STOCHASTIC = ["gaussian", "gaussian_squash", "beta", "categorical", "multicategorical"]


def on_cuda(name):
    build, extra = HEADS[name]
    model = build().to("cuda")
    model.device = torch.device("cuda")
    inputs = inputs_of(extra)
    inputs = {key: value.to("cuda") for key, value in inputs.items()}
    inputs["states"] = inputs["states"].repeat(64, 1)  # many rows: two replays cannot agree by chance
    if "action_mask" in inputs:
        inputs["action_mask"] = inputs["action_mask"].repeat(64, 1)
    return model, inputs


@cuda
class TestCudaGraphs:
    @pytest.mark.parametrize("name", STOCHASTIC)
    def test_two_replays_of_a_captured_act_draw_different_samples(self, name):
        """The noise is drawn by torch's RNG inside the graph (no tensor cached on the model): fresh every replay."""
        model, inputs = on_cuda(name)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(3):  # warm-up outside the capture, as torch.cuda.graphs requires
                model.act(inputs)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            actions, _, _ = model.act(inputs)
        graph.replay()
        first = actions.clone()
        graph.replay()
        second = actions.clone()
        assert not torch.equal(first, second)

    @pytest.mark.parametrize("name", ["gaussian", "categorical"])
    def test_two_calls_of_a_reduce_overhead_compiled_act_draw_different_samples(self, name):
        """``torch.compile(mode="reduce-overhead")`` replays a CUDA graph from the third call on: still fresh noise."""
        model, inputs = on_cuda(name)
        compiled = torch.compile(lambda x: model.act(x), mode="reduce-overhead", fullgraph=True)
        with torch.no_grad():
            samples = []
            for _ in range(5):
                samples.append(compiled(inputs)[0].clone())
                torch.compiler.cudagraph_mark_step_begin()
        assert not torch.equal(samples[-2], samples[-1])
        assert not torch.equal(samples[-3], samples[-1])
