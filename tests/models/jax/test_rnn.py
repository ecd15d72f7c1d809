"""``sequence_forward`` for Flax cells: the rollout and training layouts of recurrent agents.

The oracle runs the Flax cells one step at a time in a Python loop (``cell.apply`` per layer and step)
and zeroes a sequence's state right after a step where it terminated; it never calls the code under test.
"""

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.models.jax import GaussianMixin, Model
from mixrl.models.jax.rnn import Recurrent, rnn_specification, sequence_forward, state_shapes

F, H, LAYERS = 3, 4, 2
NUM_ENVS, B, L = 3, 3, 5
CELLS = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "optimized_lstm": nn.OptimizedLSTMCell, "rnn": nn.SimpleCell}
TWO_STATES = ("lstm", "optimized_lstm")


class Stack(nn.Module):
    """``LAYERS`` cells of one kind (``cells_<l>``) run by ``sequence_forward``."""

    kind: str

    def setup(self):
        self.cells = [CELLS[self.kind](H) for _ in range(LAYERS)]

    def __call__(self, x, states, terminated=None, training=False):
        return sequence_forward(self.cells, x, states, terminated=terminated, sequence_length=L, training=training)


def close(got, expected):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


def random_states(kind: str, rows: int, seed: int = 1) -> list:
    """inputs["rnn"] with random values, so a missed reset or a wrong row shows up."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(LAYERS, rows, H)).astype(np.float32) for _ in range(2 if kind in TWO_STATES else 1)]


def random_inputs(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, F)).astype(np.float32)


def init(kind: str) -> tuple[Stack, dict]:
    stack = Stack(kind)
    return stack, stack.init(jax.random.PRNGKey(0), random_inputs(NUM_ENVS), None)


def naive_loop(kind, params, x, states, terminated, length):
    """Oracle: per step and layer one ``cell.apply``; zero a sequence's states right after it terminated."""
    cell = CELLS[kind](H, parent=None)
    batch = x.shape[0] // length
    sequences = np.asarray(x).reshape(batch, length, F)
    initial = [np.asarray(s).reshape(LAYERS, batch, length, H)[:, :, 0] for s in states]
    carry = [(initial[1][i], initial[0][i]) if kind in TWO_STATES else initial[0][i] for i in range(LAYERS)]
    done = np.asarray(terminated).reshape(batch, length)
    outs = []
    for t in range(length):
        y = sequences[:, t]
        for i in range(LAYERS):
            carry[i], y = cell.apply({"params": params["params"][f"cells_{i}"]}, carry[i], y)
        outs.append(y)
        keep = (~done[:, t])[:, None].astype(np.float32)
        carry = [jax.tree_util.tree_map(lambda s, k=keep: s * k, c) for c in carry]
    out = jnp.stack(outs, axis=1).reshape(batch * length, H)
    if kind in TWO_STATES:
        return out, [jnp.stack([h for _, h in carry]), jnp.stack([c for c, _ in carry])]
    return out, [jnp.stack(carry)]


def pattern(name: str) -> np.ndarray:
    """(B*L, 1) bool termination flags; rows of one sequence are consecutive."""
    done = np.zeros((B, L), bool)
    if name == "several":  # first step, consecutive steps, last step, and one sequence left alone
        done[0, 0] = done[0, 3] = done[2, 1] = done[2, 2] = done[2, L - 1] = True
    elif name == "one":
        done[1, 2] = True
    elif name == "all":
        done[:] = True
    return done.reshape(B * L, 1)


@pytest.fixture(scope="module", params=list(CELLS))
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def training_run(kind):
    """``(stack, params, run)``: ``run(x, states, terminated)`` is the jitted training call."""
    stack, params = init(kind)
    run = jax.jit(lambda x, states, terminated: stack.apply(params, x, states, terminated, training=True))
    return stack, params, run


