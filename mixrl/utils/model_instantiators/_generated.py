"""What every generated model shares, framework-free: its plan, the checks of its dry run, its evaluation.

A generated model is a network of containers and one :class:`Head` per role. A single-role model has one
head (role ``""``) whose token layer is the last module of the last container; a shared model has one per
role, with a ``<role>_layer`` on the last container when the role's output has a token, and at most one
head owning ``log_std_parameter``. A backend supplies the framework: its ops table, the entries of a layer
(modules or Flax entries) and how a container is called; this module plans the heads (units, widths,
log-std), runs and checks the one-sample dry run, evaluates the trunk and builds the model classes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mixrl.utils.model_instantiators._compile import Env, Node, Ops, compile_expression, readers
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._layers import Layer, resolve_units
from mixrl.utils.model_instantiators._shared import Role

HEAD = "#head"  # environment key of a shared-model role head (not an identifier: never a container name)
RNN_STATES = "#rnn"  # environment key of the final recurrent states (never a container name either)
FAILURES = (RuntimeError, ValueError, TypeError, IndexError, KeyError)
_INPUT_HINT = " (index a Dict/Tuple space, e.g. STATES['key'], or concatenate its parts)"


@dataclass(frozen=True)
class LogStd:
    """``log_std_parameter``: (size,) filled with ``initial_log_std``; fixed: not trained (JAX: a constant)."""

    size: int
    initial_log_std: float = 0
    fixed_log_std: bool = False


@dataclass(frozen=True)
class Head:
    """One output of a model (one role): ``<role>_layer`` units (or None), compiled output, the mixin's width."""

    role: str
    what: str  # for messages, e.g. "output 'tanh(ACTIONS)' of role 'policy'"
    layer: int | None
    node: Node
    width: int | None  # the width the mixin needs (None: any)
    log_std: LogStd | None  # this head returns log_std_parameter


@dataclass(frozen=True)
class Step:
    """A container of the plan: its description, compiled input, entries (backend objects) and kind."""

    container: Container
    node: Node
    entries: tuple[Any, ...]
    recurrent: bool
    name: str  # the container's


@dataclass(frozen=True)
class Plan:
    """How a generated model evaluates: token readers, containers, heads by role, the single-forward-pass producer.

    ``producer``: the role whose trunk the next role reuses (torch single forward pass), or None.
    """

    readers: tuple
    steps: tuple[Step, ...]
    heads: Mapping[str, Head]
    single_forward_pass: bool = True
    producer: str | None = None

    @property
    def recurrent(self) -> Step | None:
        """The recurrent container, or None."""
        return next((step for step in self.steps if step.recurrent), None)

    def head(self, model: Any, role: str) -> Head:
        """The head of ``role``; a single-role model serves every role name.

        Raises:
            ValueError: a shared model has no such role.
        """
        if len(self.heads) == 1:
            return next(iter(self.heads.values()))
        if role not in self.heads:
            raise ValueError(f"unknown role {role!r} for {type(model).__name__}: expected one of {list(self.heads)}")
        return self.heads[role]


def spaces_of(model: Any) -> dict[str, Any]:
    """The space tokens of the expression language for ``model``."""
    return {"OBSERVATION_SPACE": model.observation_space, "ACTION_SPACE": model.action_space}


def plan_heads(model: Any, network: Sequence[Container], roles: Sequence[Role], ops: Ops) -> tuple[int | None, dict]:
    """Units of the token layer appended to the last container (single-role models) and the heads by role.

    Raises:
        ValueError: a size token needs a space the model does not have, or ``one_hot_encoding`` of a space
            that is neither Discrete nor MultiDiscrete.
    """
    single, sizes, inline, heads = len(roles) == 1, (model.num_observations, model.num_actions), None, {}
    for role in roles:
        output, units = role.output, None
        if output.token is not None:
            units = resolve_units(output.units or output.token, *sizes)
        size = model.num_actions if units is None else units
        if role.mixin.log_std and size is None:
            raise ValueError(f"{role.mixin.name} needs an action space for the size of log_std_parameter")
        width = size if role.mixin.log_std else None if role.mixin.name == "DeterministicMixin" else model.num_actions
        refs = {output.token: network[-1].name if single else HEAD}
        node = compile_expression(output.expression.tree, refs, spaces_of(model), ops)
        log_std = LogStd(size, **role.log_std) if role.mixin.log_std and size is not None else None
        what = f"output {output.expression.text!r}" + ("" if single else f" of role {role.name!r}")
        heads[role.name] = Head(role.name, what, None if single else units, node, width, log_std)
        inline = units if single else None
    return inline, heads


