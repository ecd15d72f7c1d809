"""tabular_model: an epsilon-greedy Q-table model from Discrete spaces, on both backends."""

import gymnasium
import numpy as np
import pytest

OBS, ACT = gymnasium.spaces.Discrete(4), gymnasium.spaces.Discrete(3, start=1)


def backend(name: str):
    """``(instantiators module, to-backend array, to-NumPy, set q_table)``; JAX needs mixrl.models.jax.TabularMixin."""
    if name == "torch":
        torch = pytest.importorskip("torch")
        from mixrl.utils.model_instantiators import torch as module

        def set_table(model, table):
            model.q_table.copy_(torch.as_tensor(table))

        return module, torch.as_tensor, lambda x: x.numpy(), set_table
    pytest.importorskip("flax")
    import jax.numpy as jnp

    from mixrl.utils.model_instantiators import jax as module

    def set_table(model, table):
        model.state_dict = model.state_dict.replace(params=model.with_table(jnp.asarray(table)))

    return module, jnp.asarray, np.asarray, set_table


def actions_of(model, states, to_array, to_numpy):
    return to_numpy(model.act({"states": to_array(states)})[0])


@pytest.mark.parametrize("name", ["torch", "jax"])
class TestTabularModel:
    def test_q_table_is_num_envs_by_observations_by_actions(self, name):
        """The table is (num_envs, n_obs, n_actions) zeros."""
        module, *_ = backend(name)
        model = module.tabular_model(OBS, ACT, "cpu", num_envs=2, epsilon=0.0)
        assert tuple(model.table().shape) == (2, 4, 3) and not np.asarray(model.table()).any()

    def test_greedy_actions_are_the_argmax_of_each_environment_row(self, name):
        """epsilon=0: action = argmax(q_table[env, state]) + start, per environment."""
        module, to_array, to_numpy, set_table = backend(name)
        model = module.tabular_model(OBS, ACT, "cpu", num_envs=2, epsilon=0.0)
        table = np.zeros((2, 4, 3), np.float32)
        table[0, 2, 1], table[1, 3, 2] = 1.0, 1.0
        set_table(model, table)
        actions = actions_of(model, np.array([[2], [3]]), to_array, to_numpy)
        np.testing.assert_array_equal(actions, [[1 + 1], [2 + 1]])

    def test_eval_mode_is_greedy_even_with_epsilon_one(self, name):
        """In eval mode exploration is off."""
        module, to_array, to_numpy, set_table = backend(name)
        model = module.tabular_model(OBS, ACT, "cpu", num_envs=1, epsilon=1.0)
        table = np.zeros((1, 4, 3), np.float32)
        table[0, :, 2] = 1.0
        set_table(model, table)
        model.set_mode("eval")
        states = np.arange(4).reshape(-1, 1)
        np.testing.assert_array_equal(actions_of(model, states, to_array, to_numpy), np.full((4, 1), 3))

    def test_epsilon_one_explores_every_action_uniformly(self, name):
        """Training with epsilon=1: actions uniform over start .. start + n - 1 (2000 draws, each ~1/3)."""
        module, to_array, to_numpy, _ = backend(name)
        model = module.tabular_model(OBS, ACT, "cpu", num_envs=1, epsilon=1.0)
        model.set_mode("train")
        actions = actions_of(model, np.zeros((2000, 1), np.int64), to_array, to_numpy).ravel()
        counts = np.bincount(actions, minlength=4)
        assert counts[0] == 0 and np.all(np.abs(counts[1:] / 2000 - 1 / 3) < 0.05)

    def test_unknown_variant_names_the_allowed_ones(self, name):
        module, *_ = backend(name)
        with pytest.raises(ValueError, match=r"'softmax'.*\['epsilon-greedy'\]"):
            module.tabular_model(OBS, ACT, variant="softmax")

    @pytest.mark.parametrize(
        "spaces", [(gymnasium.spaces.Box(-1, 1, (2,)), ACT), (OBS, gymnasium.spaces.MultiDiscrete([2]))]
    )
    def test_non_discrete_spaces_are_named(self, name, spaces):
        """A Box observation space or a MultiDiscrete action space is a ValueError naming it."""
        module, *_ = backend(name)
        with pytest.raises(ValueError, match="Discrete.*got (Box|MultiDiscrete)"):
            module.tabular_model(*spaces)

    def test_epsilon_outside_the_unit_interval_is_rejected(self, name):
        module, *_ = backend(name)
        with pytest.raises(ValueError, match="epsilon"):
            module.tabular_model(OBS, ACT, epsilon=1.5)

    def test_source_is_an_equivalent_class(self, name):
        """return_source renders a TabularModel class whose table has the same shape."""
        module, *_ = backend(name)
        source = module.tabular_model(OBS, ACT, "cpu", num_envs=3, epsilon=0.2, return_source=True)
        assert "class TabularModel(TabularMixin, Model):" in source and "num_envs=3" in source
        namespace: dict = {}
        exec(compile(source, "<tabular>", "exec"), namespace)  # the test runs the rendered text, mixrl never does
        model = namespace["TabularModel"](OBS, ACT, "cpu")
        if name == "jax":
            model.init_state_dict()
        assert tuple(model.table().shape) == (3, 4, 3)


def test_torch_q_table_is_saved_in_the_state_dict():
    """The torch table is a buffer: state_dict holds q_table (agents update it in place)."""
    from mixrl.utils.model_instantiators.torch import tabular_model

    model = tabular_model(OBS, ACT, "cpu", num_envs=2)
    assert list(model.state_dict()) == ["q_table"]