class TestSpecification:
    def test_gru_stack_has_one_size_layers_by_envs_by_hidden(self):
        """GRU cells: one state (num_layers, num_envs, features)."""
        spec = rnn_specification([nn.GRUCell(H, parent=None)] * LAYERS, NUM_ENVS, L)
        assert spec == {"rnn": {"sequence_length": L, "sizes": [(LAYERS, NUM_ENVS, H)]}}

    def test_lstm_has_hidden_and_cell_sizes(self):
        """LSTM cells: [h, c], both (num_layers, num_envs, features); a single cell is one layer."""
        assert rnn_specification(nn.LSTMCell(H, parent=None), 7, 1)["rnn"]["sizes"] == [(1, 7, H), (1, 7, H)]

    def test_recurrent_module_has_the_sizes_of_its_cells(self):
        """Recurrent("lstm", H, LAYERS) is specified like LAYERS LSTM cells, without being bound."""
        module = Recurrent("lstm", H, LAYERS, parent=None)
        assert state_shapes(module, 5) == state_shapes([nn.LSTMCell(H, parent=None)] * LAYERS, 5) == [(2, 5, 4)] * 2

    @pytest.mark.parametrize("stacked", [False, True])
    def test_other_modules_are_rejected_by_name(self, stacked):
        """Only GRU, LSTM and simple-RNN cells have a specification, alone or stacked."""
        cells = [nn.GRUCell(H, parent=None), nn.Dense(H, parent=None)] if stacked else nn.Dense(H, parent=None)
        with pytest.raises(ValueError, match="got Dense"):
            rnn_specification(cells, 1, 1)

    def test_stacks_of_mixed_cells_are_rejected(self):
        """One state tensor per kind of state: the layers share one type and one size."""
        with pytest.raises(ValueError, match="share one type and features"):
            state_shapes([nn.GRUCell(H, parent=None), nn.GRUCell(H + 1, parent=None)], 1)

    @pytest.mark.parametrize("length", [0, 1.5, True])
    def test_invalid_sequence_length_is_rejected(self, length):
        """sequence_length is a positive int."""
        with pytest.raises(ValueError, match="sequence_length"):
            rnn_specification(nn.GRUCell(H, parent=None), 1, length)

    def test_unknown_recurrent_kind_is_named(self):
        """No silent fallback to another cell."""
        with pytest.raises(ValueError, match=r"unknown recurrent kind 'mgu': expected one of \['gru', 'lstm', 'rnn'\]"):
            Recurrent("mgu", H, parent=None)


class TestRollout:
    def test_one_step_equals_the_cells_called_once(self, kind):
        """out (num_envs, H) and final states equal one oracle step; shapes as state_shapes."""
        stack, params = init(kind)
        x, states = random_inputs(NUM_ENVS), random_states(kind, NUM_ENVS)
        out, final = stack.apply(params, x, states)
        expected_out, expected_final = naive_loop(kind, params, x, states, np.zeros((NUM_ENVS, 1), bool), 1)
        close(out, expected_out)
        assert [tuple(s.shape) for s in final] == [(LAYERS, NUM_ENVS, H)] * len(states)
        for got, expected in zip(final, expected_final, strict=True):
            close(got, expected)

    def test_terminated_is_ignored_and_missing_states_mean_zeros(self):
        """Rollout leaves resets to the agent; states=None equals zero states."""
        stack, params = init("lstm")
        x = random_inputs(NUM_ENVS)
        zeros = [np.zeros((LAYERS, NUM_ENVS, H), np.float32)] * 2
        out, final = stack.apply(params, x, zeros, np.ones((NUM_ENVS, 1), bool))
        none_out, none_final = stack.apply(params, x, None)
        close(out, none_out)
        close(final[1], none_final[1])
        assert np.abs(np.asarray(final[0])).min() > 0  # not reset after the step


