"""The generated epsilon-greedy tabular model (torch); ``return_source`` renders this very class.

Keep the class standalone (it uses only the names the single-line imports below bind): its source, with the
built model's constructor values, is the text :func:`.._source.class_source` renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mixrl.models.torch.base import Model
from mixrl.models.torch.tabular import TabularMixin


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
        """Greedy (eval mode, ``epsilon == 0``) or epsilon-greedy actions; one environment serves any batch.

        Raises:
            ValueError: the batch is not ``num_envs`` rows (with ``num_envs`` > 1).
        """
        index = inputs["states"].reshape(-1).long() - int(self.observation_space.start)
        rows = index.shape[0]
        if self.num_envs > 1 and rows != self.num_envs:
            raise ValueError(
                f"inputs['states'] has {rows} rows, expected num_envs = {self.num_envs} (one per environment)"
            )
        envs = torch.arange(rows, device=index.device) if self.num_envs > 1 else torch.zeros_like(index)
        actions = torch.argmax(self.q_table[envs, index], dim=-1, keepdim=True)
        if self.training and self.epsilon > 0:
            explore = torch.rand(actions.shape, device=actions.device) < self.epsilon
            actions = torch.where(explore, torch.randint_like(actions, int(self.action_space.n)), actions)
        return actions + int(self.action_space.start), {}
