"""``TabularMixin``: table-based policies (Q-learning, SARSA) whose Q-table is a Flax variable.

JAX arrays are immutable and the compiled act reads the model's variables as an argument, so the table
is not a plain attribute (the compiled act would bake it in as a constant) but a variable of the
``"table"`` collection, declared in ``__call__``. It lives in ``state_dict.params`` next to the
``"params"`` collection: ``init_state_dict`` creates it, ``save``/``load`` write and restore it (msgpack),
``update_parameters`` copies it, and every act sees the current table without recompiling. An agent
updates it functionally, e.g. inside one ``jax.jit``::

    @jax.jit
    def q_learning_step(params, s, a, r, s_next, done):
        q = policy.table(params)
        target = r + gamma * jnp.where(done, 0.0, q[0, s_next].max())
        return policy.with_table(q.at[0, s, a].add(alpha * (target - q[0, s, a])), params)

    params = q_learning_step(policy.state_dict.params, ...)
    policy.state_dict = policy.state_dict.replace(params=params)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from mixrl.models._roles import HeadSettings
from mixrl.models.jax._act import state_params
from mixrl.models.jax._head import Head, post_init, register

TABLE_COLLECTION = "table"
Q_TABLE = "q_table"


@dataclasses.dataclass(eq=False, kw_only=True)
class TabularSettings(HeadSettings):
    """Settings of a tabular head for one role: the number of parallel environments (the table's rows)."""

    num_envs: int


class TabularMixin(Head):
    """Tabular behaviour: ``__call__`` returns ``(actions (batch, 1), outputs)``, ``act`` ``(actions, None, outputs)``.

    Declare the Q-table in ``__call__`` as the variable ``"q_table"`` of the ``"table"`` collection, shaped
    ``(num_envs, num_observations, num_actions)``; other variables of that collection (visit counts, ...)
    are state too. ``inputs["key"]`` is the PRNG key of the call (for exploration) and ``self.training``
    its mode::

        class EpsilonGreedy(TabularMixin, Model):
            def __init__(self, observation_space=None, action_space=None, device=None, num_envs=1,
                         epsilon=0.1, **kwargs):
                Model.__init__(self, observation_space, action_space, device, **kwargs)
                self.epsilon = epsilon
                TabularMixin.__init__(self, num_envs)

            @nn.compact
            def __call__(self, inputs, role):
                shape = (self.num_envs, self.num_observations, self.num_actions)
                q_table = self.variable("table", "q_table", jnp.ones, shape).value
                s = inputs["states"].reshape(-1).astype(jnp.int32)
                greedy = q_table[jnp.arange(self.num_envs), s].argmax(-1, keepdims=True)
                if not self.training:  # evaluation: greedy
                    return greedy, {}
                explore, pick = jax.random.split(inputs["key"])
                random = jax.random.randint(pick, greedy.shape, 0, self.num_actions)
                return jnp.where(jax.random.uniform(explore, greedy.shape) < self.epsilon, random, greedy), {}

    Plain attributes such as ``epsilon`` are constants of the compiled act: change behaviour through the
    mode (as above), the inputs or a variable, not by re-assigning the attribute.

    Args:
        num_envs: number of parallel environments (the table's first dimension); also set as ``self.num_envs``.
        role: role these settings belong to.
    """

    def __init__(self, num_envs: int = 1, role: str = "") -> None:
        register(self, TabularSettings(role=role, head=TabularMixin, num_envs=int(num_envs)))
        self.num_envs = int(num_envs)
        post_init(self)

    def table(self, params: Any = None) -> jax.Array:
        """The Q-table (num_envs, num_observations, num_actions) in ``params`` (default ``state_dict.params``).

        Raises:
            RuntimeError: ``init_state_dict`` was never called (and no ``params`` given).
            AttributeError: the model declares no ``"q_table"`` variable in the ``"table"`` collection.
        """
        variables = state_params(self) if params is None else params
        try:
            return variables[TABLE_COLLECTION][Q_TABLE]
        except (KeyError, TypeError):
            raise AttributeError(
                f"{type(self).__name__} has no Q-table: declare it in __call__, e.g. self.variable("
                f"{TABLE_COLLECTION!r}, {Q_TABLE!r}, jnp.ones, (self.num_envs, self.num_observations, "
                "self.num_actions))"
            ) from None

    def with_table(self, q_table: jax.Array, params: Any = None) -> Any:
        """``params`` (default ``state_dict.params``) with the Q-table replaced by ``q_table``; pure (jit-able).

        Assign the result with ``model.state_dict = model.state_dict.replace(params=...)`` (or keep it as the
        agent's params).

        Raises:
            ValueError: ``q_table`` has another shape or dtype than the current table.
            AttributeError: the model declares no Q-table (see :meth:`table`).
        """
        variables = state_params(self) if params is None else params
        current = self.table(variables)
        if tuple(q_table.shape) != tuple(current.shape) or q_table.dtype != current.dtype:
            raise ValueError(
                f"{type(self).__name__}.with_table: expected a Q-table of shape {tuple(current.shape)} and dtype "
                f"{current.dtype}, got shape {tuple(q_table.shape)} and dtype {q_table.dtype}"
            )
        return {**variables, TABLE_COLLECTION: {**variables[TABLE_COLLECTION], Q_TABLE: q_table}}

    @staticmethod
    def _finish(
        settings: TabularSettings, out: tuple, inputs: dict[str, Any], key: jax.Array, training: bool
    ) -> tuple[Any, None, dict]:
        """``(actions, None, outputs)`` from ``__call__``'s ``(actions, outputs)`` (runs inside the compiled act)."""
        actions, outputs = out
        return actions, None, outputs