class TestTraining:
    @pytest.mark.parametrize("name", ["one", "several", "all"])
    def test_outputs_and_final_states_equal_the_step_by_step_loop(self, kind, training_run, name):
        """Scanned cells with resets, under jax.jit, equal one cell call per step with explicit zeroing."""
        _, params, run = training_run
        x, states, terminated = random_inputs(B * L), random_states(kind, B * L), pattern(name)
        out, final = run(x, states, terminated)
        expected_out, expected_final = naive_loop(kind, params, x, states, terminated, L)
        close(out, expected_out)
        assert len(final) == len(states)
        for got, expected in zip(final, expected_final, strict=True):
            close(got, expected)

    def test_without_terminated_nothing_is_reset(self, kind, training_run):
        """terminated=None is the loop without any reset."""
        stack, params, _ = training_run
        x, states = random_inputs(B * L), random_states(kind, B * L)
        out, final = stack.apply(params, x, states, None, training=True)
        expected_out, expected_final = naive_loop(kind, params, x, states, pattern("none"), L)
        close(out, expected_out)
        close(final[0], expected_final[0])

    def test_only_flagged_sequences_change(self, training_run, kind):
        """Rows before the reset and other sequences equal a run without terminated; later rows differ."""
        stack, params, run = training_run
        x, states = random_inputs(B * L), random_states(kind, B * L)
        reset = np.asarray(run(x, states, pattern("one"))[0]).reshape(B, L, H)  # sequence 1 after step 2
        plain = np.asarray(run(x, states, pattern("none"))[0]).reshape(B, L, H)
        close(reset[[0, 2]], plain[[0, 2]])
        close(reset[1, :3], plain[1, :3])
        assert not np.allclose(reset[1, 3:], plain[1, 3:])

    def test_a_sequence_terminated_at_its_last_step_returns_zero_final_states(self, training_run, kind):
        """Pattern "several" ends sequence 2 with a termination: its final states are zeros, the others not."""
        _, _, run = training_run
        _, final = run(random_inputs(B * L), random_states(kind, B * L), pattern("several"))
        for state in final:
            assert not np.any(np.asarray(state)[:, 2]) and np.all(np.abs(np.asarray(state)[:, :2]) > 0)

    def test_only_step_zero_of_each_sequence_state_is_read(self, training_run, kind):
        """The stored states at steps 1..L-1 do not change the result."""
        _, _, run = training_run
        x, states = random_inputs(B * L), random_states(kind, B * L)
        noisy = [s.reshape(LAYERS, B, L, H).copy() for s in states]
        for s in noisy:
            s[:, :, 1:] = 1e3
        noisy = [s.reshape(LAYERS, B * L, H) for s in noisy]
        close(run(x, states, pattern("one"))[0], run(x, noisy, pattern("one"))[0])

    def test_parameter_gradients_equal_the_step_by_step_loop(self):
        """jax.grad through the scan and resets equals the gradient of the oracle loop."""
        stack, params = init("gru")
        x, states, terminated = random_inputs(B * L), random_states("gru", B * L), pattern("several")

        def gradient(run):
            def loss(p):
                out, final = run(p)
                return jnp.sum(jnp.square(out)) + jnp.sum(final[0])

            return jax.jit(jax.grad(loss))(params)

        got = gradient(lambda p: stack.apply(p, x, states, terminated, training=True))
        expected = gradient(lambda p: naive_loop("gru", p, x, states, terminated, L))
        jax.tree_util.tree_map(close, got, expected)


class Policy(GaussianMixin, Model):
    """The documented pattern: cells made in a compact ``__call__``, a Dense mean head, a log-std parameter."""

    def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None, kind="gru"):
        Model.__init__(self, observation_space, action_space, device, parent, name)
        self.kind, self.num_envs, self.sequence_length = kind, NUM_ENVS, L
        GaussianMixin.__init__(self)

    def get_specification(self):
        return rnn_specification([CELLS[self.kind](H, parent=None)] * LAYERS, self.num_envs, self.sequence_length)

    @nn.compact
    def __call__(self, inputs, role):
        cells = [CELLS[self.kind](H, name=f"cells_{i}") for i in range(LAYERS)]
        out, states = sequence_forward(
            cells,
            inputs["states"],
            inputs.get("rnn"),
            terminated=inputs.get("terminated"),
            sequence_length=self.sequence_length,
            training=self.training,
        )
        log_std = self.param("log_std", lambda _: jnp.zeros(self.num_actions))
        return nn.Dense(self.num_actions, name="head")(out), log_std, {"rnn": states}


