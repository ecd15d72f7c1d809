"""How a head's ``act`` runs: one compiled function per (settings, role, mode, key source), one dispatch per call.

A head declares its math on the output of ``__call__`` as ``_finish(settings, out, inputs, key, training)
-> (actions, log_prob, outputs)`` and whether it samples (``stochastic``), both class attributes (see
:class:`mixrl.models.jax._head.Head`). :func:`run` looks up, per ``(settings, role, training, key
source)``, a ``jax.jit``-compiled function of ``(params, inputs, key)`` that runs ``model.apply`` and
``_finish`` and, when the model's own key is used, also splits it and returns the next key. An eager
call therefore costs one dictionary lookup and one dispatch: no host-side key folding and no eager
array op. Inside a caller's trace (an agent's ``jax.jit`` or ``jax.grad``) the same compiled function
is simply inlined. The typed settings key the cache by identity (``HeadSettings`` is ``eq=False``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import flax
import jax

from mixrl._config import config
from mixrl._logging import warn_once
from mixrl.models._roles import HeadSettings

_model_counter = itertools.count()

_NOT_POST_INITIALISED = (
    "{name} was not fully constructed: its __init__ must end with flax.linen.Module.__post_init__(self) "
    "(every mixin __init__ does it; a model without mixin must call it itself after Model.__init__)"
)
_TRACED_WITHOUT_KEY = (
    "act() of a stochastic model is being traced (jax.jit/grad) without inputs['key'] and without "
    "'taken_actions': the model's key becomes a compile-time constant and the sampling noise repeats on "
    "every call of the compiled function. Pass a fresh key in inputs['key']."
)


class Mode(flax.struct.PyTreeNode):
    """The mode of a call as a static pytree (no leaves): part of every jit cache key, so a mode change retraces.

    Passed to ``Model.apply(..., mode=...)``; ``__call__`` reads it as ``self.training``.
    """

    training: bool = flax.struct.field(pytree_node=False)


TRAIN, EVAL = Mode(True), Mode(False)


class ModeAwareApply:
    """An agent's ``jax.jit(model.apply, ...)``, called with the model's current mode as the static ``mode``.

    ``Model`` puts this wrapper around a jitted ``apply`` assigned to it, so the compiled function is
    traced once per mode and never keeps the mode it was first traced in. Other attributes (``lower``,
    ``clear_cache``, ...) are those of the wrapped function.
    """

    __slots__ = ("model", "function")

    def __init__(self, model: Any, function: Callable) -> None:
        self.model = model
        self.function = function

    def __call__(self, variables: Any, *args: Any, **kwargs: Any) -> Any:
        if "mode" not in kwargs:
            kwargs["mode"] = TRAIN if self.model.training else EVAL
        return self.function(variables, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.function, name)


def next_model_index() -> int:
    """A process-wide creation index for a new top-level model."""
    return next(_model_counter)


def model_key(model: Any) -> jax.Array:
    """The model's current key: ``fold_in(config.jax.key, creation index)`` until its first use."""
    state = model.__dict__
    key = state.get("_mixrl_key")
    if key is None:
        key = jax.random.fold_in(config.jax.key, state.get("_mixrl_index", 0))
        # committed to the model's device like the keys the compiled act returns: one compilation, not two
        key = state["_mixrl_key"] = jax.device_put(key, model.device)
    return key


def split_key(model: Any) -> jax.Array:
    """A fresh subkey from the model's key stream (for initialisers and ``init_state_dict``; not the hot path)."""
    key, subkey = jax.random.split(model_key(model))
    model.__dict__["_mixrl_key"] = key
    return subkey


def state_params(model: Any) -> Any:
    """``model.state_dict.params``.

    Raises:
        RuntimeError: ``init_state_dict`` was never called.
    """
    state = model.__dict__.get("_mixrl_state_dict")
    if state is None:
        raise RuntimeError("call init_state_dict() first")
    return state.params


def run(model: Any, settings: HeadSettings, inputs: Mapping[str, Any], role: str, params: Any) -> tuple:
    """Run the compiled act of ``settings`` (a head's typed settings) for ``role``: ``(actions, log_prob, outputs)``.

    ``inputs["key"]`` (if given) is the key used for this call; otherwise the model's own key is used
    and advanced. The caller's ``inputs`` is never modified.
    """
    state = model.__dict__
    if params is None:
        params = state_params(model)
    key = inputs.get("key")
    own = key is None
    if own:
        key = state.get("_mixrl_key")
        if key is None:
            key = model_key(model)
    else:
        inputs = {name: value for name, value in inputs.items() if name != "key"}
    training = model.training
    compiled = state["_mixrl_compiled"].get((settings, role, training, own))
    if compiled is None:
        compiled = _compile(model, settings, role, bool(training), own)
    actions, log_prob, outputs, next_key = compiled(params, inputs, key)
    if own:
        if isinstance(next_key, jax.core.Tracer):  # traced by the caller: never store a tracer on the model
            head: Any = settings.head  # a Head subclass
            if head.stochastic and "taken_actions" not in inputs:
                warn_once(_TRACED_WITHOUT_KEY)
        else:
            state["_mixrl_key"] = next_key
    return actions, log_prob, outputs


def _compile(model: Any, settings: HeadSettings, role: str, training: bool, own: bool) -> Callable:
    """Build (and cache on the model) the jitted ``(params, inputs, key) -> (actions, log_prob, outputs, next_key)``."""
    if "_state" not in model.__dict__:
        raise RuntimeError(_NOT_POST_INITIALISED.format(name=type(model).__name__))
    mode = TRAIN if training else EVAL
    head: Any = settings.head  # a Head subclass
    finish = head._finish

    def act(params: Any, inputs: dict[str, Any], key: jax.Array) -> tuple:
        next_key = None
        if own:
            next_key, key = jax.random.split(key)
        inputs = dict(inputs)
        inputs["key"] = key
        out = model.apply(params, inputs, role, mode=mode)  # the agent's jitted apply, if it assigned one
        actions, log_prob, outputs = finish(settings, out, inputs, key, training)
        return actions, log_prob, outputs, next_key

    compiled = model.__dict__["_mixrl_compiled"][settings, role, training, own] = jax.jit(act)
    return compiled
