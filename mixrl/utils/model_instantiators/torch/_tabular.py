"""The generated epsilon-greedy tabular model (torch) and its source template."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mixrl.models.torch.base import Model
from mixrl.models.torch.tabular import TabularMixin
from mixrl.utils.model_instantiators._source import signature


def greedy_rows(model: Any, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(environment row, table index)`` of every sample; one environment broadcasts over any batch.

    Raises:
        ValueError: the batch is not ``num_envs`` rows (with ``num_envs`` > 1).
    """
    index = states.reshape(-1).long() - int(model.observation_space.start)
    rows = index.shape[0]
    if model.num_envs > 1 and rows != model.num_envs:
        raise ValueError(
            f"inputs['states'] has {rows} rows, expected num_envs = {model.num_envs} (one per environment)"
        )
    envs = torch.arange(rows, device=index.device) if model.num_envs > 1 else torch.zeros_like(index)
    return envs, index


class TabularModel(TabularMixin, Model):
    """Generated tabular model: ``compute`` returns ``(actions (batch, 1), {})``, epsilon-greedy over ``q_table``."""

    def __init__(
        self,
        observation_space: Any = None,
        action_space: Any = None,
        device: Any = None,
        num_envs: int = 1,
        epsilon: float = 0.1,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device)
        TabularMixin.__init__(self, num_envs)
        self.epsilon = epsilon
        shape = (num_envs, int(self.observation_space.n), int(self.action_space.n))
        self.q_table = torch.zeros(shape, dtype=torch.float32, device=self.device)

    def compute(self, inputs: Mapping[str, Any], role: str = "") -> tuple[torch.Tensor, dict]:
        envs, index = greedy_rows(self, inputs["states"])
        actions = torch.argmax(self.q_table[envs, index], dim=-1, keepdim=True)
        if self.training and self.epsilon > 0:
            explore = torch.rand(actions.shape, device=actions.device) < self.epsilon
            actions = torch.where(explore, torch.randint_like(actions, int(self.action_space.n)), actions)
        return actions + int(self.action_space.start), {}


def tabular_source(model: TabularModel) -> str:
    """Source of ``class TabularModel(TabularMixin, Model)`` equivalent to ``model``."""
    n, m, start = int(model.observation_space.n), int(model.action_space.n), int(model.action_space.start)
    header = "\n".join(signature([f"num_envs={model.num_envs}", f"epsilon={model.epsilon!r}"]))
    return f"""import torch

from mixrl.models.torch.base import Model
from mixrl.models.torch.tabular import TabularMixin
from mixrl.utils.model_instantiators._source import signature


class TabularModel(TabularMixin, Model):
{header}
        Model.__init__(self, observation_space, action_space, device)
        TabularMixin.__init__(self, num_envs)
        self.epsilon = epsilon
        self.q_table = torch.zeros((num_envs, {n}, {m}), dtype=torch.float32, device=self.device)

    def compute(self, inputs, role=""):
        index = inputs["states"].reshape(-1).long() - {int(model.observation_space.start)}
        envs = torch.arange(index.shape[0], device=index.device) if self.num_envs > 1 else torch.zeros_like(index)
        actions = torch.argmax(self.q_table[envs, index], dim=-1, keepdim=True)
        if self.training and self.epsilon > 0:
            explore = torch.rand(actions.shape, device=actions.device) < self.epsilon
            actions = torch.where(explore, torch.randint_like(actions, {m}), actions)
        return actions + {start}, {{}}
"""
