"""The evaluation plan of a network, its shape-only dry run, and its evaluation inside a model's ``__call__``.

Each container becomes a :class:`Step`: its compiled input expression and its :class:`~._ops.Op` entries
(layer, activation, layer, ...), the exact entries of its ``flax.linen.Sequential``, so parameter names
follow skrl 1.4 (``<name>_container/layers_<i>``). Flax infers input widths itself; the dry run
(``jax.eval_shape`` on one sample of the spaces: nothing is computed or compiled) checks every layer
against its real input shape, so a bad description fails at construction with a message naming the
container, the layer and the shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp

from mixrl.utils.model_instantiators._compile import Env, Node, compile_expression, readers
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators.jax._ops import LAYER_OPS, OPS, Op, layer_ops
from mixrl.utils.model_instantiators.jax._recurrent import Recurrent, RecurrentSequential
from mixrl.utils.spaces.jax import compute_space_size, flatten_tensorized_space, sample_space

_FAILURES = (RuntimeError, ValueError, TypeError, IndexError, KeyError)
HEAD = "#head"  # environment key of a shared-model role head (not an identifier: never a container name)
RNN_STATES = "#rnn"  # environment key of the final recurrent states (never a container name either)


@dataclass(frozen=True)
class Step:
    """A container of the evaluation plan: its description, compiled input and Sequential entries."""

    container: Container
    node: Node
    ops: tuple[Op, ...]

    @property
    def name(self) -> str:
        return self.container.name

    @property
    def recurrent(self) -> bool:
        """The container starts with a recurrent layer (its module is a ``RecurrentSequential``)."""
        return bool(self.ops) and self.ops[0].kind == "Recurrent"

    def build(self) -> nn.Sequential:
        """A fresh container module (inside the model's ``setup()``)."""
        return (RecurrentSequential if self.recurrent else nn.Sequential)([op.build() for op in self.ops])


@dataclass(frozen=True)
class Head:
    """An output of the model (a role of a shared model): ``<role>_layer`` units (or None), compiled expression."""

    what: str  # for messages, e.g. "output 'tanh(ACTIONS)' of role 'policy'"
    layer: int | None
    node: Node
    width: int | None  # the width the mixin needs (None: any)


def plan_network(network: Sequence[Container], model: Any, head: int | None = None) -> tuple[tuple, tuple[Step, ...]]:
    """Token readers and one :class:`Step` per container; ``head`` units are appended to the last container.

    Raises:
        ValueError: a size token needs a space the model does not have, a recurrent layer asks for
            ``bias=False``, or ``one_hot_encoding`` reads a space that is not Discrete / MultiDiscrete.
    """
    sizes = (model.num_observations, model.num_actions)
    tokens = set().union(*(container.input.tokens for container in network))
    steps = []
    for i, container in enumerate(network):
        ops = []
        for j, layer in enumerate(container.layers):
            ops += layer_ops(layer, sizes, f"container {container.name!r}, layer {j} ({layer.kind})")
        if head is not None and i == len(network) - 1:
            ops.append(Op("Dense", (("features", head), ("use_bias", True))))
        node = compile_expression(container.input.tree, {}, spaces_of(model), OPS)
        steps.append(Step(container, node, tuple(ops)))
    return readers(tokens, model.observation_space, model.action_space, OPS), tuple(steps)


def spaces_of(model: Any) -> dict[str, Any]:
    """The space tokens of the expression language for ``model``."""
    return {"OBSERVATION_SPACE": model.observation_space, "ACTION_SPACE": model.action_space}


def sample_structs(model: Any) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of a flat batch of one sample per space: ``{"states": (1, S), "taken_actions": (1, A)}``."""
    inputs = {}
    for key, space in (("states", model.observation_space), ("taken_actions", model.action_space)):
        if isinstance(space, gymnasium.Space):
            flat = flatten_tensorized_space(sample_space(space, batch_size=1, seed=0), _jax=False)
            inputs[key] = jax.ShapeDtypeStruct(flat.shape, jax.dtypes.canonicalize_dtype(flat.dtype))
        elif space is not None:
            inputs[key] = jax.ShapeDtypeStruct((1, compute_space_size(space)), jnp.float32)
    return inputs


def _check_op(op: Op, x: jax.ShapeDtypeStruct, where: str) -> None:
    if op.kind == "Recurrent" and len(x.shape) != 2:
        raise ValueError(
            f"{where}: a recurrent layer needs a (batch, features) input, got shape {tuple(x.shape)} "
            "(flatten it in an earlier container)"
        )
    if op.kind == "Conv" and len(x.shape) != 4:
        raise ValueError(
            f"{where}: conv2d needs a (batch, height, width, channels) input (NHWC), got shape {tuple(x.shape)} "
            "(JAX convolutions read NHWC images: no permute needed)"
        )
    for key, declared in op.declared:
        if declared != x.shape[-1]:
            raise ValueError(f"{where}: {key}={declared!r} but the layer's input has {x.shape[-1]}")


def _run_op(op: Op, x: jax.Array, key: jax.Array) -> jax.Array:
    entry = op.build()
    if isinstance(entry, Recurrent):  # one rollout step from zero states
        return entry.init_with_output(key, x, None)[0][0]
    return entry.init_with_output(key, x)[0] if isinstance(entry, nn.Module) else entry(x)


def _run_steps(token_readers: tuple, steps: Sequence[Step], inputs: Mapping[str, Any], key: jax.Array) -> Env:
    env: Env = {token: read(inputs) for token, read in token_readers}
    for step in steps:
        try:
            x = step.node(env)
        except _FAILURES as error:
            raise ValueError(
                f"container {step.name!r}: input {step.container.input.text!r} fails on a sample of the spaces: {error}"
            ) from None
        if not isinstance(x, jax.Array):
            raise ValueError(
                f"container {step.name!r}: input {step.container.input.text!r} gives a {type(x).__name__}, "
                "not an array (index a Dict/Tuple space, e.g. STATES['key'], or concatenate its parts)"
            )
        layer, layers = -1, step.container.layers
        for op in step.ops:
            layer += op.kind in LAYER_OPS  # an activation belongs to the layer before it
            kind = layers[layer].kind if layer < len(layers) else "output head"
            where = f"container {step.name!r}, layer {layer} ({kind})"
            _check_op(op, x, where)
            try:
                x = _run_op(op, x, key)
            except _FAILURES as error:
                raise ValueError(f"{where} cannot take an input of shape {tuple(x.shape)}: {error}") from None
        env[step.name] = x
    return env


def _run_head(head: Head, env: Env, last: str, key: jax.Array) -> None:
    if head.layer is not None:
        env = {**env, HEAD: _run_op(Op("Dense", (("features", head.layer),)), env[last], key)}
    try:
        output = head.node(env)
    except _FAILURES as error:
        raise ValueError(f"{head.what} fails on a sample of the spaces: {error}") from None
    if not isinstance(output, jax.Array):
        raise ValueError(f"{head.what} gives a {type(output).__name__}, not an array")
    if head.width is not None and output.shape[-1] != head.width:
        raise ValueError(f"{head.what} has {output.shape[-1]} features, expected {head.width} for the mixin")


def dry_run(model: Any, token_readers: tuple, steps: Sequence[Step], heads: Sequence[Head]) -> None:
    """Trace the network and every head on one sample of the spaces (shapes only: nothing is computed).

    Raises:
        ValueError: an input expression, a layer or an output does not fit the spaces, or an output's width is
            not the one its mixin needs (the message names it and the shapes).
    """
    key = jax.random.PRNGKey(0)

    def run(inputs: Mapping[str, Any]) -> None:
        env = _run_steps(token_readers, steps, inputs, key)
        for head in heads:
            _run_head(head, env, steps[-1].name, key)

    jax.eval_shape(run, sample_structs(model))


def evaluate(module: nn.Module, token_readers: tuple, steps: Sequence[Step], inputs: Mapping[str, Any]) -> Env:
    """Token values and the outputs of every container of ``module`` (inside its ``__call__``).

    A recurrent container reads ``inputs["rnn"]`` (and ``inputs["terminated"]`` in training) and puts the
    final states under ``RNN_STATES``.

    Raises:
        ValueError: a recurrent model is called without ``inputs["rnn"]``.
    """
    env: Env = {token: read(inputs) for token, read in token_readers}
    for step in steps:
        x = step.node(env)
        if not step.ops:
            env[step.name] = x
        elif step.recurrent:
            states = inputs.get("rnn")
            if states is None:
                raise ValueError(
                    f"{type(module).__name__} is recurrent: inputs['rnn'] must hold the states shaped as "
                    f"get_specification()['rnn']['sizes'] {module.get_specification()['rnn']['sizes']}"
                )
            container = getattr(module, f"{step.name}_container")
            terminated, length = inputs.get("terminated"), module.sequence_length
            env[step.name], env[RNN_STATES] = container(x, states, terminated, length, module.training)
        else:
            env[step.name] = getattr(module, f"{step.name}_container")(x)
    return env
