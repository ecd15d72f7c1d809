"""The parameter container of a JAX model: ``StateDict`` and the ``model.state_dict`` slot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax


class StateDict(flax.struct.PyTreeNode):
    """Parameters of a model: ``params`` is the whole variables dict of ``Module.init`` (``{"params": ...}``).

    ``apply_fn`` is static (not a pytree leaf). Update with ``state_dict.replace(params=new)``.
    """

    apply_fn: Callable = flax.struct.field(pytree_node=False)
    params: Any = flax.struct.field(pytree_node=True)

    @classmethod
    def create(cls, *, apply_fn: Callable, params: Any, **kwargs: Any) -> StateDict:
        return cls(apply_fn=apply_fn, params=params, **kwargs)


class _StateDictSlot:
    """``model.state_dict``: assignable; reading it before ``init_state_dict`` raises ``RuntimeError``."""

    nowrap = True  # keep Flax from wrapping the descriptor (no per-access overhead)

    def __get__(self, model: Any, owner: type | None = None) -> Any:
        if model is None:
            return self
        state = model.__dict__.get("_mixrl_state_dict")
        if state is None:
            raise RuntimeError("call init_state_dict() first")
        return state

    def __set__(self, model: Any, value: StateDict) -> None:
        model.__dict__["_mixrl_state_dict"] = value
