"""Recurrent layers in JAX definitions: gru / lstm / rnn models with skrl 1.x's recurrent-model contract.

The oracle runs Flax's own cells one step at a time with the model's parameters and resets the states of
the sequences that terminated, so it checks the layouts, the scan and the resets of the instantiated model.
"""

import flax.linen as nn
import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

from mixrl.utils.model_instantiators.jax import gaussian_model, shared_model

from .conftest import close, dense, params

F, A, H, LAYERS = 5, 3, 8, 2
NUM_ENVS, B, L = 3, 2, 4
OBS, ACT = gymnasium.spaces.Box(-1, 1, (F,)), gymnasium.spaces.Box(-1, 1, (A,))
CELLS = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "rnn": nn.SimpleCell}


def network(kind: str) -> list:
    """One container: the recurrent layer (the ACTIONS head is appended after it)."""
    return [{"name": "memory", "input": "STATES", "layers": [{kind: {"hidden_size": H, "num_layers": LAYERS}}]}]


@pytest.fixture(scope="module", params=list(CELLS))
def policy(request):
    return gaussian_model(
        OBS, ACT, network=network(request.param), output="ACTIONS", num_envs=NUM_ENVS, sequence_length=L
    )


def kind_of(model) -> str:
    return model.description["network"][0]["layers"][0].popitem()[0]


def random_states(model, rows: int, seed: int = 1) -> list:
    """inputs["rnn"]: random values (a missed reset or a wrong row shows up), shaped as the specification."""
    rng = np.random.default_rng(seed)
    sizes = model.get_specification()["rnn"]["sizes"]
    return [rng.normal(size=(size[0], rows, size[2])).astype(np.float32) for size in sizes]


def naive_loop(model, x, states, terminated):
    """Oracle: Flax cells one step at a time, states zeroed after a terminated step, then the head."""
    kind, p = kind_of(model), params(model)["memory_container"]
    cell = CELLS[kind](H)
    sequences = x.reshape(B, L, F)
    initial = [s.reshape(LAYERS, B, L, H)[:, :, 0] for s in states]
    carry = [(initial[1][i], initial[0][i]) if kind == "lstm" else initial[0][i] for i in range(LAYERS)]
    done = terminated.reshape(B, L)
    outs = []
    for t in range(L):
        y = sequences[:, t]
        for i in range(LAYERS):
            carry[i], y = cell.apply({"params": p["layers_0"][f"cells_{i}"]}, carry[i], y)
        outs.append(np.asarray(y))
        keep = (~done[:, t])[:, None].astype(np.float32)
        carry = [tuple(s * keep for s in c) if kind == "lstm" else c * keep for c in carry]
    out = dense(np.stack(outs, axis=1).reshape(B * L, H), p["layers_1"])
    if kind == "lstm":
        return out, [np.stack([h for _, h in carry]), np.stack([c for c, _ in carry])]
    return out, [np.stack(carry)]


class TestContract:
    def test_specification_has_one_size_per_state(self, policy):
        """sizes: [(num_layers, num_envs, H)] for GRU/RNN, [h, c] for LSTM; sequence_length as given."""
        sizes = [(LAYERS, NUM_ENVS, H)] * (2 if kind_of(policy) == "lstm" else 1)
        assert policy.get_specification() == {"rnn": {"sequence_length": L, "sizes": sizes}}

    def test_rollout_shapes_and_final_states_match_the_specification(self, policy):
        """Rollout (eval): mean actions (num_envs, A), outputs["rnn"] shaped as "sizes"."""
        policy.set_mode("eval")
        inputs = {"states": jnp.ones((NUM_ENVS, F)), "rnn": random_states(policy, NUM_ENVS)}
        mean, log_std, outputs = policy.apply(policy.state_dict.params, inputs, "policy")
        assert mean.shape == (NUM_ENVS, A) and log_std.shape == (A,)
        assert [tuple(s.shape) for s in outputs["rnn"]] == policy.get_specification()["rnn"]["sizes"]

    def test_training_with_terminated_equals_a_step_by_step_loop(self, policy):
        """Training (B sequences of L steps): outputs and final states equal the oracle with resets."""
        rng = np.random.default_rng(2)
        x = rng.normal(size=(B * L, F)).astype(np.float32)
        terminated = np.array([[0, 1, 0, 0], [0, 0, 1, 1]], bool).reshape(B * L, 1)
        states = random_states(policy, B * L)
        policy.set_mode("train")
        try:
            mean, _, outputs = policy.apply(
                policy.state_dict.params, {"states": x, "rnn": states, "terminated": terminated}, "policy"
            )
        finally:
            policy.set_mode("eval")
        expected, final = naive_loop(policy, x, states, terminated)
        close(mean, expected)
        for got, want in zip(outputs["rnn"], final, strict=True):
            close(got, want)
        assert not np.any(final[0][:, 1])  # sequence 1 terminated at its last step: zero final states


class TestErrors:
    @pytest.fixture(scope="class")
    @classmethod
    def gru(cls):
        return gaussian_model(OBS, ACT, network=network("gru"), output="ACTIONS", num_envs=NUM_ENVS, sequence_length=L)

    def test_missing_states_name_the_specification(self, gru):
        """No inputs["rnn"]: ValueError with the expected sizes."""
        with pytest.raises(ValueError, match=r"inputs\['rnn'\] must hold the states.*\[\(2, 3, 8\)\]"):
            gru.apply(gru.state_dict.params, {"states": jnp.ones((NUM_ENVS, F))}, "policy")

    def test_wrong_state_shapes_are_named(self, gru):
        """States for another batch size: expected vs received shapes."""
        with pytest.raises(ValueError, match=r"must be \[h\] shaped \[\(2, 3, 8\)\], got \[\(2, 4, 8\)\]"):
            gru.apply(gru.state_dict.params, {"states": jnp.ones((3, F)), "rnn": [jnp.zeros((2, 4, 8))]}, "policy")

    def test_training_rows_must_be_whole_sequences(self, gru):
        """Training layout: B*L rows."""
        gru.set_mode("train")
        try:
            with pytest.raises(ValueError, match="B\\*L rows with L = sequence_length = 4, got 6 rows"):
                gru.apply(gru.state_dict.params, {"states": jnp.ones((6, F)), "rnn": [jnp.zeros((2, 6, 8))]}, "policy")
        finally:
            gru.set_mode("eval")


def test_shared_recurrent_roles_return_the_same_final_states():
    """A shared model has one state list: policy and value return the same outputs["rnn"]."""
    model = shared_model(
        OBS,
        ACT,
        roles=["policy", "value"],
        parameters=[{"network": network("gru"), "output": "ACTIONS"}, {"output": "ONE"}],
        num_envs=NUM_ENVS,
    )
    inputs = {"states": jnp.ones((NUM_ENVS, F)), "rnn": [jnp.ones((LAYERS, NUM_ENVS, H))]}
    actions, log_prob, outputs = model.act(inputs, role="policy")  # an agent's rollout step
    assert actions.shape == (NUM_ENVS, A) and log_prob.shape == (NUM_ENVS, 1)
    values, value_outputs = model.apply(model.state_dict.params, inputs, "value")
    assert values.shape == (NUM_ENVS, 1)
    close(outputs["rnn"][0], np.asarray(value_outputs["rnn"][0]))
