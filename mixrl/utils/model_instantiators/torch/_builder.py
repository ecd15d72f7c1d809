"""Torch modules of a description: materialised layers whose input widths come from a one-sample dry run.

Every container is built and run on a CPU batch of one sample of the spaces, layer by layer, so each
layer is created with its real input width (no lazy modules): an optimizer can be created right after
construction. The caller moves the finished model to its device. A recurrent layer (always the first
of its container) is run through :func:`~mixrl.models.torch.rnn.sequence_forward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import torch

from mixrl.models.torch.rnn import sequence_forward
from mixrl.utils.model_instantiators._compile import Env, Node, compile_expression, readers
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._layers import Layer, resolve_units
from mixrl.utils.model_instantiators.torch._ops import ACTIVATION_MODULES, OPS
from mixrl.utils.spaces.torch import compute_space_size, flatten_tensorized_space, sample_space

_RECURRENT_MODULES = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}
_FAILURES = (RuntimeError, ValueError, TypeError, IndexError, KeyError)
RNN_STATES = "#rnn"  # environment key of the final recurrent states (not an identifier: never a container name)


class RecurrentStep:
    """A recurrent container: its first layer through ``sequence_forward``, then the rest of its modules.

    Not a module: it refers to the modules of the registered container, so the state dict is unchanged.
    """

    __slots__ = ("rnn", "rest")

    def __init__(self, container: torch.nn.Sequential) -> None:
        self.rnn = container[0]
        self.rest = torch.nn.Sequential(*list(container)[1:])

    def __call__(
        self, x: torch.Tensor, states: Any, terminated: Any, sequence_length: int, training: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(output (rows, features), final states)`` for ``x`` (rows, F); see ``sequence_forward``."""
        out, final = sequence_forward(
            self.rnn, x, states, terminated=terminated, sequence_length=sequence_length, training=training
        )
        return self.rest(out), final


Step = tuple[str, "torch.nn.Module | RecurrentStep", Node]


def sample_inputs(model: Any) -> dict[str, torch.Tensor]:
    """A flat float32 CPU batch of one valid sample per space: ``{"states": (1, S), "taken_actions": (1, A)}``."""
    inputs = {}
    for key, space in (("states", model.observation_space), ("taken_actions", model.action_space)):
        if isinstance(space, gymnasium.Space):
            sample = sample_space(space, batch_size=1, backend="native", device="cpu", seed=0)
            inputs[key] = flatten_tensorized_space(sample).float()
        elif space is not None:
            inputs[key] = torch.zeros(1, compute_space_size(space))
    return inputs


def spaces_of(model: Any) -> dict[str, Any]:
    """The space tokens of the expression language for ``model``."""
    return {"OBSERVATION_SPACE": model.observation_space, "ACTION_SPACE": model.action_space}


def _declared(layer: Layer, key: str, actual: int, sizes: tuple[Any, Any], where: str) -> None:
    declared = layer.args.get(key)
    if declared is not None and resolve_units(declared, *sizes) != actual:
        raise ValueError(f"{where}: {key}={declared!r} but the layer's input has {actual}")


def layer_module(layer: Layer, x: torch.Tensor, sizes: tuple[Any, Any], where: str) -> torch.nn.Module:
    """The module of ``layer`` for the input ``x`` (its width fills ``in_features`` / ``in_channels``).

    Raises:
        ValueError: a declared input width differs from the actual one, or conv2d gets a non-image input.
    """
    args = {key: value for key, value in layer.args.items() if key not in ("in_features", "in_channels", "input_size")}
    if layer.recurrent:
        if x.ndim != 2:
            raise ValueError(
                f"{where}: a {layer.kind} layer needs a (batch, features) input, got shape {tuple(x.shape)} "
                "(flatten it in an earlier container)"
            )
        _declared(layer, "input_size", x.shape[-1], sizes, where)
        return _RECURRENT_MODULES[layer.kind](x.shape[-1], batch_first=True, **args)
    if layer.kind == "linear":
        _declared(layer, "in_features", x.shape[-1], sizes, where)
        out_features = resolve_units(args.pop("out_features"), *sizes)
        return torch.nn.Linear(x.shape[-1], out_features, **args)
    if layer.kind == "conv2d":
        if x.ndim not in (3, 4):
            raise ValueError(
                f"{where}: conv2d needs a (batch, channels, height, width) input, got shape {tuple(x.shape)} "
                "(NHWC images: permute(STATES, (0, 3, 1, 2)))"
            )
        _declared(layer, "in_channels", x.shape[-3], sizes, where)
        return torch.nn.Conv2d(x.shape[-3], **args)
    return torch.nn.Flatten(**args)


