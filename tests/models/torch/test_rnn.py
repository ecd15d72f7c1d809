import gymnasium
import pytest
import torch
from torch import nn

from mixrl.models.torch import GaussianMixin, Model
from mixrl.models.torch.rnn import rnn_specification, sequence_forward, state_shapes

F, H, LAYERS = 5, 8, 2
NUM_ENVS, B, L = 6, 4, 7
KINDS = ["rnn", "gru", "lstm", "lstm_proj"]
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")


def make_rnn(kind: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    options = {"input_size": F, "hidden_size": H, "num_layers": LAYERS, "batch_first": True, **kwargs}
    if kind == "lstm_proj":
        return nn.LSTM(proj_size=3, **options)
    return {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind](**options)


def random_states(rnn: nn.Module, rows: int, requires_grad: bool = False) -> list[torch.Tensor]:
    """States as in ``inputs["rnn"]``: random values, so a missed reset or a wrong row shows up."""
    return [torch.randn(shape, requires_grad=requires_grad) for shape in state_shapes(rnn, rows)]


def reference_loop(rnn, x, states, terminated, length):
    """Naive oracle: one module call per step; zero a sequence's state right after a step where it terminated."""
    batch = x.shape[0] // length
    sequences = x.view(batch, length, -1)
    hx = [s.view(s.shape[0], batch, length, s.shape[-1])[:, :, 0] for s in states]
    done = terminated.view(batch, length)
    outs = []
    for t in range(length):
        if isinstance(rnn, nn.LSTM):
            out, (h, c) = rnn(sequences[:, t : t + 1], (hx[0], hx[1]))
            hx = [h, c]
        else:
            out, h = rnn(sequences[:, t : t + 1], hx[0])
            hx = [h]
        outs.append(out)
        hx = [torch.where(done[:, t].view(1, batch, 1), torch.zeros_like(h), h) for h in hx]
    out = torch.cat(outs, dim=1)
    return out.reshape(batch * length, out.shape[-1]), hx


def pattern(name: str) -> torch.Tensor:
    """(B*L, 1) bool termination masks; time-major rows per sequence."""
    done = torch.zeros(B, L, dtype=torch.bool)
    if name == "one":
        done[1, 3] = True
    elif name == "several":
        done[0, 1] = done[2, 1] = done[3, 4] = done[1, 5] = True
    elif name == "first_step":
        done[2, 0] = True
    elif name == "last_step":
        done[0, L - 1] = done[3, L - 1] = True
    elif name == "all":
        done[:] = True
    elif name == "random":
        done = torch.rand(B, L, generator=torch.Generator().manual_seed(3)) < 0.3
    return done.reshape(B * L, 1)


PATTERNS = ["none", "one", "several", "first_step", "last_step", "all", "random"]


class RecurrentPolicy(GaussianMixin, Model):
    """The documented recurrent pattern: a GRU or LSTM trunk, a linear mean head, a state-independent log-std."""

    def __init__(self, kind: str, num_envs: int = NUM_ENVS, sequence_length: int = L):
        Model.__init__(self, gymnasium.spaces.Box(-1, 1, (F,)), gymnasium.spaces.Box(-1, 1, (2,)), "cpu")
        GaussianMixin.__init__(self)
        self.num_envs, self.sequence_length = num_envs, sequence_length
        self.rnn = make_rnn(kind)
        self.head = nn.Linear(state_shapes(self.rnn, 1)[0][-1], self.num_actions)
        self.log_std = nn.Parameter(torch.zeros(self.num_actions))

    def get_specification(self):
        return rnn_specification(self.rnn, self.num_envs, self.sequence_length)

    def compute(self, inputs, role):
        out, states = sequence_forward(
            self.rnn,
            inputs["states"],
            inputs["rnn"],
            terminated=inputs.get("terminated"),
            sequence_length=self.sequence_length,
            training=self.training,
        )
        return self.head(out), self.log_std, {"rnn": states}


class TestSpecification:
    def test_gru_has_one_size_layers_by_envs_by_hidden(self):
        """GRU: one state (num_layers, num_envs, hidden_size)."""
        spec = rnn_specification(make_rnn("gru"), NUM_ENVS, L)
        assert spec == {"rnn": {"sequence_length": L, "sizes": [(LAYERS, NUM_ENVS, H)]}}

    def test_lstm_has_hidden_and_cell_sizes_and_projection_shrinks_hidden(self):
        """LSTM: [h, c]; with proj_size, h has proj_size features and c keeps hidden_size."""
        assert rnn_specification(make_rnn("lstm"), 3, 1)["rnn"]["sizes"] == [(LAYERS, 3, H), (LAYERS, 3, H)]
        assert rnn_specification(make_rnn("lstm_proj"), 3, 1)["rnn"]["sizes"] == [(LAYERS, 3, 3), (LAYERS, 3, H)]

    def test_bidirectional_doubles_the_first_dimension(self):
        """D = 2 for a bidirectional module: (2 * num_layers, num_envs, H)."""
        assert state_shapes(make_rnn("gru", bidirectional=True), 3) == [(2 * LAYERS, 3, H)]

    @pytest.mark.parametrize("module", [nn.Linear(2, 2), nn.RNNCell(2, 2)])
    def test_other_modules_are_rejected_by_name(self, module):
        """Only RNN, GRU and LSTM modules have a specification."""
        with pytest.raises(ValueError, match=type(module).__name__):
            rnn_specification(module, 1, 1)

    @pytest.mark.parametrize("length", [0, 1.5, True])
    def test_invalid_sequence_length_is_rejected(self, length):
        """sequence_length is a positive int."""
        with pytest.raises(ValueError, match="sequence_length"):
            rnn_specification(make_rnn("gru"), 1, length)


class TestRollout:
    @pytest.mark.parametrize("kind", KINDS)
    def test_one_step_matches_a_module_call_on_a_length_one_sequence(self, kind):
        """out (num_envs, H_out) and final states equal rnn(x[:, None], states) and keep the input order."""
        rnn = make_rnn(kind)
        x, states = torch.randn(NUM_ENVS, F), random_states(rnn, NUM_ENVS)
        out, final = sequence_forward(rnn, x, states, sequence_length=L, training=False)
        expected_out, expected_final = reference_loop(rnn, x, states, torch.zeros(NUM_ENVS, 1, dtype=bool), 1)
        torch.testing.assert_close(out, expected_out)
        assert [tuple(s.shape) for s in final] == state_shapes(rnn, NUM_ENVS)
        for got, expected in zip(final, expected_final, strict=True):
            torch.testing.assert_close(got, expected)

    @pytest.mark.parametrize("kind", KINDS)
    def test_rollout_never_synchronises_with_the_device(self, kind, monkeypatch):
        """No .item(), .tolist(), .nonzero() or bool(tensor) on the rollout path."""
        rnn = make_rnn(kind)
        x, states = torch.randn(NUM_ENVS, F), random_states(rnn, NUM_ENVS)

        def forbidden(*args, **kwargs):
            raise AssertionError("host synchronisation in rollout")

        for name in ("item", "tolist", "nonzero", "__bool__"):
            monkeypatch.setattr(torch.Tensor, name, forbidden)
        monkeypatch.setattr(torch, "nonzero", forbidden)
        terminated = torch.ones(NUM_ENVS, 1, dtype=torch.bool)
        out, _ = sequence_forward(rnn, x, states, terminated=terminated, sequence_length=L, training=False)
        assert out.shape[0] == NUM_ENVS

    def test_missing_states_mean_zeros(self):
        """states=None behaves as torch's hx=None: zero initial states."""
        rnn = make_rnn("lstm")
        x = torch.randn(NUM_ENVS, F)
        out, _ = sequence_forward(rnn, x, None, sequence_length=L, training=False)
        zeros = [torch.zeros(shape) for shape in state_shapes(rnn, NUM_ENVS)]
        torch.testing.assert_close(out, sequence_forward(rnn, x, zeros, sequence_length=L, training=False)[0])


class TestTraining:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("name", PATTERNS)
    def test_outputs_and_final_states_equal_the_step_by_step_loop(self, kind, name):
        """Segmented execution with resets equals one call per step with explicit zeroing."""
        rnn = make_rnn(kind)
        x, states, terminated = torch.randn(B * L, F), random_states(rnn, B * L), pattern(name)
        out, final = sequence_forward(rnn, x, states, terminated=terminated, sequence_length=L, training=True)
        expected_out, expected_final = reference_loop(rnn, x, states, terminated, L)
        torch.testing.assert_close(out, expected_out)
        assert len(final) == len(states)
        for got, expected in zip(final, expected_final, strict=True):
            torch.testing.assert_close(got, expected)

    @pytest.mark.parametrize("kind", KINDS)
    def test_only_flagged_sequences_change(self, kind):
        """Sequences that never terminate give the same rows as a run without terminated; flagged ones differ."""
        rnn = make_rnn(kind)
        x, states, terminated = torch.randn(B * L, F), random_states(rnn, B * L), pattern("one")
        reset, _ = sequence_forward(rnn, x, states, terminated=terminated, sequence_length=L, training=True)
        plain, _ = sequence_forward(rnn, x, states, sequence_length=L, training=True)
        reset, plain = reset.view(B, L, -1), plain.view(B, L, -1)
        untouched = [0, 2, 3]  # pattern "one" flags sequence 1 at step 3
        torch.testing.assert_close(reset[untouched], plain[untouched])
        torch.testing.assert_close(reset[1, :4], plain[1, :4])
        assert not torch.allclose(reset[1, 4:], plain[1, 4:])

    def test_the_callers_states_and_inputs_are_left_unchanged(self):
        """Resets are out of place: inputs['rnn'] keeps its values (the agent and autograd may still need them)."""
        rnn = make_rnn("lstm")
        x, states = torch.randn(B * L, F), random_states(rnn, B * L)
        copies = [s.clone() for s in states]
        sequence_forward(rnn, x, states, terminated=pattern("all"), sequence_length=L, training=True)
        torch.testing.assert_close(states, copies)

    def test_only_step_zero_of_each_sequence_state_is_read(self):
        """The stored states at steps 1..L-1 do not change the result."""
        rnn = make_rnn("lstm")
        x, states = torch.randn(B * L, F), random_states(rnn, B * L)
        noisy = [s.view(LAYERS, B, L, -1).clone() for s in states]
        for s in noisy:
            s[:, :, 1:] = 1e3
        out, _ = sequence_forward(rnn, x, states, sequence_length=L, training=True)
        noisy_out, _ = sequence_forward(
            rnn, x, [s.view(LAYERS, B * L, -1) for s in noisy], sequence_length=L, training=True
        )
        torch.testing.assert_close(out, noisy_out)

    @pytest.mark.parametrize("name, calls", [("none", 1), ("last_step", 1), ("one", 2), ("several", 4), ("all", L)])
    def test_the_module_runs_once_per_segment_between_termination_steps(self, name, calls):
        """A step flagged in any sequence (except the last step) starts a new module call."""
        rnn = make_rnn("gru")
        count = []
        rnn.register_forward_hook(lambda *_: count.append(1))
        x, states = torch.randn(B * L, F), random_states(rnn, B * L)
        sequence_forward(rnn, x, states, terminated=pattern(name), sequence_length=L, training=True)
        assert len(count) == calls  # "several" flags steps 1, 4 and 5 -> segments [0,2) [2,5) [5,6) [6,7)

    def test_without_terminated_training_never_synchronises(self, monkeypatch):
        """No terminated mask means one full-sequence call and no host synchronisation."""
        rnn = make_rnn("gru")
        x, states = torch.randn(B * L, F), random_states(rnn, B * L)
        monkeypatch.setattr(torch.Tensor, "tolist", lambda *_: pytest.fail("host synchronisation"))
        out, final = sequence_forward(rnn, x, states, sequence_length=L, training=True)
        assert out.shape == (B * L, H) and final[0].shape == (LAYERS, B, H)


class TestGradients:
    @staticmethod
    def gradients(rnn, run, states):
        """Gradients of a loss on the outputs and final states w.r.t. the given states and the weights."""
        leaves = [s.detach().requires_grad_() for s in states]
        rnn.zero_grad()
        out, final = run(leaves)
        (out.square().sum() + sum(f.sum() for f in final)).backward()
        return [s.grad for s in leaves], [p.grad.clone() for p in rnn.parameters()]

    @pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
    def test_gradients_equal_the_step_by_step_loop(self, kind):
        """Backward (under anomaly detection) reaches the initial states and weights with the oracle's values."""
        rnn = make_rnn(kind)
        x, states, terminated = torch.randn(B * L, F), random_states(rnn, B * L), pattern("several")

        def helper(leaves):
            return sequence_forward(rnn, x, leaves, terminated=terminated, sequence_length=L, training=True)

        with torch.autograd.set_detect_anomaly(True):
            state_grads, weight_grads = self.gradients(rnn, helper, states)
        expected_state_grads, expected_weight_grads = self.gradients(
            rnn, lambda leaves: reference_loop(rnn, x, leaves, terminated, L), states
        )
        torch.testing.assert_close(state_grads, expected_state_grads)
        torch.testing.assert_close(weight_grads, expected_weight_grads)
        assert all(g.abs().sum() > 0 for g in weight_grads)

    def test_only_the_step_zero_states_receive_gradients(self):
        """The initial state of each sequence gets a gradient; the stored states at later steps get zeros."""
        rnn = make_rnn("lstm")
        x, states = torch.randn(B * L, F), random_states(rnn, B * L)

        def helper(leaves):
            return sequence_forward(rnn, x, leaves, terminated=pattern("one"), sequence_length=L, training=True)

        state_grads, _ = self.gradients(rnn, helper, states)
        for grad in state_grads:
            per_step = grad.view(LAYERS, B, L, -1)
            assert per_step[:, :, 0].abs().min() > 0
            assert per_step[:, :, 1:].abs().max() == 0


class TestPolicies:
    @pytest.mark.parametrize("kind", ["gru", "lstm", "lstm_proj"])
    def test_rollout_act_returns_states_shaped_as_the_specification(self, kind):
        """act in eval mode: actions (num_envs, A), log_prob (num_envs, 1), outputs['rnn'] shapes == sizes."""
        policy = RecurrentPolicy(kind).eval()
        sizes = policy.get_specification()["rnn"]["sizes"]
        inputs = {"states": torch.randn(NUM_ENVS, F), "rnn": [torch.zeros(size) for size in sizes]}
        actions, log_prob, outputs = policy.act(inputs, role="policy")
        assert actions.shape == (NUM_ENVS, 2) and log_prob.shape == (NUM_ENVS, 1)
        assert [tuple(s.shape) for s in outputs["rnn"]] == sizes

    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_training_act_means_come_from_the_reset_sequences(self, kind):
        """act in train mode on B*L rows: mean_actions equal the head applied to the oracle's outputs."""
        policy = RecurrentPolicy(kind).train()
        states = random_states(policy.rnn, B * L)
        inputs = {"states": torch.randn(B * L, F), "rnn": states, "terminated": pattern("several")}
        inputs["taken_actions"] = torch.randn(B * L, 2)
        _, log_prob, outputs = policy.act(inputs, role="policy")
        expected, _ = reference_loop(policy.rnn, inputs["states"], states, inputs["terminated"], L)
        torch.testing.assert_close(outputs["mean_actions"], policy.head(expected))
        assert log_prob.shape == (B * L, 1)
        assert [tuple(s.shape) for s in outputs["rnn"]] == state_shapes(policy.rnn, B)

    def test_init_state_dict_runs_a_recurrent_policy_with_sequence_length_above_one(self):
        """init_state_dict's sample inputs form one whole training sequence (B = 1, L rows)."""
        policy = RecurrentPolicy("lstm", sequence_length=L)
        policy.init_state_dict("policy")


class TestValidation:
    def run(self, rnn, x=None, states=None, rows=NUM_ENVS, **kwargs):
        x = torch.randn(rows, F) if x is None else x
        states = random_states(rnn, rows) if states is None else states
        return sequence_forward(rnn, x, states, **{"sequence_length": L, "training": False, **kwargs})

    def test_non_recurrent_module_is_named(self):
        """A Linear layer is not accepted and the message names it."""
        with pytest.raises(ValueError, match="got Linear"):
            sequence_forward(nn.Linear(F, H), torch.randn(2, F), [], sequence_length=1, training=False)

    def test_batch_first_false_is_rejected(self):
        """The helper feeds (batch, time, F): a time-major module would mix envs and steps."""
        with pytest.raises(ValueError, match="batch_first=True, got batch_first=False"):
            self.run(make_rnn("gru", batch_first=False))

    @pytest.mark.parametrize("training", [False, True])
    def test_bidirectional_modules_are_rejected(self, training):
        """A backward direction cannot be stepped causally: rejected in rollout and training alike."""
        rnn = make_rnn("gru", bidirectional=True)
        with pytest.raises(ValueError, match="bidirectional=False"):
            self.run(rnn, rows=B * L, training=training)

    def test_lstm_with_a_single_state_names_h_and_c(self):
        """An LSTM needs [h, c]: one state is refused, with expected and received shapes."""
        rnn = make_rnn("lstm")
        with pytest.raises(ValueError, match=r"\[h, c\] shaped \[\(2, 6, 8\), \(2, 6, 8\)\], got \[\(2, 6, 8\)\]"):
            self.run(rnn, states=random_states(rnn, NUM_ENVS)[:1])

    def test_gru_with_two_states_is_refused(self):
        """A GRU has one state."""
        rnn = make_rnn("gru")
        with pytest.raises(ValueError, match=r"\[h\] shaped"):
            self.run(rnn, states=random_states(rnn, NUM_ENVS) * 2)

    def test_state_rows_must_match_the_input_rows(self):
        """States for 5 envs with inputs for 6 envs are refused."""
        rnn = make_rnn("gru")
        with pytest.raises(ValueError, match=r"\[\(2, 6, 8\)\], got \[\(2, 5, 8\)\]"):
            self.run(rnn, states=random_states(rnn, 5))

    def test_feature_size_must_match_the_module(self):
        """Inputs with the wrong number of features are refused before the module call."""
        with pytest.raises(ValueError, match=r"\(batch, 5\).*got \(6, 4\)"):
            self.run(make_rnn("gru"), x=torch.randn(NUM_ENVS, 4))

    def test_training_rows_must_be_a_multiple_of_the_sequence_length(self):
        """B*L rows: 27 rows with L = 7 are refused."""
        with pytest.raises(ValueError, match="L = sequence_length = 7, got 27 rows"):
            self.run(make_rnn("gru"), rows=27, training=True)

    def test_terminated_must_have_one_flag_per_row(self):
        """terminated is (B*L, 1)."""
        rnn = make_rnn("gru")
        with pytest.raises(ValueError, match=r"\(28, 1\) bool, got \(27, 1\)"):
            self.run(rnn, rows=B * L, training=True, terminated=torch.zeros(27, 1, dtype=torch.bool))
