"""skrl agent checkpoints (``{"policy": ..., "value": ..., "optimizer": ...}``): detected, and ``key=`` picks one."""

import pytest
import torch

from ..models.jax.conftest import GaussianPolicy as JaxGaussianPolicy
from ..models.jax.conftest import build
from .conftest import GaussianPolicy, jax_bytes, torch_bytes


@pytest.fixture
def agent_checkpoint(tmp_path, box_obs, box_act):
    """An skrl-style agent file: the policy's and the value's state dicts and an optimizer state."""
    policy = GaussianPolicy(box_obs, box_act)
    value = torch.nn.Linear(5, 1)
    optimizer = torch.optim.Adam(policy.parameters())
    path = tmp_path / "agent_1000.pt"
    torch.save({"policy": policy.state_dict(), "value": value.state_dict(), "optimizer": optimizer.state_dict()}, path)
    return path, policy


class TestAgentCheckpoints:
    def test_load_without_key_says_which_key_to_pick(self, agent_checkpoint, box_obs, box_act):
        """load: a ValueError listing the state dicts and naming key= (was "unexpected entries ['policy']")."""
        path, _ = agent_checkpoint
        model = GaussianPolicy(box_obs, box_act)
        before = torch_bytes(model)
        with pytest.raises(ValueError, match=r"several state dicts.*\['policy', 'value'\].*key='policy'"):
            model.load(path)
        assert torch_bytes(model) == before

    def test_load_with_key_loads_that_state_dict(self, agent_checkpoint, box_obs, box_act):
        """model.load(path, key="policy") loads the policy's weights."""
        path, policy = agent_checkpoint
        model = GaussianPolicy(box_obs, box_act)
        model.load(path, key="policy")
        assert torch_bytes(model) == torch_bytes(policy)

    def test_an_unknown_key_lists_the_state_dicts(self, agent_checkpoint, box_obs, box_act):
        """key="actor" in a file without it: ValueError naming the file and the keys present."""
        path, _ = agent_checkpoint
        with pytest.raises(ValueError, match=rf"{path}.*'actor'.*\['policy', 'value'"):
            GaussianPolicy(box_obs, box_act).load(path, key="actor")

    def test_migrate_without_key_says_which_key_to_pick(self, agent_checkpoint, box_obs, box_act):
        """migrate(path=...) of an agent file: the same hint."""
        path, _ = agent_checkpoint
        with pytest.raises(ValueError, match="key="):
            GaussianPolicy(box_obs, box_act).migrate(path=str(path))

    def test_migrate_with_key(self, agent_checkpoint, box_obs, box_act):
        """migrate(path=..., key="policy") imports the policy's weights."""
        path, policy = agent_checkpoint
        model = GaussianPolicy(box_obs, box_act)
        assert model.migrate(path=str(path), key="policy")
        assert torch_bytes(model) == torch_bytes(policy)

    def test_jax_migrate_with_key(self, agent_checkpoint, box_obs, box_act):
        """JAX migrate takes the same key=; without it the file is refused, the params unchanged."""
        path, _ = agent_checkpoint
        model = build(JaxGaussianPolicy, box_obs, box_act)
        before = jax_bytes(model)
        with pytest.raises(ValueError, match="key="):
            model.migrate(path=str(path))
        assert jax_bytes(model) == before
        assert model.migrate(path=str(path), key="policy")
        assert jax_bytes(model) != before

    def test_rl_games_checkpoints_need_no_key(self, tmp_path, box_obs, box_act):
        """{"model": ..., "optimizer": ...} is still read as rl_games by migrate."""
        policy = GaussianPolicy(box_obs, box_act)
        path = tmp_path / "agent.pth"
        torch.save({"model": policy.state_dict(), "epoch": 3}, path)
        model = GaussianPolicy(box_obs, box_act)
        assert model.migrate(path=str(path))
        assert torch_bytes(model) == torch_bytes(policy)
