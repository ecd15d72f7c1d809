"""The PyTorch base ``Model``: spaces, device, initialisers, checkpoints, parameter updates."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import gymnasium
import torch

from mixrl._config import config
from mixrl.checkpoints.torch_io import read_state_dict, write_state_dict
from mixrl.models import _roles
from mixrl.utils.spaces.torch import (
    compute_space_size,
    convert_gym_space,
    flatten_tensorized_space,
    sample_space,
    unflatten_tensorized_space,
)

if TYPE_CHECKING:
    from mixrl.models._deploy import ExportResult

Inputs = Mapping[str, Any]
ActOutput = tuple[torch.Tensor, "torch.Tensor | None", dict]

_INITIALIZERS = sorted(name for name in dir(torch.nn.init) if name.endswith("_") and not name.startswith("_"))


def _as_gymnasium(space: Any) -> Any:
    """Old ``gym`` spaces become gymnasium spaces; everything else is kept as given."""
    if space is not None and type(space).__module__.startswith("gym."):
        from mixrl._logging import warn_once

        warn_once("gym spaces are deprecated: converting them to gymnasium spaces")
        return convert_gym_space(space)
    return space


def _resolve_initializer(method_name: str):
    """``torch.nn.init.<method_name>`` (trailing ``_`` optional), one of the module's public in-place initialisers."""
    if not isinstance(method_name, str):
        raise TypeError(f"method_name must be a str, got {type(method_name).__name__}")
    name = method_name if method_name.endswith("_") else method_name + "_"
    if name not in _INITIALIZERS:
        raise ValueError(f"unknown initializer {method_name!r}: expected one of torch.nn.init's {_INITIALIZERS}")
    return getattr(torch.nn.init, name)


