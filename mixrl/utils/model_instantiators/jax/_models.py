"""The Flax model classes built by the JAX instantiators, and their shape-only dry run.

A generated model is a setup-style Flax module: ``setup()`` creates one ``nn.Sequential`` per container
(``<name>_container``, the plan's :class:`~._ops.Op` entries ``layers_<i>``, named as in skrl 1.4), the
``<role>_layer`` Dense heads and ``log_std_parameter``. The dry run is ``jax.eval_shape`` on one sample of the
spaces (nothing computed). The plan lives in the plain attribute ``_plan``, which ``Model.clone`` copies to
Flax's clones. No cache outlives one ``apply`` under jit, so ``single_forward_pass`` is only recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp

from mixrl.models.jax import Model
from mixrl.models.jax.rnn import Recurrent, state_shapes
from mixrl.utils.model_instantiators._description import Container
from mixrl.utils.model_instantiators._generated import Step, build_plan, evaluate, head_outputs
from mixrl.utils.model_instantiators._kinds import RECURRENT_PARAMETERS, mixin_classes
from mixrl.utils.model_instantiators._layers import Layer, check_input
from mixrl.utils.model_instantiators._shared import Role
from mixrl.utils.model_instantiators._twin import DescribedJaxModel
from mixrl.utils.model_instantiators.jax._ops import OPS, Op, RecurrentSequential, layer_ops
from mixrl.utils.spaces.jax import compute_space_size, flatten_tensorized_space, sample_space

MIXIN_CLASSES = mixin_classes("mixrl.models.jax")
_KEY = jax.random.PRNGKey(0)


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


_IMAGE = ((4,), -1, "(batch, height, width, channels)", "(NHWC, as JAX convolutions read images: no permute needed)")


def _entries(layer: Layer | None, x: jax.Array, sizes: tuple[Any, Any], head: int, where: str) -> list[Op]:
    """The Sequential entries of ``layer`` checked against the input ``x`` (None: the token layer of ``head``).

    Raises:
        ValueError: from :func:`.._layers.check_input`.
    """
    if layer is None:
        return [Op("Dense", (("features", head), ("use_bias", True)))]
    check_input(layer, tuple(x.shape), sizes, where, _IMAGE)
    return layer_ops(layer, sizes, where)


def _run(op: Op, x: jax.Array) -> jax.Array:
    entry: Any = op.build()
    if isinstance(entry, Recurrent):  # one rollout step from zero states
        return entry.init_with_output(_KEY, x, None)[0][0]
    return entry.init_with_output(_KEY, x)[0] if isinstance(entry, nn.Module) else entry(x)


class Generated(DescribedJaxModel, Model):
    """A generated model: containers and one head per role (``model_class`` adds the mixins as bases).

    Class attribute ``_mixrl_class_key`` (not annotated: Flax makes annotated attributes dataclass fields).
    """

    _mixrl_class_key = ((), "", "")

    def __init__(
        self,
        observation_space: Any = None,
        action_space: Any = None,
        device: Any = None,
        network: Sequence[Container] = (),
        roles: Sequence[Role] = (),
        single_forward_pass: bool = True,
        recurrent: Mapping[str, int] = RECURRENT_PARAMETERS,
        parent: Any = None,
        name: str | None = None,
    ) -> None:
        Model.__init__(self, observation_space, action_space, device, parent, name)
        if not roles:  # Flax's clone: the plan is copied after
            if parent is None:
                function = self._mixrl_class_key[2]
                raise TypeError(f"{type(self).__name__} is built by the instantiators: call {function}(...) instead")
            nn.Module.__post_init__(self)
            return
        dense = lambda head, x: _run(Op("Dense", (("features", head.layer),)), x)  # noqa: E731
        dry_run = lambda check: jax.eval_shape(check, sample_structs(self))  # noqa: E731
        self._plan = build_plan(self, network, roles, OPS, _entries, _run, dense, dry_run, single_forward_pass)
        self._mixrl_set_recurrent(recurrent)
        for role in roles:
            mixin: Any = MIXIN_CLASSES[role.mixin.name]
            mixin.__init__(self, **role.kwargs, role=role.name)

    def setup(self) -> None:
        plan = self._plan
        for step in plan.steps:
            if step.entries:
                container = RecurrentSequential if step.recurrent else nn.Sequential
                setattr(self, f"{step.name}_container", container([op.build() for op in step.entries]))
        for head in plan.heads.values():
            if head.layer is not None:
                setattr(self, f"{head.role}_layer", nn.Dense(head.layer))
            if head.log_std is not None:
                initial = jnp.full((head.log_std.size,), float(head.log_std.initial_log_std), dtype=jnp.float32)
                fixed, value = head.log_std.fixed_log_std, functools.partial(lambda _, value: value, value=initial)
                self.log_std_parameter = initial if fixed else self.param("log_std_parameter", value)

    def __call__(self, inputs: Mapping[str, Any], role: str = "") -> tuple:
        """The trunk, then the head of ``role``: ``(output, log_std_parameter, outputs)`` or ``(output, outputs)``.

        ``output`` is (batch, units); ``outputs`` holds the final states ``"rnn"`` of a recurrent model, else is empty.

        Raises:
            ValueError: ``role`` is not one of a shared model's roles.
        """
        head = self._plan.head(self, role)
        env = evaluate(self, self._plan, inputs)
        return head_outputs(self, head, env, None if head.layer is None else getattr(self, f"{head.role}_layer"))

    @nn.nowrap
    def _mixrl_container(self, step: Step, x: jax.Array) -> jax.Array:
        return getattr(self, f"{step.name}_container")(x) if step.entries else x

    @nn.nowrap
    def _mixrl_recurrent(self, step: Step, x: jax.Array, states: Any, terminated: Any) -> tuple:
        container = getattr(self, f"{step.name}_container")
        return container(x, states, terminated, self.sequence_length, self.training)

    @nn.nowrap
    def get_specification(self) -> dict[str, Any]:
        """``{"rnn": {"sequence_length": L, "sizes": [(num_layers, num_envs, H), ...]}}`` if recurrent, else ``{}``."""
        step = self._plan.recurrent
        if step is None:
            return {}
        args = dict(step.entries[0].args)
        rnn = Recurrent(args["kind"], args["hidden_size"], args["num_layers"], parent=None)
        return {"rnn": {"sequence_length": self.sequence_length, "sizes": state_shapes(rnn, self.num_envs)}}

    @nn.nowrap
    def init_state_dict(
        self, role: str | Sequence[str] = "", inputs: Mapping[str, Any] = {}, key: jax.Array | None = None
    ) -> None:
        """Create ``state_dict`` (see :meth:`Model.init_state_dict`); harmless on an initialised model.

        The instantiators return models already initialised with their own key. Calling this again without
        ``inputs`` and ``key`` (e.g. a runner initialising every role) keeps the parameters, as the torch
        instantiated models do; pass a ``key`` to draw new ones. A recurrent model is initialised in the rollout
        layout, from zero states when ``inputs`` has no ``"rnn"``.
        """
        if key is None and not inputs and self.__dict__.get("_mixrl_state_dict") is not None:
            return
        if self._plan.recurrent is None:
            Model.init_state_dict(self, role, inputs, key)
            return
        inputs = dict(inputs) or {name: jnp.zeros(s.shape, s.dtype) for name, s in sample_structs(self).items()}
        if "rnn" not in inputs:
            rows = jnp.shape(inputs["states"])[0]
            inputs["rnn"] = [jnp.zeros((size[0], rows, size[2])) for size in self.get_specification()["rnn"]["sizes"]]
        training, self.training = self.training, False
        try:
            Model.init_state_dict(self, role, inputs, key)
        finally:
            self.training = training
