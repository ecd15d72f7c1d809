"""The generated epsilon-greedy tabular model (JAX/Flax) and its source template.

Built on ``mixrl.models.jax.TabularMixin``: the table is the variable ``q_table`` of the ``"table"``
collection (read with ``model.table()``, replaced with ``model.with_table(...)``), initialised with zeros
by ``init_state_dict`` on ``num_envs`` rows. Keep the class standalone (it uses only the names the
single-line imports below bind): ``return_source`` renders this very class (:func:`.._source.class_source`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from mixrl.models.jax import Model, TabularMixin
from mixrl.models.jax.tabular import Q_TABLE, TABLE_COLLECTION


class TabularModel(TabularMixin, Model):
    """Generated tabular model: ``__call__`` returns ``(actions (batch, 1), {})``, epsilon-greedy over ``q_table``."""

    def __init__(
        self,
        observation_space: Any = None,
        action_space: Any = None,
        device: Any = None,
        num_envs: int = 1,
        epsilon: float = 0.1,
        parent: Any = None,
        name: str | None = None,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device, parent, name)
        if parent is None:  # Flax clones get the plain attributes copied after construction
            self.epsilon = epsilon
        TabularMixin.__init__(self, num_envs)

    def init_state_dict(self, role: Any = "", inputs: Mapping[str, Any] = {}, key: Any = None) -> None:
        """``Model.init_state_dict`` on one observation per environment (the table's rows)."""
        sample = dict(inputs) or {"states": jnp.full((self.num_envs, 1), int(self.observation_space.start))}
        Model.init_state_dict(self, role, sample, key)

    def setup(self) -> None:
        shape = (self.num_envs, int(self.observation_space.n), int(self.action_space.n))
        self.q_table = self.variable(TABLE_COLLECTION, Q_TABLE, lambda: jnp.zeros(shape, jnp.float32))

    def __call__(self, inputs: Mapping[str, Any], role: str = "") -> tuple[jax.Array, dict]:
        """Greedy (eval mode, ``epsilon == 0``) or epsilon-greedy actions; exploring reads ``inputs["key"]``.

        Raises:
            ValueError: the batch is not ``num_envs`` rows (with ``num_envs`` > 1).
        """
        index = jnp.reshape(jnp.asarray(inputs["states"]), (-1,)).astype(jnp.int32) - int(self.observation_space.start)
        rows = index.shape[0]
        if self.num_envs > 1 and rows != self.num_envs:
            raise ValueError(
                f"inputs['states'] has {rows} rows, expected num_envs = {self.num_envs} (one per environment)"
            )
        envs = jnp.arange(rows) if self.num_envs > 1 else jnp.zeros(rows, jnp.int32)
        actions = jnp.argmax(self.q_table.value[envs, index], axis=-1)
        if self.training and self.epsilon > 0:
            explore, pick = jax.random.split(inputs["key"])
            uniform = jax.random.randint(pick, (rows,), 0, int(self.action_space.n))
            actions = jnp.where(jax.random.uniform(explore, (rows,)) < self.epsilon, uniform, actions)
        return (actions + int(self.action_space.start))[:, None], {}
