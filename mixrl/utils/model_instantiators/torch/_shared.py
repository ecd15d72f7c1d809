"""The generated shared model: one trunk, one head per role, optional single forward pass.

Heads are ``<role>_layer`` modules when a role's output has a token. With ``single_forward_pass`` the trunk
computed by the first role is reused by the next role on the same states; for a recurrent trunk
the cache also keys on the recurrent inputs, and every role returns the same final states.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixrl._logging import logger
from mixrl.models.torch.base import Model
from mixrl.utils.model_instantiators._compile import Env, Node, compile_expression
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._kinds import RECURRENT_PARAMETERS
from mixrl.utils.model_instantiators._layers import resolve_units
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.model_instantiators.torch._builder import build_containers, evaluate_output, spaces_of
from mixrl.utils.model_instantiators.torch._models import MIXIN_CLASSES, Generated
from mixrl.utils.model_instantiators.torch._ops import OPS

_HEAD = "#head"  # environment key of a shared-model role head (not an identifier: never a container name)


class _Head:
    """One role of a shared model: optional ``<role>_layer`` on the last container, output node, log-std flag."""

    __slots__ = ("layer", "last", "output", "log_std")

    def __init__(self, layer: torch.nn.Module | None, last: str, output: Node, log_std: bool) -> None:
        self.layer, self.last, self.output, self.log_std = layer, last, output, log_std

    def __call__(self, model: Model, env: Env) -> tuple:
        if self.layer is not None:
            env = {**env, _HEAD: self.layer(env[self.last])}
        output, outputs = self.output(env), model._mixrl_outputs(env)
        return (output, model.log_std_parameter, outputs) if self.log_std else (output, outputs)


class _Shared(Generated):
    """A generated multi-role model: one trunk, one head per role, optional single forward pass."""

    _mixrl_bases: tuple[type, ...] = ()

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        device: Any,
        network: Sequence[Container],
        roles: Sequence[Role],
        single_forward_pass: bool = True,
        recurrent: Mapping[str, int] = RECURRENT_PARAMETERS,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device)
        for role in roles:
            MIXIN_CLASSES[role.mixin.name].__init__(self, **role.kwargs, role=role.name)
        env = build_containers(self, network)
        last = network[-1].name
        self._mixrl_heads: dict[str, _Head] = {}
        for role in roles:
            output, layer, units = role.output, None, None
            if output.token is not None:
                units = resolve_units(output.units, self.num_observations, self.num_actions)
                layer = torch.nn.Linear(env[last].shape[-1], units)
                setattr(self, f"{role.name}_layer", layer)
            if role.mixin.log_std:
                self._mixrl_log_std(self.num_actions if units is None else units, **role.log_std)
            node = compile_expression(output.expression.tree, {output.token: _HEAD}, spaces_of(self), OPS)
            head = self._mixrl_heads[role.name] = _Head(layer, last, node, role.mixin.log_std)
            width = self._mixrl_width(role.mixin, self.num_actions if units is None else units)
            with torch.no_grad():
                role_env = env if layer is None else {**env, _HEAD: layer(env[last])}
            evaluate_output(head.output, role_env, f"output {output.expression.text!r} of role {role.name!r}", width)
        self._mixrl_producer = roles[0].name if single_forward_pass else None
        if single_forward_pass and any(token != "STATES" for token, _ in self._mixrl_readers):
            logger.warning("shared_model: the trunk reads ACTIONS, so single_forward_pass is off (it keys on states)")
            self._mixrl_producer = None
        self._mixrl_rnn_key: list[tuple] | None = None
        self._mixrl_finish(recurrent)
        self.to(self.device)

    def compute(self, inputs: Mapping[str, Any], role: str = "") -> tuple:
        """Trunk (cached between the producer role and the next role on the same states), then the role's head."""
        head = self._mixrl_heads.get(role)
        if head is None:
            raise ValueError(
                f"unknown role {role!r} for {type(self).__name__}: expected one of {list(self._mixrl_heads)}"
            )
        if self._mixrl_producer is None:
            return head(self, self._mixrl_trunk(inputs))
        if self._mixrl_recurrent is not None:
            self._mixrl_match_rnn_inputs(role, inputs)
        env = self.shared_cache(role, inputs["states"], lambda _: self._mixrl_trunk(inputs), self._mixrl_producer)
        return head(self, env)

    def _mixrl_match_rnn_inputs(self, role: str, inputs: Mapping[str, Any]) -> None:
        """Extend the single-forward-pass key (the states) with the recurrent inputs.

        The producer records ``inputs["rnn"]`` and ``inputs["terminated"]`` (identity, version, storage); a
        consumer whose recurrent inputs are not those same, unchanged tensors drops the cached trunk, so it
        is recomputed. PPO-style agents pass one state list to both roles and keep the reuse.
        """
        states = inputs.get("rnn")
        tensors = [*(() if states is None else states), inputs.get("terminated")]
        key = [(t, t._version, t.data_ptr()) if isinstance(t, torch.Tensor) else (t,) for t in tensors]
        if role == self._mixrl_producer:
            self._mixrl_rnn_key = key
            return
        stored, self._mixrl_rnn_key = self._mixrl_rnn_key, None
        if (
            stored is None
            or len(stored) != len(key)
            or any(a[0] is not b[0] or a[1:] != b[1:] for a, b in zip(stored, key, strict=False))
        ):
            self._mixrl_shared = None

    def __reduce_ex__(self, protocol: int) -> tuple:
        """Pickle/deepcopy through the mixin bases (the class is built at run time)."""
        return _new_shared, (self._mixrl_bases,), self.__dict__


@functools.cache
def shared_class(bases: tuple[type, ...]) -> type:
    """``class SharedModel(*bases, Model)`` for the given mixins (one class per combination)."""
    namespace = {"__module__": __name__, "__qualname__": "SharedModel", "_mixrl_bases": bases}
    namespace["__init__"] = _Shared.__init__  # before the mixins' own __init__ in the MRO
    return type("SharedModel", (*bases, _Shared), namespace)


def _new_shared(bases: tuple[type, ...]) -> _Shared:
    cls = shared_class(bases)
    return cls.__new__(cls)