def checked(what: str, compute: Callable[[], Any], ops: Ops, hint: str = "") -> Any:
    """``compute()`` on the sample of the spaces; a failure or a non-array is an error naming ``what``.

    Raises:
        ValueError: ``compute`` fails or gives something other than the backend's array.
    """
    try:
        value = compute()
    except FAILURES as error:
        raise ValueError(f"{what} fails on a sample of the spaces: {error}") from None
    if not isinstance(value, ops.array):
        noun = "a tensor" if ops.array.__name__ == "Tensor" else "an array"
        raise ValueError(f"{what} gives a {type(value).__name__}, not {noun}{hint}")
    return value


def trace(
    model: Any,
    network: Sequence[Container],
    sample: Mapping[str, Any],
    ops: Ops,
    entries: Callable[[Layer | None, Any, str], list[Any]],
    run: Callable[[Any, Any], Any],
    inline: int | None = None,
) -> tuple[tuple, list[tuple[Container, Node, list[Any]]], Env]:
    """Dry-run the network on ``sample``, layer by layer: token readers, each container's entries, the values.

    Args:
        entries: ``(layer, x, where) -> [layer entry, activation entry]`` for the input ``x`` (``layer`` None:
            the single-role token layer of ``inline`` units).
        run: ``(entry, x) -> y`` (a recurrent entry: one rollout step from zero states).

    Raises:
        ValueError: an input expression or a layer does not fit the spaces (the message names it and the shapes).
    """
    tokens = set().union(*(container.input.tokens for container in network))
    token_readers = readers(tokens, model.observation_space, model.action_space, ops)
    env: Env = {token: read(sample) for token, read in token_readers}
    containers = []
    for i, container in enumerate(network):
        node = compile_expression(container.input.tree, {}, spaces_of(model), ops)
        what = f"container {container.name!r}: input {container.input.text!r}"
        x = checked(what, lambda node=node: node(env), ops, _INPUT_HINT)  # type: ignore[misc]
        if 0 in x.shape[1:]:  # e.g. STATES[:, 100:] of a 3-wide observation
            read = {name: tuple(getattr(env[name], "shape", ())) for name in container.input.tokens}
            raise ValueError(f"{what} is empty (shape {tuple(x.shape)}): an index or slice beyond its inputs {read}")
        built: list[Any] = []
        last = inline is not None and i == len(network) - 1
        for j, layer in enumerate([*container.layers, *([None] if last else [])]):
            where = f"container {container.name!r}, layer {j} ({'output head' if layer is None else layer.kind})"
            for entry in entries(layer, x, where):
                try:
                    x = run(entry, x)
                except FAILURES as error:
                    raise ValueError(f"{where} cannot take an input of shape {tuple(x.shape)}: {error}") from None
                built.append(entry)
        env[container.name] = x
        containers.append((container, node, built))
    return token_readers, containers, env


def check_heads(heads: Mapping[str, Head], env: Env, last: str, layer: Callable[[Head, Any], Any], ops: Ops) -> None:
    """Dry-run every head on the traced values; ``layer(head, x)`` runs its ``<role>_layer``.

    Raises:
        ValueError: an output cannot be computed, is not an array, or has another width than its mixin needs.
    """
    for head in heads.values():
        values = env if head.layer is None else {**env, HEAD: layer(head, env[last])}
        output = checked(head.what, lambda head=head, values=values: head.node(values), ops)  # type: ignore[misc]
        if head.width is not None and output.shape[-1] != head.width:
            raise ValueError(f"{head.what} has {output.shape[-1]} features, expected {head.width} for the mixin")