class Model(torch.nn.Module):
    """Base class of every mixrl PyTorch model.

    Args:
        observation_space: ``int`` size, sequence of ints (a shape), gymnasium space (old gym spaces are
            converted) or ``None``.
        action_space: same kinds as ``observation_space``.
        device: ``"cpu"``, ``"cuda:0"``, a ``torch.device`` or ``None`` (CUDA when available, else CPU).

    Subclass with the mixins first and ``Model`` last, call ``Model.__init__`` before any mixin
    ``__init__`` and implement :meth:`compute`::

        class Policy(GaussianMixin, Model):
            def __init__(self, observation_space, action_space, device=None):
                Model.__init__(self, observation_space, action_space, device)
                GaussianMixin.__init__(self, clip_actions=True)
                self.net = torch.nn.Linear(self.num_observations, self.num_actions)
                self.log_std = torch.nn.Parameter(torch.zeros(self.num_actions))

            def compute(self, inputs, role):
                return self.net(inputs["states"]), self.log_std, {}
    """

    def __init__(self, observation_space: Any, action_space: Any, device: str | torch.device | None = None) -> None:
        super().__init__()
        self.device = config.torch.parse_device(device)
        self.observation_space = _as_gymnasium(observation_space)
        self.action_space = _as_gymnasium(action_space)
        self.num_observations = None if observation_space is None else compute_space_size(self.observation_space)
        self.num_actions = None if action_space is None else compute_space_size(self.action_space)
        self._mixrl: dict[type, dict[str, _roles.HeadSettings]] = {}
        self._mixrl_routes: dict[tuple[str, str], _roles.Route] = {}
        self._mixrl_trainable: set[str] | None = None
        self._mixrl_random_bounds: tuple[torch.Tensor, torch.Tensor] | None = None
        self._mixrl_shared: tuple | None = None

    # ------------------------------------------------------------------ acting

    def act(self, inputs: Inputs, role: str = "") -> ActOutput:
        """Act according to the model's behaviour: ``(actions, log_prob or None, outputs)``.

        Implemented by the mixins; a plain model without mixin overrides it.
        """
        raise NotImplementedError(
            f"{type(self).__name__}.act is not implemented: list a mixin before Model in the class bases "
            "(class Policy(GaussianMixin, Model)) or override act()"
        )

    def compute(self, inputs: Inputs, role: str = "") -> tuple:
        """Map ``inputs`` to the tuple the model's mixin expects (written by the user)."""
        raise NotImplementedError(f"{type(self).__name__}.compute is not implemented: write it in the model class")

    def forward(self, inputs: Inputs, role: str = "") -> ActOutput:
        """``model(inputs, role)`` is ``model.act(inputs, role)``."""
        return self.act(inputs, role)

    def random_act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, None, dict]:
        """Uniformly random actions for the batch of ``inputs["states"]``: ``(actions, None, {})``.

        Discrete: int64 (batch, 1). Box: float32 (batch, num_actions), each dimension in its own
        ``[low, high]``. MultiDiscrete, MultiBinary, Tuple and Dict: flattened samples.

        Raises:
            ValueError: a Box dimension is unbounded.
            NotImplementedError: the action space is not a gymnasium space.
        """
        batch = inputs["states"].shape[0]
        space = self.action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            start = int(space.start)
            return torch.randint(start, start + int(space.n), (batch, 1), device=self.device), None, {}
        if isinstance(space, gymnasium.spaces.Box):
            low, span = self._random_bounds()
            return torch.rand(batch, low.shape[0], device=self.device).mul_(span).add_(low), None, {}
        if isinstance(space, gymnasium.spaces.Space):
            sample = sample_space(space, batch_size=batch, backend="native", device=self.device)
            return flatten_tensorized_space(sample), None, {}
        raise NotImplementedError(f"random_act needs a gymnasium action space, got {type(space).__name__}")

    def _random_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        bounds = self._mixrl_random_bounds
        if bounds is None or bounds[0].device != self.device:
            low = torch.as_tensor(self.action_space.low, dtype=torch.float32).reshape(-1)
            high = torch.as_tensor(self.action_space.high, dtype=torch.float32).reshape(-1)
            unbounded = (~torch.isfinite(low) | ~torch.isfinite(high)).nonzero().flatten().tolist()
            if unbounded:
                raise ValueError(
                    f"random_act needs a bounded Box action space: dimensions {unbounded} have infinite bounds "
                    "(give the Box finite low/high or sample actions yourself)"
                )
            bounds = self._mixrl_random_bounds = (low.to(self.device), (high - low).to(self.device))
        return bounds

    # ------------------------------------------------------------------ shared models

    def shared_cache(
        self, role: str, states: torch.Tensor, trunk: Callable[[torch.Tensor], Any], producer: str = "policy"
    ) -> Any:
        """``trunk(states)``, computed once per pair of producer and consumer passes on the same states.

        The ``producer`` role (e.g. the policy pass of PPO) computes the trunk and stores it with the
        identity, version, storage, shape and grad mode of ``states``. Any other role (e.g. the value
        pass) reuses the stored output only if all of these match its own ``states``, and clears the
        cache either way, so a skipped consumer pass can never hand a stale trunk to later states.

        While ``torch.compile`` traces, the cache is bypassed and every pass computes the trunk: the version
        and storage check is data-dependent and cannot be traced without a graph break.

        Args:
            role: role of the current call.
            states: (batch, ...) the input of the trunk.
            trunk: the shared computation.
            producer: the role that fills the cache.

        Under ``torch.compile`` / ``torch.export`` (tensors without storage) the trunk is always computed.
        """
        if torch.compiler.is_compiling() or torch.compiler.is_exporting():
            # the identity/version/storage check is data-dependent (a graph break; no storage when exporting)
            self._mixrl_shared = None
            return trunk(states)
        if role == producer:
            output = trunk(states)
            key = (states._version, states.data_ptr(), states.shape, torch.is_grad_enabled())
            self._mixrl_shared = (states, key, output)
            return output
        cached, self._mixrl_shared = self._mixrl_shared, None
        key = (states._version, states.data_ptr(), states.shape, torch.is_grad_enabled())
        if cached is not None and cached[0] is states and cached[1] == key:
            return cached[2]
        return trunk(states)

    def train(self, mode: bool = True) -> Model:
        """``torch.nn.Module.train``; also forgets a cached shared trunk (its grad mode may no longer apply)."""
        self._mixrl_shared = None
        return super().train(mode)

    # ------------------------------------------------------------------ initialisation

    def init_parameters(self, method_name: str = "normal_", *args: Any, **kwargs: Any) -> None:
        """Apply ``torch.nn.init.<method_name>(param, *args, **kwargs)`` to every parameter."""
        initializer = _resolve_initializer(method_name)
        with torch.no_grad():
            for parameter in self.parameters():
                initializer(parameter, *args, **kwargs)

    def init_weights(self, method_name: str = "orthogonal_", *args: Any, **kwargs: Any) -> None:
        """Apply ``torch.nn.init.<method_name>`` to the weight of every ``nn.Linear`` in any sub-module."""
        initializer = _resolve_initializer(method_name)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, torch.nn.Linear):
                    initializer(module.weight, *args, **kwargs)

    def init_biases(self, method_name: str = "constant_", *args: Any, **kwargs: Any) -> None:
        """Apply ``torch.nn.init.<method_name>`` to the bias of every ``nn.Linear`` that has one.

        ``constant_`` without a value fills with 0.
        """
        initializer = _resolve_initializer(method_name)
        if initializer is torch.nn.init.constant_ and not args and "val" not in kwargs:
            kwargs["val"] = 0.0
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, torch.nn.Linear) and module.bias is not None:
                    initializer(module.bias, *args, **kwargs)

    def init_state_dict(self, role: str | Sequence[str] = "", inputs: Inputs = {}) -> None:
        """Move the model to its device and run :meth:`compute` once per role (materialises lazy modules).

        Args:
            role: a role, or a list of roles. A single role on a model with several registered roles
                initialises every registered role.
            inputs: model inputs; when empty, one flattened sample of each space is used as
                ``"states"`` and ``"taken_actions"`` (plus zero RNN states when the model declares them).
        """
        self.to(self.device)
        roles = [role] if isinstance(role, str) else list(role)
        registered = _roles.registered_roles(self)
        if isinstance(role, str) and len(registered) > 1:
            roles = registered
        inputs = dict(inputs) if inputs else self._sample_inputs()
        training = self.training
        self.train(False)  # a sample must not feed running statistics (e.g. an in-model normaliser)
        try:
            with torch.no_grad():
                for name in roles:
                    self.compute(inputs, name)
        finally:
            self.train(training)

    def _sample_inputs(self) -> dict[str, Any]:
        """One sample of each space; recurrent models get one whole sequence and zero states."""
        rnn = self.get_specification().get("rnn", {})
        rows = int(rnn.get("sequence_length", 1)) if rnn else 1
        inputs: dict[str, Any] = {}
        for key, space in (("states", self.observation_space), ("taken_actions", self.action_space)):
            if isinstance(space, gymnasium.spaces.Space):
                sample = sample_space(space, batch_size=rows, backend="native", device=self.device)
                inputs[key] = flatten_tensorized_space(sample)
            elif space is not None:
                inputs[key] = torch.zeros(rows, compute_space_size(space), device=self.device)
        if rnn.get("sizes"):
            inputs["rnn"] = [torch.zeros(size[0], rows, *size[2:], device=self.device) for size in rnn["sizes"]]
            inputs["terminated"] = torch.zeros(rows, 1, dtype=torch.bool, device=self.device)
        return inputs

    # ------------------------------------------------------------------ specification, mode

    def get_specification(self) -> dict[str, Any]:
        """Advanced specification read by agents (``{"rnn": {...}}`` for recurrent models); ``{}`` here."""
        return {}

    def set_mode(self, mode: Literal["train", "eval"]) -> None:
        """``"train"`` or ``"eval"`` (see ``torch.nn.Module.train``).

        Raises:
            ValueError: any other mode.
        """
        if mode not in ("train", "eval"):
            raise ValueError(f"invalid mode {mode!r}: expected 'train' or 'eval'")
        self.train(mode == "train")

    # ------------------------------------------------------------------ checkpoints

    def save(self, path: str | os.PathLike, state_dict: Mapping[str, Any] | None = None) -> None:
        """Save ``state_dict`` (default: the model's) to ``path`` atomically: a crash never leaves a partial file.

        A ``.safetensors`` path writes the safetensors format (tensors only); any other path a ``torch.save`` file.
        (Models built by the model instantiators also write their description beside the weights.)
        """
        write_state_dict(path, self.state_dict() if state_dict is None else state_dict)

    def load(
        self, path: str | os.PathLike, *, strict: bool = True, weights_only: bool = True, key: str | None = None
    ) -> None:
        """Load a state dict saved by :meth:`save` onto the model's device, then switch to eval mode.

        The entries go through :meth:`_adapt_external_state` first (models built by the model instantiators
        rename the legacy ``hiddens`` API's ``net.N.*`` layout there).

        Args:
            path: checkpoint file: ``.safetensors``, or a ``torch.save`` file with any other extension.
            strict: the checkpoint must hold exactly the model's entries.
            weights_only: refuse anything but tensors and plain containers (never runs code from the
                file). Pass ``False`` only for files from a source you trust: each such load logs a warning
                naming the file. (Safetensors files hold tensors only.)
            key: load the state dict ``checkpoint[key]`` of a file holding several, e.g. an skrl agent
                checkpoint ``{"policy": ..., "value": ..., "optimizer": ...}``: ``model.load(path, key="policy")``.
                Without it such a file is a ``ValueError`` that lists the keys.

        Raises:
            ValueError: the file is truncated or corrupted, its content is not the format its extension
                says, it holds other objects than tensors, or its entries do not match the model
                (missing, unexpected or differently shaped); the model is left unchanged.
        """
        state = self._adapt_external_state(
            read_state_dict(path, self.device, weights_only, key=key), self.state_dict(), os.fspath(path)
        )
        self.load_state_dict(self._checked_state(state, strict, source=os.fspath(path)), strict=strict)
        self.eval()

    def _adapt_external_state(self, state: Mapping[str, Any], own: Mapping[str, Any], source: str) -> Mapping[str, Any]:
        """Hook: an external state dict (a checkpoint to load, a ``migrate`` source) renamed to the model's entries.

        Args:
            state: the external names to tensors.
            own: the model's ``state_dict()``.
            source: the file (or ``"migration source"``), for error messages.

        Returns:
            ``state`` itself here; subclasses that know an older layout of their entries rename it.
        """
        return state

    def _checked_state(self, state: Mapping[str, Any], strict: bool, source: str) -> dict[str, torch.Tensor]:
        """``state``'s entries of the model, checked and on the model's devices and dtypes, before anything is copied.

        Raises:
            ValueError: every mismatch (missing or unexpected names with ``strict``, a non-tensor, meta, sparse,
                complex or differently shaped entry...), named; the model is untouched (a failed load is harmless).
        """
        from mixrl.checkpoints.validation import entry_problems, prepared_state

        own = self.state_dict()
        problems = []
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and missing:
            problems.append(f"missing entries {missing}")
        if strict and unexpected:
            problems.append(f"unexpected entries {unexpected}")
        if problems:
            problems += entry_problems(own, state)
            raise ValueError(f"{source} does not match {type(self).__name__}: " + "; ".join(problems))
        return prepared_state(own, state, source, type(self).__name__)

    def migrate(
        self,
        state_dict: Mapping[str, torch.Tensor] | None = None,
        path: str | None = None,
        name_map: Mapping[str, str] = {},
        auto_mapping: bool = True,
        verbose: bool = False,
        *,
        dry_run: bool = False,
        allow_pickle: bool = False,
        key: str | None = None,
    ) -> bool:
        """Import the weights of an external model (rl_games, stable-baselines3, any state dict, Flax).

        Every current entry (in ``state_dict()`` order) is matched to one external entry: the one
        ``name_map`` gives (``map:``; ``""``/``None`` skips the entry on purpose, ``skip:``), else, with
        ``auto_mapping``, the external entry of the same name and shape or every one of the same shape
        and kind (``weight``/``bias``/other) (``auto:``). Several candidates log ``Ambiguous match for
        ...``, none ``Missing match for ...``, one external entry claimed twice ``Multiple use of ...``.
        The final storage device is the model's.

        The migration is all or nothing: when it fails (any warning above), **nothing** is loaded and the
        model is unchanged (skrl loads the unambiguous part and the last ambiguous candidate). To import
        part of a model, skip the other entries explicitly with ``name_map={"name": ""}``; to see the
        matches without touching the model, pass ``dry_run=True``.

        Args:
            state_dict: external names to tensors (or a Flax parameter tree); exclusive with ``path``.
            path: checkpoint file, identified from its content: a stable-baselines3 ``.zip`` (its
                ``policy.pth``), an rl_games checkpoint (its ``checkpoint["model"]``), a ``torch.save`` or
                ``.safetensors`` state dict, or Flax msgpack parameters (e.g. a mixrl JAX model's
                ``save``: converted layer by layer, kernels transposed, when the architectures pair).
            name_map: current name -> external name; ``""`` or ``None`` skips the entry.
            auto_mapping: match entries not in ``name_map`` by name, shape and kind.
            verbose: log both entry listings and every match (``mixrl.logger``, INFO).
            dry_run: report (log and return the result) without loading anything.
            allow_pickle: unpickle arbitrary objects from torch files. Can run code from the file:
                only for files you trust (each use logs a warning naming the file). By default only tensors
                and plain data are read.
            key: with ``path``, the state dict ``checkpoint[key]`` of a torch file holding several (an skrl
                agent checkpoint: ``migrate(path=..., key="policy")``).

        Returns:
            True iff every current entry was matched exactly once (or skipped) and no external entry
            was used twice; then the matches are loaded (unless ``dry_run``) and the model is in eval mode.

        Raises:
            ValueError: both or neither of ``state_dict``/``path``; a file whose type cannot be identified,
                or that is truncated, corrupted or holds non-tensor objects (without ``allow_pickle``).

        Example (skrl's rl_games Cartpole checkpoint, whose layout is ambiguous without a map)::

            ok = policy.migrate(path="runs/Cartpole/nn/Cartpole.pth", name_map={
                "log_std_parameter": "a2c_network.sigma",
                "net.0.bias": "a2c_network.actor_mlp.0.bias",
                "net.2.bias": "a2c_network.actor_mlp.2.bias",
                "net.4.weight": "a2c_network.mu.weight",
                "net.4.bias": "a2c_network.mu.bias",
            })
        """
        from mixrl.checkpoints.torch_migrate import migrate_state_dict

        own = self.state_dict()
        ok, tensors = migrate_state_dict(
            own,
            state_dict,
            path,
            name_map,
            auto_mapping,
            verbose,
            dry_run=dry_run,
            allow_pickle=allow_pickle,
            key=key,
            adapt=lambda entries, source: self._adapt_external_state(entries, own, source),
        )
        if ok and not dry_run:
            source = "migration source" if path is None else os.fspath(path)
            self.load_state_dict(self._checked_state(tensors, False, source), strict=False)
            self.eval()
        return ok

    def export(
        self,
        path: str | os.PathLike,
        format: Literal["onnx", "torch.export", "torchscript"] = "onnx",
        role: str = "policy",
        deterministic: bool = True,
        *,
        example_inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
        dynamo: bool = False,
        check: bool = True,
        tolerance: float | None = None,
        min_agreement: float | None = None,
        samples: int = 256,
        dtype: Literal["float32", "float16"] = "float32",
        quantize: Literal["int8"] | None = None,
        history: int | None = None,
    ) -> ExportResult:
        """Write the deterministic policy of ``role`` as a self-contained inference file and its JSON sidecar.

        The file computes ``compute`` (with any preprocessing the model owns, e.g. an
        ``ObservationNormalizer``) in eval mode, then the deterministic head: the mean (Gaussian,
        MultivariateGaussian; tanh-rescaled with ``squash``, else clipped with ``clip_actions``), the mean
        action (Beta), the argmax plus the space's ``start`` (Categorical (batch, 1), MultiCategorical
        (batch, K), int64), or the output (Deterministic, clipped with ``clip_actions``). Action masks are
        not an input. The model's modes (and running statistics) are left as they were.

        Inputs and outputs (ONNX names; torch programs take them in this order), batch dynamic:
        ``observations`` (batch, occupied size of the observation space) -> ``actions``; recurrent models
        also take ``rnn_state_0..k`` (D*num_layers, batch, H), ordered as ``get_specification()``, and
        return ``next_rnn_state_0..k`` (one step per call; zero the states of finished episodes). With
        ``history=K``: ``(observations (batch, d), observation_history (batch, K, d))`` ->
        ``(actions, next_observation_history)``, for a model whose states are the last K observations
        (layout in :mod:`mixrl.models._deploy`).

        Unless ``check=False``, the serialised program is run (onnxruntime, ``torch.export.load``,
        ``torch.jit.load``) on ``samples`` observations drawn from the observation space and compared with
        the float32 model before anything is written. ``<path>.json`` (written after the file, atomically)
        describes spaces, inputs, outputs, precision and the check.

        Args:
            path: destination file (e.g. ``policy.onnx``, ``policy.pt2``).
            format: ``"onnx"`` (run with onnxruntime; ``pip install 'mixrl[export]'``), ``"torch.export"``
                (``torch.export.load(path).module()``) or ``"torchscript"`` (deprecated, warns: torch 2.13
                deprecates ``torch.jit``).
            role: the role to export; any role on a single-role model.
            deterministic: must be True (sampling is not exported).
            example_inputs: the inputs to trace with, in call order; default: a sample of the observation
                space (and zero states).
            dynamo: ONNX only. ``False``: PyTorch's TorchScript-based exporter (fast). ``True``: its
                ``torch.export``-based exporter (needs onnxscript; a few seconds per model).
            check: run the file against the model (raises :class:`~mixrl.models._deploy.ExportCheckError`).
            tolerance: the largest absolute difference allowed on float outputs; default per precision
                (``DEFAULT_TOLERANCE``: float32 1e-4, float16 2e-2, int8 1e-1).
            min_agreement: the smallest fraction of samples with the model's action (default per precision:
                1.0, 0.98, 0.9).
            samples: number of check observations.
            dtype: ``"float16"``: weights and compute in float16; inputs and outputs stay float32.
            quantize: ``"int8"``: ONNX only, dynamic quantisation of the float32 file (onnxruntime).
            history: K, the number of stacked observations the model's states hold.

        Returns:
            :class:`~mixrl.models._deploy.ExportResult`: ``path``, ``sidecar``, ``check`` (worst error,
            agreement, samples) and the sidecar's ``metadata``.

        Raises:
            ValueError: unknown ``format``, role, ``dtype`` or ``quantize``; a failed check (ExportCheckError).
            NotImplementedError: ``deterministic=False``, a mixin without deterministic head (Tabular), or
                ``history`` on a recurrent model.
            ImportError: ``dynamo=True`` without onnxscript, or an ONNX check without onnxruntime.
        """
        from mixrl.models.torch.export import export_model

        return export_model(
            self,
            path,
            format,
            role,
            deterministic,
            example_inputs=example_inputs,
            dynamo=dynamo,
            check=check,
            tolerance=tolerance,
            min_agreement=min_agreement,
            samples=samples,
            dtype=dtype,
            quantize=quantize,
            history=history,
        )

    # ------------------------------------------------------------------ parameter updates

    def freeze_parameters(self, freeze: bool = True) -> None:
        """Freeze (``requires_grad=False``) or unfreeze the parameters.

        Freezing remembers which parameters were trainable; unfreezing re-enables exactly those, so a
        parameter that was fixed on purpose (e.g. a fixed log-std) stays fixed.
        """
        parameters = dict(self.named_parameters())
        if freeze:
            if self._mixrl_trainable is None:
                self._mixrl_trainable = {name for name, p in parameters.items() if p.requires_grad}
            for parameter in parameters.values():
                parameter.requires_grad_(False)
        elif self._mixrl_trainable is not None:
            for name in self._mixrl_trainable:
                if name in parameters:
                    parameters[name].requires_grad_(True)
            self._mixrl_trainable = None

    def update_parameters(self, model: torch.nn.Module, polyak: float = 1, *, include_buffers: bool = False) -> None:
        """Hard (``polyak=1``) or soft update from ``model``: ``theta <- (1 - polyak) * theta + polyak * theta_src``.

        Parameters are matched by name.

        Args:
            model: source model with the same parameter names and shapes.
            polyak: in ``(0, 1]``.
            include_buffers: also copy/average floating-point buffers (e.g. normaliser statistics).

        Raises:
            ValueError: ``polyak`` out of range, or the two models' parameters differ in names or shapes.
        """
        if isinstance(polyak, bool) or not isinstance(polyak, (int, float)) or not 0 < polyak <= 1:
            raise ValueError(f"polyak must be a number in (0, 1], got {polyak!r}")
        pairs = _matched_tensors(self.named_parameters(), model.named_parameters(), "parameters")
        if include_buffers:
            floating = lambda named: ((k, v) for k, v in named if v.is_floating_point())  # noqa: E731
            pairs += _matched_tensors(floating(self.named_buffers()), floating(model.named_buffers()), "buffers")
        if not pairs:
            return
        targets, sources = [list(side) for side in zip(*pairs, strict=True)]
        with torch.no_grad():
            if polyak == 1:
                torch._foreach_copy_(targets, sources)
            else:
                torch._foreach_lerp_(targets, sources, float(polyak))

    # ------------------------------------------------------------------ distributed

    def broadcast_parameters(self, rank: int = 0) -> None:
        """Copy process ``rank``'s parameters to every process (no-op without an initialised process group)."""
        from mixrl.models.torch.distributed import broadcast_parameters

        broadcast_parameters(self, rank)

    def reduce_parameters(self) -> None:
        """Average the gradients over all processes (no-op without an initialised process group)."""
        from mixrl.models.torch.distributed import reduce_parameters

        reduce_parameters(self)

    # ------------------------------------------------------------------ skrl-compatible space helpers

    def tensor_to_space(self, tensor: torch.Tensor, space: Any, start: int = 0) -> Any:
        """Map the flat columns of ``tensor`` from ``start`` on to the structure of ``space`` (see unflatten)."""
        width = compute_space_size(space, occupied_size=True)
        return unflatten_tensorized_space(space, tensor[:, start : start + width])

    def _get_space_size(self, space: Any, number_of_elements: bool = True) -> int:
        """Number of elements of ``space`` (``number_of_elements=False``: its width in a flat tensor)."""
        return compute_space_size(space, occupied_size=not number_of_elements)


def _matched_tensors(own, other, kind: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    own, other = dict(own), dict(other)
    missing = sorted(set(own) - set(other))
    extra = sorted(set(other) - set(own))
    mismatched = [
        f"{k}: {list(own[k].shape)} vs {list(other[k].shape)}"
        for k in own
        if k in other and own[k].shape != other[k].shape
    ]
    if missing or extra or mismatched:
        raise ValueError(
            f"cannot update {kind}: the models differ (missing in source: {missing}; only in source: {extra}; "
            f"shape mismatches: {mismatched})"
        )
    return [(own[k], other[k]) for k in own]