def _container(container: Container, x: torch.Tensor, sizes: tuple[Any, Any], head: int | None) -> torch.nn.Sequential:
    modules = []
    for i, layer in enumerate(container.layers):
        where = f"container {container.name!r}, layer {i} ({layer.kind})"
        module = layer_module(layer, x, sizes, where)
        try:
            x = (
                sequence_forward(module, x, None, sequence_length=1, training=False)[0]
                if layer.recurrent
                else module(x)
            )
        except _FAILURES as error:
            raise ValueError(f"{where} cannot take an input of shape {tuple(x.shape)}: {error}") from None
        modules.append(module)
        if layer.activation is not None:
            modules.append(ACTIVATION_MODULES[layer.activation]())
    if head is not None:
        modules.append(torch.nn.Linear(x.shape[-1], head))
    return torch.nn.Sequential(*modules)


def build_containers(model: torch.nn.Module, network: Sequence[Container], head: int | None = None) -> Env:
    """Create ``<name>_container`` modules on ``model`` and its evaluation plan; return the dry-run values.

    Sets ``model._mixrl_readers`` (token readers), ``model._mixrl_steps`` (name, container or
    :class:`RecurrentStep`, input node) and ``model._mixrl_recurrent`` (the recurrent step or None). The
    dry run is a one-step rollout; the returned values hold the final recurrent states under ``RNN_STATES``.

    Args:
        head: units of a linear layer appended to the last container (single-role token output), or None.

    Raises:
        ValueError: an input expression or a layer does not fit the spaces (the message names it and the shapes).
    """
    sizes = (model.num_observations, model.num_actions)
    tokens = set().union(*(container.input.tokens for container in network))
    model._mixrl_readers = readers(tokens, model.observation_space, model.action_space, OPS)
    sample = sample_inputs(model)
    steps: list[Step] = []
    model._mixrl_recurrent = None
    with torch.no_grad():
        env: Env = {token: read(sample) for token, read in model._mixrl_readers}
        for i, container in enumerate(network):
            node = compile_expression(container.input.tree, {}, spaces_of(model), OPS)
            try:
                x = node(env)
            except _FAILURES as error:
                raise ValueError(
                    f"container {container.name!r}: input {container.input.text!r} fails on a sample of the spaces: "
                    f"{error}"
                ) from None
            if not isinstance(x, torch.Tensor):
                raise ValueError(
                    f"container {container.name!r}: input {container.input.text!r} gives a {type(x).__name__}, "
                    "not a tensor (index a Dict/Tuple space, e.g. STATES['key'], or concatenate its parts)"
                )
            module = _container(container, x, sizes, head if i == len(network) - 1 else None)
            setattr(model, f"{container.name}_container", module)
            if container.layers and container.layers[0].recurrent:
                step = model._mixrl_recurrent = RecurrentStep(module)
                env[container.name], env[RNN_STATES] = step(x, None, None, 1, False)
                steps.append((container.name, step, node))
            else:
                env[container.name] = module(x)
                steps.append((container.name, module, node))
    model._mixrl_steps = steps
    return env


def evaluate_output(node: Node, env: Env, what: str, width: int | None) -> torch.Tensor:
    """Dry-run an output node and check its last dimension against ``width`` (None: any).

    Raises:
        ValueError: the output cannot be computed, is not a tensor, or has the wrong width.
    """
    try:
        with torch.no_grad():
            output = node(env)
    except _FAILURES as error:
        raise ValueError(f"{what} fails on a sample of the spaces: {error}") from None
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"{what} gives a {type(output).__name__}, not a tensor")
    if width is not None and output.shape[-1] != width:
        raise ValueError(f"{what} has {output.shape[-1]} features, expected {width} for the mixin")
    return output
