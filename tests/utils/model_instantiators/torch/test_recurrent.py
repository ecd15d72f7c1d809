"""Recurrent layers in definitions: gru / lstm / rnn models with skrl 1.x's recurrent-model contract."""

import copy
import pickle

import gymnasium
import pytest
import torch

from mixrl.utils.model_instantiators.torch import categorical_model, gaussian_model, shared_model

nn = torch.nn
F, A, H, LAYERS = 5, 2, 6, 2
NUM_ENVS, B, L = 3, 2, 4
OBS, ACT = gymnasium.spaces.Box(-1, 1, (F,)), gymnasium.spaces.Box(-1, 1, (A,))
KINDS = ["gru", "lstm", "rnn"]


def network(kind: str, **layer) -> list:
    """A feature container, then a recurrent container: [kind, linear], tanh after the recurrent layer."""
    recurrent = {kind: {"hidden_size": H, "num_layers": LAYERS, **layer}}
    return [
        {"name": "features", "input": "STATES", "layers": [8], "activations": "relu"},
        {"name": "memory", "input": "features", "layers": [recurrent, 4], "activations": ["tanh", "elu"]},
    ]


def policy(kind: str, **kwargs):
    torch.manual_seed(0)
    options = {"num_envs": NUM_ENVS, "sequence_length": L, **kwargs}
    return gaussian_model(OBS, ACT, device="cpu", network=network(kind), output="ACTIONS", **options)


def states_for(model, rows: int, seed: int = 1) -> list[torch.Tensor]:
    """inputs["rnn"]: random values (a missed reset or a wrong row shows up), shaped as the specification."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(size[0], rows, size[2], generator=generator) for size in model.get_specification()["rnn"]["sizes"]
    ]


def naive_loop(model, x, states, terminated):
    """Oracle: the model's own modules, one recurrent step at a time, states zeroed after a terminated step."""
    rnn, rest = model.memory_container[0], model.memory_container[1:]
    features = model.features_container(x).view(B, L, -1)
    hx = [s.view(s.shape[0], B, L, s.shape[-1])[:, :, 0] for s in states]
    done = terminated.view(B, L)
    outs = []
    for t in range(L):
        if isinstance(rnn, nn.LSTM):
            out, (h, c) = rnn(features[:, t : t + 1], (hx[0], hx[1]))
            hx = [h, c]
        else:
            out, h = rnn(features[:, t : t + 1], hx[0])
            hx = [h]
        outs.append(out)
        hx = [torch.where(done[:, t].view(1, B, 1), torch.zeros_like(s), s) for s in hx]
    out = torch.cat(outs, dim=1).reshape(B * L, -1)
    return rest(out), hx


class TestContract:
    @pytest.mark.parametrize("kind", KINDS)
    def test_specification_has_one_size_per_state(self, kind):
        """sizes: [(num_layers, num_envs, H)] for GRU/RNN, [h, c] for LSTM; sequence_length as given."""
        sizes = [(LAYERS, NUM_ENVS, H)] * (2 if kind == "lstm" else 1)
        assert policy(kind).get_specification() == {"rnn": {"sequence_length": L, "sizes": sizes}}

    @pytest.mark.parametrize("kind", KINDS)
    def test_rollout_shapes_and_final_states_match_the_specification(self, kind):
        """Rollout (eval): actions (num_envs, A), log_prob (num_envs, 1), outputs["rnn"] shaped as "sizes"."""
        model = policy(kind).eval()
        actions, log_prob, outputs = model.act({"states": torch.randn(NUM_ENVS, F), "rnn": states_for(model, NUM_ENVS)})
        assert actions.shape == (NUM_ENVS, A) and log_prob.shape == (NUM_ENVS, 1)
        assert [tuple(s.shape) for s in outputs["rnn"]] == model.get_specification()["rnn"]["sizes"]

    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("pattern", ["none", "some", "all"])
    def test_training_with_terminated_equals_a_step_by_step_loop(self, kind, pattern):
        """Training (B sequences of L steps): outputs and final states equal the naive loop with resets."""
        model = policy(kind).train()
        done = {"none": torch.zeros(B, L), "some": torch.tensor([[0, 1, 0, 0], [0, 0, 1, 1]]), "all": torch.ones(B, L)}
        terminated = done[pattern].bool().reshape(B * L, 1)
        x, states = torch.randn(B * L, F, generator=torch.Generator().manual_seed(2)), states_for(model, B * L)
        inputs = {"states": x, "rnn": states, "terminated": terminated}
        mean, _, outputs = model.compute(inputs, role="policy")
        expected_mean, expected_states = naive_loop(model, x, states, terminated)
        torch.testing.assert_close(mean, expected_mean)
        for got, want in zip(outputs["rnn"], expected_states, strict=True):
            torch.testing.assert_close(got, want)
        assert [tuple(s.shape) for s in outputs["rnn"]] == [(LAYERS, B, H)] * len(expected_states)

    def test_gradient_reaches_every_layer(self):
        """A loss on the log-probabilities back-propagates into the recurrent and the feature weights."""
        model = policy("gru").train()
        inputs = {
            "states": torch.randn(B * L, F),
            "taken_actions": torch.randn(B * L, A),
            "rnn": states_for(model, B * L),
        }
        model.act(inputs, role="policy")[1].sum().backward()
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name

    @pytest.mark.parametrize("mode", ["train", "eval"])
    def test_init_state_dict_runs_with_sample_states(self, mode):
        """init_state_dict builds one sequence of zero states from the specification, in either mode."""
        model = policy("lstm")
        model.set_mode(mode)
        model.init_state_dict("policy")

    def test_missing_states_name_the_expected_sizes(self):
        """No inputs["rnn"]: a ValueError with the specification's sizes (never a silent zero state)."""
        with pytest.raises(ValueError, match=r"inputs\['rnn'\] must hold the states.*\[\(2, 3, 6\)\]"):
            policy("gru").eval().act({"states": torch.randn(NUM_ENVS, F)})

    def test_recurrent_layer_may_read_the_states_directly(self):
        """The recurrent layer can be the very first layer; a categorical head works the same way."""
        model = categorical_model(
            OBS,
            gymnasium.spaces.Discrete(4),
            device="cpu",
            num_envs=2,
            network=[{"name": "net", "input": "STATES", "layers": [{"rnn": [H]}]}],
            output="ACTIONS",
        ).eval()
        actions, _, outputs = model.act({"states": torch.randn(2, F), "rnn": states_for(model, 2)})
        assert actions.shape == (2, 1) and outputs["rnn"][0].shape == (1, 2, H)
        assert [name for name, _ in model.named_parameters()][:2] == [
            "net_container.0.weight_ih_l0",
            "net_container.0.weight_hh_l0",
        ]

    def test_defaults_and_non_recurrent_models(self):
        """num_envs=1, sequence_length=16 by default; without a recurrent layer they are ignored."""
        model = gaussian_model(OBS, ACT, device="cpu", network=network("gru"), output="ACTIONS")
        assert model.get_specification()["rnn"]["sequence_length"] == 16
        assert model.get_specification()["rnn"]["sizes"] == [(LAYERS, 1, H)]
        plain = gaussian_model(OBS, ACT, device="cpu", hiddens=[8], num_envs=64, sequence_length=8)
        assert plain.get_specification() == {} and not hasattr(plain, "sequence_length")

    def test_copies_and_pickles_keep_working(self):
        """deepcopy and pickle give models with the same outputs."""
        model = policy("gru").eval()
        inputs = {"states": torch.randn(NUM_ENVS, F), "rnn": states_for(model, NUM_ENVS)}
        for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            torch.testing.assert_close(clone.compute(inputs, "policy")[0], model.compute(inputs, "policy")[0])