@pytest.fixture(scope="module", params=["gru", "lstm"])
def policy(request):
    model = Policy(gymnasium.spaces.Box(-1, 1, (F,)), gymnasium.spaces.Box(-1, 1, (2,)), kind=request.param)
    model.init_state_dict("policy")  # sample inputs without "rnn": zero states
    return model


class TestPolicies:
    def test_rollout_act_returns_states_shaped_as_the_specification(self, policy):
        """act in eval mode: actions (num_envs, A), log_prob (num_envs, 1), outputs['rnn'] shapes == sizes."""
        policy.set_mode("eval")
        sizes = policy.get_specification()["rnn"]["sizes"]
        inputs = {"states": random_inputs(NUM_ENVS), "rnn": [np.zeros(size, np.float32) for size in sizes]}
        actions, log_prob, outputs = policy.act(inputs, role="policy")
        assert actions.shape == (NUM_ENVS, 2) and log_prob.shape == (NUM_ENVS, 1)
        assert [tuple(s.shape) for s in outputs["rnn"]] == sizes

    def test_jitted_training_means_come_from_the_reset_sequences(self, policy):
        """jax.jit(apply) in train mode on B*L rows: the mean equals the head on the oracle's outputs."""
        params = policy.state_dict.params
        states = random_states(policy.kind, B * L)
        inputs = {"states": random_inputs(B * L), "rnn": states, "terminated": pattern("several")}
        policy.set_mode("train")
        try:
            mean, _, outputs = jax.jit(lambda p, i: policy.apply(p, i, "policy"))(params, inputs)
        finally:
            policy.set_mode("eval")
        expected, final = naive_loop(policy.kind, params, inputs["states"], states, inputs["terminated"], L)
        head = params["params"]["head"]
        close(mean, expected @ head["kernel"] + head["bias"])
        assert [tuple(s.shape) for s in outputs["rnn"]] == [(LAYERS, B, H)] * len(states)
        for got, want in zip(outputs["rnn"], final, strict=True):
            close(got, want)


class TestValidation:
    def run(self, kind="gru", x=None, states=None, rows=NUM_ENVS, **kwargs):
        stack, params = init(kind)
        x = random_inputs(rows) if x is None else x
        states = random_states(kind, rows) if states is None else states
        return stack.apply(params, x, states, **kwargs)

    def test_non_cell_module_is_named(self):
        """A Dense layer is not a recurrent cell."""
        with pytest.raises(ValueError, match="got Dense"):
            sequence_forward(nn.Dense(H, parent=None), jnp.ones((2, F)), None, sequence_length=1, training=False)

    def test_lstm_with_a_single_state_names_h_and_c(self):
        """LSTM cells need [h, c]: one state is refused, with expected and received shapes."""
        with pytest.raises(ValueError, match=r"\[h, c\] shaped \[\(2, 3, 4\), \(2, 3, 4\)\], got \[\(2, 3, 4\)\]"):
            self.run("lstm", states=random_states("lstm", NUM_ENVS)[:1])

    def test_state_rows_must_match_the_input_rows(self):
        """States for 2 envs with inputs for 3 envs are refused."""
        with pytest.raises(ValueError, match=r"\[h\] shaped \[\(2, 3, 4\)\], got \[\(2, 2, 4\)\]"):
            self.run(states=random_states("gru", 2))

    def test_inputs_must_be_two_dimensional(self):
        """(batch, features) inputs only."""
        with pytest.raises(ValueError, match=r"\(batch, features\).*got shape \(3, 1, 3\)"):
            self.run(x=np.ones((NUM_ENVS, 1, F), np.float32))

    def test_training_rows_must_be_a_multiple_of_the_sequence_length(self):
        """B*L rows: 14 rows with L = 5 are refused."""
        with pytest.raises(ValueError, match="L = sequence_length = 5, got 14 rows"):
            self.run(rows=14, training=True)

    def test_terminated_must_have_one_flag_per_row(self):
        """terminated is (B*L, 1)."""
        with pytest.raises(ValueError, match=r"\(15, 1\) bool, got \(14, 1\)"):
            self.run(rows=B * L, training=True, terminated=np.zeros((14, 1), bool))
