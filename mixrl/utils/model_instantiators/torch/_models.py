"""The torch model classes built by the instantiators: materialised layers from a one-sample dry run.

Every layer is created with its real input width (no lazy modules). State-dict names follow skrl 1.4:
``<name>_container.<i>.*``, ``<role>_layer.*``, ``log_std_parameter``. A recurrent layer runs through
:func:`~mixrl.models.torch.rnn.sequence_forward` (the recurrent-model contract). With ``single_forward_pass``
the trunk computed by a shared model's first role is reused by the next role on the same inputs.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, cast

import gymnasium
import torch

from mixrl._logging import logger
from mixrl.models.torch.base import Model
from mixrl.models.torch.rnn import rnn_specification, sequence_forward
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._generated import Step, build_plan, evaluate, head_outputs, model_class
from mixrl.utils.model_instantiators._kinds import RECURRENT_PARAMETERS, mixin_classes
from mixrl.utils.model_instantiators._layers import Layer, check_input, resolve_units
from mixrl.utils.model_instantiators._persistence import DescribedModel
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.model_instantiators.torch._ops import ACTIVATION_MODULES, OPS
from mixrl.utils.spaces.torch import compute_space_size, flatten_tensorized_space, sample_space

MIXIN_CLASSES = mixin_classes("mixrl.models.torch")
_RECURRENT_MODULES = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}


def sample_inputs(model: Any) -> dict[str, torch.Tensor]:
    """A flat float32 CPU batch of one valid sample per space: ``{"states": (1, S), "taken_actions": (1, A)}``."""
    inputs: dict[str, Any] = {}
    for key, space in (("states", model.observation_space), ("taken_actions", model.action_space)):
        if isinstance(space, gymnasium.Space):
            sample = sample_space(space, batch_size=1, backend="native", device="cpu", seed=0)
            inputs[key] = cast(torch.Tensor, flatten_tensorized_space(sample)).float()
        elif space is not None:
            inputs[key] = torch.zeros(1, compute_space_size(space))
    return inputs


_IMAGE = ((3, 4), -3, "(batch, channels, height, width)", "(NHWC images: permute(STATES, (0, 3, 1, 2)))")


def layer_modules(layer: Layer | None, x: torch.Tensor, sizes: tuple[Any, Any], head: int, where: str) -> list[Any]:
    """The module of ``layer`` for the input ``x`` (its width fills ``in_features`` / ``in_channels``), then
    its activation module; ``layer`` None is the single-role token layer of ``head`` units.

    Raises:
        ValueError: from :func:`.._layers.check_input`.
    """
    if layer is None:
        return [torch.nn.Linear(x.shape[-1], head)]
    check_input(layer, tuple(x.shape), sizes, where, _IMAGE)
    args = {key: value for key, value in layer.args.items() if key not in ("in_features", "in_channels", "input_size")}
    if layer.recurrent:
        module: torch.nn.Module = _RECURRENT_MODULES[layer.kind](x.shape[-1], batch_first=True, **args)
    elif layer.kind == "linear":
        module = torch.nn.Linear(x.shape[-1], resolve_units(args.pop("out_features"), *sizes), **args)
    elif layer.kind == "conv2d":
        module = torch.nn.Conv2d(x.shape[-3], **args)
    else:
        module = torch.nn.Flatten(**args)
    return [module] if layer.activation is None else [module, ACTIVATION_MODULES[layer.activation]()]


def _run(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(module, torch.nn.RNNBase):  # one rollout step from zero states
        return sequence_forward(module, x, None, sequence_length=1, training=False)[0]  # type: ignore[arg-type]
    return module(x)


class Generated(DescribedModel, Model):
    """A generated model: containers, one head per role, optional single forward pass (shared models)."""

    _mixrl_class_key: tuple[tuple[type, ...], str, str]

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
            mixin: Any = MIXIN_CLASSES[role.mixin.name]
            mixin.__init__(self, **role.kwargs, role=role.name)
        layers: dict[str, Any] = {}  # the <role>_layer modules, made for the dry run's trunk width
        linear = lambda head, x: layers.setdefault(head.role, torch.nn.Linear(x.shape[-1], head.layer))(x)  # noqa: E731
        sample = lambda check: check(sample_inputs(self))  # noqa: E731
        with torch.no_grad():
            plan = build_plan(self, network, roles, OPS, layer_modules, _run, linear, sample, single_forward_pass)
        for step in plan.steps:
            setattr(self, f"{step.name}_container", torch.nn.Sequential(*step.entries))
        for head in plan.heads.values():
            if head.layer is not None:
                setattr(self, f"{head.role}_layer", layers[head.role])
            if head.log_std is not None:
                data = torch.full((head.log_std.size,), float(head.log_std.initial_log_std))
                self.log_std_parameter = torch.nn.Parameter(data, requires_grad=not head.log_std.fixed_log_std)
        producer = roles[0].name if single_forward_pass and len(roles) > 1 else None
        if producer is not None and any(token != "STATES" for token, _ in plan.readers):
            logger.warning("shared_model: the trunk reads ACTIONS, so single_forward_pass is off (it keys on states)")
            producer = None
        self._plan = dataclasses.replace(plan, producer=producer)
        self._mixrl_rnn_key: list[tuple] | None = None
        self._mixrl_set_recurrent(recurrent)
        self.to(self.device)

    def get_specification(self) -> dict[str, Any]:
        """``{"rnn": {"sequence_length": L, "sizes": [(num_layers, num_envs, H), ...]}}`` if recurrent, else ``{}``."""
        step = self._plan.recurrent
        if step is None:
            return {}
        rnn = getattr(self, f"{step.name}_container")[0]
        return rnn_specification(rnn, self.num_envs, self.sequence_length)

    def _mixrl_container(self, step: Step, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"{step.name}_container")(x)

    def _mixrl_recurrent(self, step: Step, x: torch.Tensor, states: Any, terminated: Any) -> tuple:
        container = getattr(self, f"{step.name}_container")
        out, final = sequence_forward(
            container[0], x, states, terminated=terminated, sequence_length=self.sequence_length, training=self.training
        )
        for module in itertools.islice(container, 1, None):
            out = module(out)
        return out, final

    def compute(self, inputs: Mapping[str, Any], role: str = "") -> tuple:
        """The trunk (cached between the producer role and the next role on the same states), then the head.

        Returns:
            ``(output, log_std_parameter, outputs)`` for the Gaussian kinds, else ``(output, outputs)``.

        Raises:
            ValueError: ``role`` is not one of a shared model's roles.
        """
        plan = self._plan
        head = plan.head(self, role)
        if plan.producer is None:
            env = evaluate(self, plan, inputs)
        else:
            if plan.recurrent is not None:
                self._mixrl_match_rnn_inputs(role, inputs)
            env = self.shared_cache(role, inputs["states"], lambda _: evaluate(self, plan, inputs), plan.producer)
        return head_outputs(self, head, env, None if head.layer is None else getattr(self, f"{head.role}_layer"))

    def _mixrl_match_rnn_inputs(self, role: str, inputs: Mapping[str, Any]) -> None:
        """Extend the single-forward-pass key (the states) with the recurrent inputs.

        The producer records ``inputs["rnn"]`` and ``inputs["terminated"]`` (identity, version, storage); a
        consumer whose recurrent inputs are not those same, unchanged tensors drops the cached trunk, so it
        is recomputed. PPO-style agents pass one state list to both roles and keep the reuse.
        """
        states = inputs.get("rnn")
        tensors = [*(() if states is None else states), inputs.get("terminated")]
        key = [(t, t._version, t.data_ptr()) if isinstance(t, torch.Tensor) else (t,) for t in tensors]
        if role == self._plan.producer:
            self._mixrl_rnn_key = key
            return
        stored, self._mixrl_rnn_key = self._mixrl_rnn_key or [], None  # no record: a length mismatch
        if len(stored) != len(key) or any(a[0] is not b[0] or a[1:] != b[1:] for a, b in zip(stored, key, strict=True)):
            self._mixrl_shared = None

    def __reduce_ex__(self, protocol: Any) -> tuple:
        """Pickle/deepcopy through the mixin bases (the class is built at run time)."""
        return _new, self._mixrl_class_key, self.__dict__


def _new(bases: tuple[type, ...], name: str, function: str) -> Generated:
    cls: Any = model_class(Generated, bases, name, function)
    return cls.__new__(cls)