class TestErrors:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"num_envs": 0}, "num_envs must be a positive int"),
            ({"sequence_length": 2.5}, "sequence_length must be a positive int"),
        ],
    )
    def test_invalid_recurrent_keywords(self, kwargs, match):
        """num_envs and sequence_length are positive ints."""
        with pytest.raises(ValueError, match=match):
            policy("gru", **kwargs)

    def test_image_input_needs_flattening_first(self):
        """A recurrent layer reads (batch, features): a 4-D input is refused with the fix."""
        image = [{"name": "net", "input": "permute(STATES, (0, 3, 1, 2))", "layers": [{"gru": 8}]}]
        with pytest.raises(ValueError, match=r"needs a \(batch, features\) input, got shape \(1, 3, 4, 4\)"):
            gaussian_model(gymnasium.spaces.Box(0, 1, (4, 4, 3)), ACT, device="cpu", network=image, output="ACTIONS")


def shared(single_forward_pass=True):
    torch.manual_seed(0)
    parameters = [{"network": network("gru"), "output": "ACTIONS"}, {"output": "ONE"}]
    return shared_model(
        OBS,
        ACT,
        device="cpu",
        roles=["policy", "value"],
        parameters=parameters,
        single_forward_pass=single_forward_pass,
        num_envs=NUM_ENVS,
        sequence_length=L,
    ).eval()


def count_recurrent_calls(model) -> list:
    calls = []
    model.memory_container[0].register_forward_hook(lambda *_: calls.append(1))
    return calls


class TestShared:
    def test_one_state_list_for_every_role(self):
        """Both roles return the same final states; the specification is the trunk's."""
        model = shared()
        inputs = {"states": torch.randn(NUM_ENVS, F), "rnn": states_for(model, NUM_ENVS)}
        _, _, policy_outputs = model.act(inputs, role="policy")
        _, _, value_outputs = model.act(inputs, role="value")
        assert policy_outputs["rnn"][0] is value_outputs["rnn"][0]
        assert model.get_specification()["rnn"]["sizes"] == [(LAYERS, NUM_ENVS, H)]

    def test_single_forward_pass_reuses_the_trunk_for_the_same_recurrent_inputs(self):
        """PPO passes one state list to both roles: the value pass reuses the policy pass's trunk."""
        model = shared()
        calls = count_recurrent_calls(model)
        inputs = {"states": torch.randn(NUM_ENVS, F), "rnn": states_for(model, NUM_ENVS)}
        model.act(inputs, role="policy")
        model.act(inputs, role="value")
        assert len(calls) == 1

    @pytest.mark.parametrize("change", ["other states list", "states changed in place", "other terminated"])
    def test_other_recurrent_inputs_recompute_the_trunk(self, change):
        """Same observation tensor but other (or modified) recurrent inputs: recomputed, and correct."""
        model, reference = shared(), shared(single_forward_pass=False)
        calls = count_recurrent_calls(model)
        x, states = torch.randn(NUM_ENVS, F), states_for(model, NUM_ENVS)
        model.act({"states": x, "rnn": states}, role="policy")
        value_inputs = {"states": x, "rnn": states}
        if change == "other states list":
            value_inputs["rnn"] = states_for(model, NUM_ENVS, seed=5)
        elif change == "states changed in place":
            states[0].mul_(0.5)
        else:
            value_inputs["terminated"] = torch.zeros(NUM_ENVS, 1, dtype=torch.bool)
        value = model.act(value_inputs, role="value")[0]
        assert len(calls) == 2
        torch.testing.assert_close(value, reference.act(value_inputs, role="value")[0])
