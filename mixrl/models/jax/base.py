"""The JAX/Flax base ``Model``: spaces, device, state dict, mode, initialisers, checkpoints, parameter updates."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import numpy as np

from mixrl._config import config
from mixrl.checkpoints.flax_io import read_msgpack, write_flax
from mixrl.models import _roles
from mixrl.models.jax import _act, _params, _random, distributed
from mixrl.models.jax._state import StateDict, _StateDictSlot
from mixrl.utils.spaces.jax import (
    compute_space_size,
    convert_gym_space,
    unflatten_tensorized_space,
)

Inputs = Mapping[str, Any]

# Flax's own state and the dataclass fields (re-created by the clone itself); an agent-assigned ``apply``
_NOT_CLONED = frozenset(
    ("_id", "_state", "_parent_ref", "scope", "parent", "name", "observation_space", "action_space", "device", "apply")
)


def _as_gymnasium(space: Any) -> Any:
    """Old ``gym`` spaces become gymnasium spaces; everything else is kept as given."""
    if space is not None and type(space).__module__.startswith("gym."):
        from mixrl._logging import warn_once

        warn_once("gym spaces are deprecated: converting them to gymnasium spaces")
        return convert_gym_space(space)
    return space


class Model(nn.Module):
    """Base class of every mixrl JAX/Flax model.

    Args:
        observation_space: ``int`` size, sequence of ints (a shape), gymnasium space or ``None``.
        action_space: same kinds as ``observation_space``.
        device: ``"cpu"``, ``"cuda:0"``, ``"gpu:1"``, a ``jax.Device`` or ``None`` (the first device).
        parent, name: Flax-reserved; pass them through (``**kwargs``).

    Subclass with the mixins first and ``Model`` last; every constructor argument needs a default
    (Flax re-instantiates the module). The network goes in ``__call__(inputs, role)``::

        class Policy(GaussianMixin, Model):
            def __init__(self, observation_space, action_space, device=None, **kwargs):
                Model.__init__(self, observation_space, action_space, device, **kwargs)
                GaussianMixin.__init__(self, clip_actions=True)  # ends with Module.__post_init__

            @nn.compact
            def __call__(self, inputs, role):
                log_std = self.param("log_std", lambda _: jnp.zeros(self.num_actions))
                return nn.Dense(self.num_actions)(inputs["states"]), log_std, {}

    A model without mixin overrides ``act`` and must end its ``__init__`` with
    ``flax.linen.Module.__post_init__(self)``. Inside ``__call__``, ``self.training`` is the mode of
    the call (``set_mode``/``model.training`` at the time of the call, passed to every compiled
    function as a static argument) and ``inputs["key"]`` the PRNG key of the call.
    """

    observation_space: Any
    action_space: Any
    device: Any = None

    state_dict = _StateDictSlot()

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        device: str | jax.Device | None = None,
        parent: Any = None,
        name: str | None = None,
    ) -> None:
        self._jax = config.jax.backend == "jax"
        self.device = config.jax.parse_device(device)
        self.observation_space = _as_gymnasium(observation_space)
        self.action_space = _as_gymnasium(action_space)
        self.num_observations = None if observation_space is None else compute_space_size(self.observation_space)
        self.num_actions = None if action_space is None else compute_space_size(self.action_space)
        self.training = False
        self.frozen = False
        self._mixrl: dict[type, dict[str, Any]] = {}  # {head: {role: settings}}, see mixrl.models._roles
        self._mixrl_routes: dict[tuple[str, str], Any] = {}
        self._mixrl_compiled: dict[tuple, Any] = {}  # {(settings, role, training, own key): jitted act}
        if parent is None:  # a user-built model (Flax's internal clones get a scope as parent)
            self._mixrl_index = _act.next_model_index()
        self.parent = parent
        self.name = name

    # ------------------------------------------------------------------ Flax plumbing

    def __init_subclass__(cls, **kwargs: Any) -> None:
        hand_written = "__init__" in cls.__dict__
        super().__init_subclass__(**kwargs)
        if not hand_written and "__init__" in cls.__dict__:
            # Flax generated a dataclass __init__ from the fields: keep the inherited hand-written one, so a
            # subclass that only overrides methods (e.g. act) is built like its parent
            del cls.__init__

    @nn.nowrap
    def __setattr__(self, name: str, value: Any) -> None:
        if name == "apply" and getattr(getattr(value, "__wrapped__", None), "__func__", None) is Model.apply:
            value = _act.ModeAwareApply(self, value)  # an agent's jax.jit(model.apply, ...): trace per mode
        nn.Module.__setattr__(self, name, value)

    @nn.nowrap
    def apply(self, variables: Any, *args: Any, mode: _act.Mode | None = None, **kwargs: Any) -> Any:
        """``flax.linen.Module.apply`` with the mode of the call: ``mode=None`` uses ``self.training``.

        ``mode`` is a static pytree, so ``jax.jit(model.apply, static_argnums=2)`` retraces per mode.
        """
        state = self.__dict__
        previous = state.get("_mixrl_call_training")
        state["_mixrl_call_training"] = self.training if mode is None else mode.training
        try:
            return nn.Module.apply(self, variables, *args, **kwargs)
        finally:
            state["_mixrl_call_training"] = previous

    @nn.nowrap
    def clone(self, *, parent: Any = None, **kwargs: Any) -> Model:
        """Flax's clone (a re-instantiation from the dataclass fields), plus what the fields do not carry.

        The instance's plain attributes (e.g. ``self.hidden = hidden`` set from a constructor argument)
        are copied over, and ``training`` is the mode of the current call.
        """
        module = nn.Module.clone(self, parent=parent, **kwargs)
        for name, value in self.__dict__.items():
            if name not in _NOT_CLONED and not name.startswith("_mixrl") and not isinstance(value, nn.Module):
                object.__setattr__(module, name, value)
        training = self.__dict__.get("_mixrl_call_training")
        object.__setattr__(module, "training", self.training if training is None else training)
        return module

    # ------------------------------------------------------------------ acting

    @nn.nowrap
    def act(self, inputs: Inputs, role: str = "", params: Any = None) -> tuple:
        """Act according to the model's behaviour: ``(actions, log_prob or None, outputs)``.

        Implemented by the mixins; a plain model without mixin overrides it.
        """
        raise NotImplementedError(
            f"{type(self).__name__}.act is not implemented: list a mixin before Model in the class bases "
            "(class Policy(GaussianMixin, Model)) or override act()"
        )

    @nn.nowrap
    def random_act(self, inputs: Inputs, role: str = "", params: Any = None) -> tuple[Any, None, dict]:
        """Uniformly random actions for the batch of ``inputs["states"]``: ``(actions, None, {})``.

        Box: (batch, num_actions) with the space's dtype, each dimension in its own ``[low, high]``.
        Discrete: (batch, 1) in ``start .. start + n - 1``. MultiDiscrete, MultiBinary, Tuple, Dict:
        flattened samples. NumPy arrays (JAX arrays when ``config.jax.backend == "jax"``), drawn from a
        generator seeded from the model's key.

        Raises:
            ValueError: a Box dimension is unbounded.
            NotImplementedError: the action space is not a gymnasium space.
        """
        rng = self.__dict__.get("_mixrl_rng")
        if rng is None:
            rng = self.__dict__["_mixrl_rng"] = _random.generator(_act.split_key(self))
        actions = _random.uniform_actions(rng, self.action_space, inputs["states"].shape[0])
        return (jax.device_put(actions, self.device) if self._jax else actions), None, {}

    # ------------------------------------------------------------------ state dict and initialisation

    @nn.nowrap
    def init_state_dict(
        self, role: str | Sequence[str] = "", inputs: Inputs = {}, key: jax.Array | None = None
    ) -> None:
        """Create ``state_dict`` by running ``Module.init`` for the role(s) (every registered role of a shared model).

        Args:
            role: a role or a list of roles.
            inputs: model inputs; when empty, one flattened sample of each space is used as ``"states"``
                and ``"taken_actions"``. Never modified.
            key: PRNG key for the parameters; ``None`` draws one from the model's own key.
        """
        if "_state" not in self.__dict__:
            raise RuntimeError(_act._NOT_POST_INITIALISED.format(name=type(self).__name__))
        roles = [role] if isinstance(role, str) else list(role)
        registered = _roles.registered_roles(self)
        if isinstance(role, str) and len(registered) > 1:
            roles = registered
        sample: dict[str, Any] = dict(inputs) if inputs else dict(_random.sample_inputs(self))
        if isinstance(sample.get("states"), (int, np.integer)):
            sample["states"] = np.array(sample["states"]).reshape(-1, 1)
        key = _act.split_key(self) if key is None else key
        sample.setdefault("key", key)
        variables = self.init(key, sample, roles, method=_call_roles)
        self.state_dict = StateDict.create(apply_fn=self.apply, params=jax.device_put(variables, self.device))

    @nn.nowrap
    def init_parameters(self, method_name: str = "normal", *args: Any, **kwargs: Any) -> None:
        """Re-draw every parameter with ``flax.linen.initializers.<method_name>`` (a different subkey per leaf)."""
        self._reinitialize(method_name, args, kwargs, None)

    @nn.nowrap
    def init_weights(self, method_name: str = "normal", *args: Any, **kwargs: Any) -> None:
        """Re-draw every ``kernel`` leaf (e.g. ``init_weights("orthogonal", scale=0.5)``)."""
        self._reinitialize(method_name, args, kwargs, ("kernel",))

    @nn.nowrap
    def init_biases(self, method_name: str = "constant_", *args: Any, **kwargs: Any) -> None:
        """Re-draw every ``bias`` leaf; the default fills them with 0 (``constant_`` with ``val``/``value``)."""
        self._reinitialize(method_name, args, kwargs, ("bias",))

    @nn.nowrap
    def _reinitialize(self, method_name: str, args: tuple, kwargs: dict, names: tuple[str, ...] | None) -> None:
        initializer = _params.resolve_initializer(method_name, args, kwargs)
        variables = dict(self.state_dict.params)  # only the "params" collection: statistics stay as they are
        variables["params"] = _params.reinitialize(variables["params"], initializer, _act.split_key(self), names)
        self.state_dict = self.state_dict.replace(params=variables)

    # ------------------------------------------------------------------ specification, mode

    @nn.nowrap
    def get_specification(self) -> dict[str, Any]:
        """Advanced specification read by agents (``{"rnn": {...}}`` for recurrent models); ``{}`` here."""
        return {}

    @nn.nowrap
    def set_mode(self, mode: Literal["train", "eval"]) -> None:
        """Set ``training``: ``"train"`` -> True, ``"eval"`` -> False.

        Raises:
            ValueError: any other mode.
        """
        if mode not in ("train", "eval"):
            raise ValueError(f"invalid mode {mode!r}: expected 'train' or 'eval'")
        self.training = mode == "train"

    # ------------------------------------------------------------------ deployment

    @nn.nowrap
    def export(
        self,
        path: str | os.PathLike,
        format: Literal["stablehlo", "onnx", "torch.export", "torchscript"] = "onnx",
        role: str = "policy",
        deterministic: bool = True,
        **options: Any,
    ) -> Any:
        """Write the deterministic policy of ``role`` and its JSON sidecar (the torch ``export`` contract).

        ``format="stablehlo"`` uses ``jax.export`` (pure JAX, read back with
        :func:`mixrl.models.jax.export.load_exported`); the other formats go through the torch twin
        (``self.torch_twin()`` when the model has it, else ``options["torch_model"]``) and need torch
        (``pip install 'mixrl[torch]'``). See :func:`mixrl.models.jax.export.export_model` for ``options``
        (``check``, ``tolerance``, ``dtype``, ``quantize``, ``history``, ...) and the errors.

        Returns:
            the :class:`~mixrl.models._deploy.ExportResult` (file, sidecar, check).
        """
        from mixrl.models.jax.export import export_model

        return export_model(self, path, format, role, deterministic, **options)

    # ------------------------------------------------------------------ checkpoints

    @nn.nowrap
    def save(self, path: str | os.PathLike, state_dict: StateDict | Any = None) -> None:
        """Save the parameters (or ``state_dict``: a ``StateDict`` or a raw params tree) as Flax msgpack, atomically.

        (Models built by the model instantiators also write their description beside the weights.)
        """
        if state_dict is None:
            state_dict = self.state_dict
        write_flax(path, state_dict.params if isinstance(state_dict, StateDict) else state_dict)

    @nn.nowrap
    def load(self, path: str | os.PathLike) -> None:
        """Load parameters saved by :meth:`save` (msgpack, never pickle), then switch to eval mode.

        Raises:
            ValueError: the file is corrupted or its tree (names, shapes, dtypes) differs from the model's;
                the model is left unchanged.
        """
        params = _params.from_tree(self.state_dict.params, read_msgpack(path), os.fspath(path))
        self.state_dict = self.state_dict.replace(params=jax.device_put(params, self.device))
        self.set_mode("eval")

    @nn.nowrap
    def migrate(
        self,
        state_dict: Mapping[str, Any] | None = None,
        path: str | None = None,
        name_map: Mapping[str, str] = {},
        auto_mapping: bool = True,
        verbose: bool = False,
        *,
        dry_run: bool = False,
        allow_pickle: bool = False,
        key: str | None = None,
    ) -> bool:
        """Import torch weights (state dict, SB3 .zip, rl_games .pth, .pt/.safetensors, Flax msgpack) into params.

        Same rules as the torch model's ``migrate``: all or nothing, ``""`` in ``name_map`` skips a leaf,
        ``dry_run`` only reports. Linear weights become Dense kernels (transposed), Conv weights HWIO. ``key`` picks the
        state dict ``checkpoint[key]`` of a torch file holding several (an skrl agent checkpoint: ``key="policy"``).
        """
        from mixrl.checkpoints.flax_migrate import migrate_params

        ok, params = migrate_params(
            self.state_dict.params,
            state_dict,
            path,
            name_map,
            auto_mapping,
            verbose,
            dry_run=dry_run,
            allow_pickle=allow_pickle,
            key=key,
        )
        if ok and not dry_run:
            self.state_dict = self.state_dict.replace(params=jax.device_put(params, self.device))
            self.set_mode("eval")
        return ok

    # ------------------------------------------------------------------ parameter updates

    @nn.nowrap
    def freeze_parameters(self, freeze: bool = True) -> None:
        """Record ``frozen`` (JAX has no ``requires_grad``: computationally a no-op; gradients depend on the caller)."""
        self.frozen = bool(freeze)

    @nn.nowrap
    def update_parameters(self, model: Model, polyak: float = 1) -> None:
        """Hard (``polyak=1``) or soft update from ``model``: ``theta <- (1 - polyak) * theta + polyak * theta_src``.

        Raises:
            ValueError: ``polyak`` outside ``(0, 1]``, or the parameter trees differ in names, shapes or dtypes.
        """
        if isinstance(polyak, bool) or not isinstance(polyak, (int, float)) or not 0 < polyak <= 1:
            raise ValueError(f"polyak must be a number in (0, 1], got {polyak!r}")
        own = self.state_dict.params
        source = _params.conform(own, model.state_dict.params, "cannot update parameters")
        params = source if polyak == 1 else _params.polyak_average(own, source, float(polyak))
        self.state_dict = self.state_dict.replace(params=params)

    # ------------------------------------------------------------------ distributed

    @nn.nowrap
    def broadcast_parameters(self, rank: int = 0) -> None:
        """Give every process the parameters of process ``rank`` (no-op on a single process)."""
        params = self.state_dict.params
        broadcast = distributed.broadcast_parameters(params, rank)
        if broadcast is not params:
            self.state_dict = self.state_dict.replace(params=broadcast)

    @nn.nowrap
    def reduce_parameters(self, tree: Any) -> Any:
        """``tree`` (usually gradients) averaged over all processes; returned unchanged on a single process."""
        return distributed.reduce_parameters(tree)

    # ------------------------------------------------------------------ legacy (skrl-era) helpers

    @nn.nowrap
    def tensor_to_space(self, tensor: Any, space: Any, start: int = 0) -> Any:
        """Map the flat columns of ``tensor`` from ``start`` on to the structure of ``space`` (see unflatten)."""
        width = compute_space_size(space, occupied_size=True)
        return unflatten_tensorized_space(space, tensor[:, start : start + width])

    @nn.nowrap
    def _get_space_size(self, space: Any, number_of_elements: bool = True) -> int:
        """Number of elements of ``space`` (``number_of_elements=False``: its width in a flat tensor)."""
        return compute_space_size(space, occupied_size=not number_of_elements)


def _call_roles(module: Model, inputs: dict[str, Any], roles: list[str]) -> list:
    """``Module.init`` method running ``__call__`` once per role, so parameters of every role are created."""
    return [module(inputs, role) for role in roles]