def build_plan(
    model: Any,
    network: Sequence[Container],
    roles: Sequence[Role],
    ops: Ops,
    entries: Callable[..., list[Any]],
    run: Callable[[Any, Any], Any],
    layer: Callable[[Head, Any], Any],
    dry_run: Callable[[Callable[[Mapping[str, Any]], None]], Any],
    single_forward_pass: bool,
) -> Plan:
    """The plan of a model: its heads planned, then the network and the heads dry-run on a sample of the spaces.

    Args:
        entries: as for :func:`trace`, with the model's ``(num_observations, num_actions)`` and the token
            layer's units before ``where``; ``run``: as for :func:`trace`; ``layer``: as for :func:`check_heads`.
        dry_run: calls its argument on the sample inputs (e.g. inside ``jax.eval_shape``).

    Raises:
        ValueError: the network or an output does not fit the spaces.
    """
    inline, heads = plan_heads(model, network, roles, ops)
    sizes, traced = (model.num_observations, model.num_actions), []

    def check(sample: Mapping[str, Any]) -> None:
        units = lambda layer, x, where: entries(layer, x, sizes, inline or 0, where)  # noqa: E731
        token_readers, containers, env = trace(model, network, sample, ops, units, run, inline)
        check_heads(heads, env, network[-1].name, layer, ops)
        steps = [Step(c, n, tuple(e), bool(c.layers) and c.layers[0].recurrent, c.name) for c, n, e in containers]
        traced.append(Plan(token_readers, tuple(steps), heads, bool(single_forward_pass)))

    dry_run(check)
    return traced[0]


def evaluate(model: Any, plan: Plan, inputs: Mapping[str, Any]) -> Env:
    """Token values and container outputs of one call; a recurrent container reads ``inputs["rnn"]``.

    The backend model provides ``_mixrl_container(step, x)`` and ``_mixrl_recurrent(step, x, states,
    terminated)`` (returns the output and the final states, put under ``RNN_STATES``).

    Raises:
        ValueError: a recurrent model is called without ``inputs["rnn"]``.
    """
    env: Env = {token: read(inputs) for token, read in plan.readers}
    for step in plan.steps:
        x = step.node(env)
        if not step.recurrent:
            env[step.name] = model._mixrl_container(step, x)
            continue
        states = inputs.get("rnn")
        if states is None:
            raise ValueError(
                f"{type(model).__name__} is recurrent: inputs['rnn'] must hold the states shaped as "
                f"get_specification()['rnn']['sizes'] {model.get_specification()['rnn']['sizes']}"
            )
        env[step.name], env[RNN_STATES] = model._mixrl_recurrent(step, x, states, inputs.get("terminated"))
    return env


def head_outputs(model: Any, head: Head, env: Env, layer: Callable[[Any], Any] | None) -> tuple:
    """``(output, log_std_parameter, outputs)`` for the log-std head, else ``(output, outputs)``.

    ``outputs`` holds the final states ``"rnn"`` of a recurrent model (a new dict: mixins add keys).
    """
    if layer is not None:
        env = {**env, HEAD: layer(env[model._plan.steps[-1].name])}
    output, outputs = head.node(env), {"rnn": env[RNN_STATES]} if RNN_STATES in env else {}
    return (output, model.log_std_parameter, outputs) if head.log_std is not None else (output, outputs)


@functools.cache
def model_class(base: type, bases: tuple[type, ...], name: str, function: str) -> type:
    """``class <name>(*bases, base)``: the mixins ahead of the generated base (one class per combination).

    ``function`` names the instantiator that builds it (for the error of a direct call).
    """
    namespace = {
        "__module__": base.__module__,
        "__qualname__": name,
        "__doc__": f"Generated {', '.join(cls.__name__ for cls in bases)} model (built by ``{function}``).",
        "__init__": vars(base)["__init__"],  # before the mixins' own __init__ in the MRO
        "_mixrl_class_key": (bases, name, function),
    }
    return type(name, (*bases, base), namespace)
