"""``TabularMixin``: table-based policies (Q-learning, SARSA) whose state lives in plain tensor attributes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.torch._head import Head

if TYPE_CHECKING:  # the mixin is always combined with Model (a torch.nn.Module): type-check it as one
    from torch.nn import Module as _Module
else:
    _Module = object


@dataclasses.dataclass(eq=False, kw_only=True)
class TabularSettings(HeadSettings):
    """Settings of a tabular head for one role: the number of parallel environments (the table's first axis)."""

    num_envs: int


class TabularMixin(Head, _Module):
    """Tabular behaviour: ``compute`` returns ``(actions (batch, 1), outputs)``, ``act`` ``(actions, None, outputs)``.

    Tensors assigned as public attributes (``self.q_table = torch.ones(num_envs, num_obs, num_actions)``) are
    "table tensors": they are registered as persistent buffers when assigned, so they show in ``repr``, move
    with ``to()``, are saved by ``state_dict()``/``save()`` and restored by ``load_state_dict()``/``load()``.
    Re-assigning the attribute replaces the buffer. Parameters, modules and ``_private`` attributes are left
    to ``torch.nn.Module``. Agents mutate the table in place through :meth:`table`, so keep it in ``self.q_table``
    (never ``self.table``, which would hide the method).

    Args:
        num_envs: number of parallel environments (the table's first dimension); also set as ``self.num_envs``.
        role: role these settings belong to.
    """

    if TYPE_CHECKING:  # the agent's table (assigned by the model) and Model's state-dict check
        q_table: torch.Tensor

        def _checked_state(self, state: Mapping[str, Any], strict: bool, source: str) -> dict[str, torch.Tensor]: ...

    def __init__(self, num_envs: int = 1, role: str = "") -> None:
        _roles.register(self, TabularSettings(role=role, head=TabularMixin, num_envs=int(num_envs)))
        self.num_envs = int(num_envs)

    def _act(self, settings: TabularSettings, inputs: Mapping[str, Any], role: str) -> tuple[torch.Tensor, None, dict]:
        """Run ``compute``: ``(actions (batch, 1), None, outputs)``."""
        actions, outputs = self.compute(inputs, role)
        return actions, None, outputs

    def table(self) -> torch.Tensor:
        """The Q-table ``self.q_table`` (num_envs, num_observations, num_actions), mutated in place by agents.

        Raises:
            AttributeError: the model defines no ``self.q_table``.
        """
        try:
            return self.q_table
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} has no q_table: assign the table in __init__, e.g. "
                "self.q_table = torch.zeros((num_envs, self.num_observations, self.num_actions), device=self.device)"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if _is_new_table_tensor(self, name, value):
            if hasattr(type(self), name):
                raise AttributeError(
                    f"cannot store a table tensor as {type(self).__name__}.{name}: it would hide the class "
                    f"attribute {name!r} (for the Q-table use self.q_table, read by table())"
                )
            self.__dict__.pop(name, None)  # a plain attribute of the same name is replaced
            self.register_buffer(name, value)
        else:
            super().__setattr__(name, value)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """``torch.nn.Module.load_state_dict`` after checking names, shapes and dtypes (nothing is copied on error).

        Raises:
            ValueError: missing or unknown entries (with ``strict``), or an entry whose shape or dtype differs.
        """
        self._checked_state(state_dict, strict, source="state_dict")
        own = self.state_dict()
        wrong = [
            f"{key}: expected dtype {own[key].dtype}, got {value.dtype}"
            for key, value in state_dict.items()
            if key in own and value.dtype != own[key].dtype
        ]
        if wrong:
            raise ValueError(f"state_dict does not match {type(self).__name__}: " + "; ".join(wrong))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def extra_repr(self) -> str:
        """One ``(name): Tensor(shape=[...])`` line per table tensor."""
        lines = [super().extra_repr()] + [
            f"({name}): Tensor(shape={list(tensor.shape)})"
            for name, tensor in self._buffers.items()
            if tensor is not None
        ]
        return "\n".join(line for line in lines if line)


def _is_new_table_tensor(model: Any, name: str, value: Any) -> bool:
    """A plain tensor assigned to a public name that ``torch.nn.Module`` does not manage yet."""
    if not isinstance(value, torch.Tensor) or isinstance(value, torch.nn.Parameter) or name.startswith("_"):
        return False
    module_state = model.__dict__
    if "_buffers" not in module_state:  # before torch.nn.Module.__init__
        return False
    return not any(name in module_state[kind] for kind in ("_buffers", "_parameters", "_modules"))
