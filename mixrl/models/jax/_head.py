"""The routing base of every JAX mixin: ``act`` and ``get_entropy``, routed to the head serving the role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import flax
import jax

from mixrl.models import _roles
from mixrl.models._roles import HeadSettings
from mixrl.models.jax import _act

ActOutput = tuple[Any, "jax.Array | None", dict]


class Head:
    """Base of the JAX mixins (put before ``Model`` in a model's bases).

    ``act`` and ``get_entropy`` route the call to the head registered for ``role`` (see
    :mod:`mixrl.models._roles`) and run that head's implementation: ``_act`` (the compiled act of
    :mod:`mixrl.models.jax._act`, for every head) and ``_get_entropy`` (stochastic heads only), so a shared
    model with several heads needs no dispatch code of its own.

    Each head declares at class level what its compiled act needs:

    * ``stochastic``: its act draws random numbers (tracing it without ``inputs["key"]`` warns);
    * ``_finish(settings, out, inputs, key, training)``: its math on the output ``out`` of ``__call__``,
      run inside the compiled act (``training`` is the static mode of the call), returning
      ``(actions, log_prob or None, outputs)``.
    """

    stochastic: ClassVar[bool] = True

    if TYPE_CHECKING:  # provided by Model (flax.linen.Module)
        observation_space: Any
        action_space: Any
        num_observations: int | None
        num_actions: int | None
        device: jax.Device
        training: bool
        state_dict: Any

    def act(self, inputs: Mapping[str, Any], role: str = "", params: Any = None) -> ActOutput:
        """Act with the head serving ``role``: ``(actions, log_prob or None, outputs)``.

        Args:
            inputs: ``"states"`` (batch, obs) and the head's optional keys (``"taken_actions"``, ``"key"``, ...).
            role: the role of the call (static under ``jax.jit``); ``""`` on a single-role model.
            params: the variables to use (default ``state_dict.params``); may be traced.
        """
        settings, act = _roles.route(self, role, "act")
        return act(self, settings, inputs, role, params)

    def get_entropy(self, x: Any, role: str = "") -> jax.Array:
        """Entropy of the distribution described by ``x`` (an ``outputs`` entry of ``act``, or the whole dict).

        What ``x`` is and the shape returned depend on the head serving ``role``; without a role, a shared
        model uses its one role whose head has an entropy.

        Raises:
            ValueError: ``x`` does not describe that head's distribution, or the role has no entropy
                (e.g. a ``DeterministicMixin`` role) or is ambiguous.
        """
        settings, get_entropy = _roles.route(self, role, "get_entropy")
        return get_entropy(self, settings, x)

    def _act(self, settings: Any, inputs: Mapping[str, Any], role: str, params: Any) -> ActOutput:
        """Run the compiled act of ``settings`` (the head's typed settings; one dictionary lookup and one dispatch
        per eager call)."""
        return _act.run(self, settings, inputs, role, params)

    @staticmethod
    def _finish(settings: Any, out: Any, inputs: dict[str, Any], key: jax.Array, training: bool) -> ActOutput:
        raise NotImplementedError  # every head defines its own


def register(model: Any, settings: HeadSettings) -> None:
    """Record ``settings`` for their role (see :func:`mixrl.models._roles.register`) and drop compiled acts."""
    _roles.register(model, settings)
    model.__dict__["_mixrl_compiled"].clear()


def post_init(model: Any) -> None:
    """``flax.linen.Module.__post_init__``: the last call of every mixin ``__init__`` (Flax's own setup)."""
    flax.linen.Module.__post_init__(model)


def entropy_input(x: Any, output_key: str, size: int | None, head: str) -> jax.Array:
    """The array ``get_entropy`` works on: ``x`` itself, or ``x[output_key]`` when ``x`` is an ``outputs`` dict.

    Raises:
        ValueError: ``x`` is a dict without ``output_key``, or the array's last dimension is not ``size``.
    """
    if isinstance(x, dict):
        if output_key not in x:
            raise ValueError(f"{head}.get_entropy: the outputs dict has no {output_key!r} (keys: {sorted(x)})")
        x = x[output_key]
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0 or (size is not None and shape[-1] != size):
        raise ValueError(
            f"{head}.get_entropy expects outputs[{output_key!r}] (or that array) with last dimension {size}, "
            f"got shape {shape}"
        )
    return x
