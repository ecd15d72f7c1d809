"""Export a model's deterministic policy as a self-contained inference file (ONNX, torch.export or TorchScript).

The exported graph is what the policy does at deployment: ``compute`` (observation preprocessing such
as an :class:`~mixrl.models.torch.normalizer.ObservationNormalizer` the model owns, then the network)
followed by the deterministic head of the role's mixin and its action bounds. Its inputs are the
flattened observations (``inputs["states"]``) and, for recurrent models, the recurrent states; with
``history=K``, the window of the previous K observations (:mod:`mixrl.models._deploy` has the layout).
Next to the file goes a JSON sidecar describing it, with the result of the export check.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import gymnasium
import torch

from mixrl.models import _deploy, _roles
from mixrl.models._deploy import ExportResult, Precision, Quantization
from mixrl.models._roles import HeadSettings
from mixrl.models.torch.beta import BetaMixin, BetaSettings
from mixrl.models.torch.categorical import CategoricalMixin, CategoricalSettings
from mixrl.models.torch.deterministic import DeterministicMixin, DeterministicSettings
from mixrl.models.torch.distributions import squash
from mixrl.models.torch.gaussian import GaussianMixin, GaussianSettings
from mixrl.models.torch.multicategorical import MultiCategoricalMixin, MultiCategoricalSettings
from mixrl.models.torch.multivariate_gaussian import MultivariateGaussianMixin
from mixrl.models.torch.normalizer import ObservationNormalizer
from mixrl.utils.spaces.torch import compute_space_size, flatten_tensorized_space, sample_space

if TYPE_CHECKING:
    from mixrl.models.torch.base import Model  # annotations only: base imports this module

ExportFormat = Literal["onnx", "torch.export", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torch.export", "torchscript")
TORCHSCRIPT_DEPRECATION = (
    "export(format='torchscript') is deprecated: torch 2.13 deprecates torch.jit.trace/save/load (they warn on "
    "every call); use format='torch.export' (a .pt2 file for torch.export.load) or format='onnx'"
)


class _BoundedHead(torch.nn.Module):
    """Gaussian and deterministic heads: the mean (or output), squashed or clipped to the Box like ``act``."""

    center: torch.Tensor
    half_range: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, settings: GaussianSettings | DeterministicSettings) -> None:
        super().__init__()
        squash_bounds = settings.squash_bounds if isinstance(settings, GaussianSettings) else None
        self.squash = squash_bounds is not None
        self.clip = False  # act does not clip squashed actions
        if squash_bounds is not None:
            center, half_range, _ = squash_bounds
            self.register_buffer("center", center.detach().clone())
            self.register_buffer("half_range", half_range.detach().clone())
        elif settings.clip_actions and settings.bounds is not None:
            self.clip = True
            self.register_buffer("low", settings.bounds[0].detach().clone())
            self.register_buffer("high", settings.bounds[1].detach().clone())

    def forward(self, mean_actions: torch.Tensor, *log_std: torch.Tensor) -> torch.Tensor:
        if self.squash:
            return squash(mean_actions, self.center, self.half_range)
        return torch.clamp(mean_actions, self.low, self.high) if self.clip else mean_actions


class _BetaMeanHead(torch.nn.Module):
    """``BetaMixin``: the mean action ``low + (high - low) * alpha / (alpha + beta)`` (``outputs["mean_actions"]``)."""

    low: torch.Tensor
    scale: torch.Tensor

    def __init__(self, settings: BetaSettings) -> None:
        super().__init__()
        low, _, scale, _ = settings.bounds
        self.register_buffer("low", low.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.low, self.scale, alpha / (alpha + beta))


class _ArgmaxHead(torch.nn.Module):
    """``CategoricalMixin``: the most likely action (batch, 1) int64, shifted by the Discrete ``start``."""

    def __init__(self, settings: CategoricalSettings) -> None:
        super().__init__()
        self.start = int(settings.start)

    def forward(self, net_output: torch.Tensor) -> torch.Tensor:
        actions = net_output.argmax(dim=-1, keepdim=True)
        return actions + self.start if self.start else actions


class _MultiArgmaxHead(torch.nn.Module):
    """``MultiCategoricalMixin``: the most likely index of each component (batch, K) int64, plus ``start``."""

    start: torch.Tensor

    def __init__(self, settings: MultiCategoricalSettings) -> None:
        super().__init__()
        self.nvec = [int(n) for n in settings.nvec]
        self.shifted = settings.start is not None
        if settings.start is not None:
            self.register_buffer("start", settings.start.detach().clone())

    def forward(self, net_output: torch.Tensor) -> torch.Tensor:
        actions = torch.stack([chunk.argmax(dim=-1) for chunk in net_output.split(self.nvec, dim=-1)], dim=-1)
        return actions + self.start if self.shifted else actions


# head -> factory(the role's settings of that head) -> module mapping ``compute``'s tuple (without ``outputs``)
# to actions
DETERMINISTIC_HEADS: dict[type, Callable[[Any], torch.nn.Module]] = {
    GaussianMixin: _BoundedHead,
    MultivariateGaussianMixin: _BoundedHead,
    BetaMixin: _BetaMeanHead,
    CategoricalMixin: _ArgmaxHead,
    MultiCategoricalMixin: _MultiArgmaxHead,
    DeterministicMixin: _BoundedHead,
}


class ExportedPolicy(torch.nn.Module):
    """A model's deterministic behaviour for one role as a plain module (what :func:`export_model` writes).

    ``forward(observations, *rnn_states) -> actions`` (or ``(actions, *next_rnn_states)`` for a recurrent
    model). Run it in eval mode: the model then never updates running statistics, and recurrent models
    take one step.

    Args:
        model: a mixrl ``Model`` with a mixin (Gaussian, MultivariateGaussian, Beta, Categorical,
            MultiCategorical or Deterministic) serving ``role``.
        role: the role to export (any role on a single-role model, as for ``act``).

    Raises:
        ValueError: the role is unknown on a multi-role model, or the model has no mixin.
        NotImplementedError: the role's mixin has no deterministic head here (e.g. ``TabularMixin``).
    """

    def __init__(self, model: Model, role: str = "policy") -> None:
        super().__init__()
        settings = _role_settings(model, role)
        factory = DETERMINISTIC_HEADS.get(settings.head)
        if factory is None:
            supported = ", ".join(mixin.__name__ for mixin in DETERMINISTIC_HEADS)
            raise NotImplementedError(
                f"role {role!r} of {type(model).__name__} is served by {settings.head.__name__}, which cannot be "
                f"exported: supported mixins are {supported}"
            )
        self.model = model
        self.role = role
        self.head = factory(settings).to(_model_device(model))  # the settings' bounds may be on another device
        self.rnn_sizes = _rnn_sizes(model)

    def forward(self, observations: torch.Tensor, *rnn_states: torch.Tensor) -> Any:
        """Deterministic actions for a batch of observations.

        Args:
            observations: (batch, occupied size of the observation space), as ``inputs["states"]``.
            rnn_states: recurrent models only: the states ordered as ``get_specification()["rnn"]["sizes"]``,
                each (D*num_layers, batch, H).

        Returns:
            actions: (batch, A) float (Gaussian, Beta, Deterministic), (batch, 1) int64 (Categorical) or
            (batch, K) int64 (MultiCategorical); recurrent models return ``(actions, *next_rnn_states)``.

        Raises:
            ValueError: the number of recurrent states (given, or returned in ``outputs["rnn"]``) differs from
            the specification's.
        """
        if len(rnn_states) != len(self.rnn_sizes):
            raise ValueError(f"expected {len(self.rnn_sizes)} recurrent state(s), got {len(rnn_states)}")
        inputs: dict[str, Any] = {"states": observations}
        if self.rnn_sizes:
            inputs["rnn"] = list(rnn_states)
        output = self.model.compute(inputs, self.role)
        actions = self.head(*output[:-1])
        if not self.rnn_sizes:
            return actions
        next_states = output[-1].get("rnn")
        if next_states is None or len(next_states) != len(self.rnn_sizes):
            raise ValueError(
                f"a recurrent model's compute must return outputs['rnn'] with {len(self.rnn_sizes)} state(s), "
                f"got {None if next_states is None else len(next_states)}"
            )
        return (actions, *next_states)


class _HistoryPolicy(torch.nn.Module):
    """``forward(observations (batch, d), observation_history (batch, K, d)) -> (actions, next_observation_history)``:
    the window slides by one (newest last) and ``policy`` acts on it flattened to (batch, K*d)."""

    def __init__(self, policy: ExportedPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, observations: torch.Tensor, observation_history: torch.Tensor) -> Any:
        window = torch.cat([observation_history[:, 1:], observations.unsqueeze(1)], dim=1)
        return self.policy(window.flatten(1)), window


class _Float16(torch.nn.Module):
    """A float16 copy of ``module`` behind a float32 boundary: float inputs are cast to float16, float outputs
    back to float32 (integer actions pass as they are)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = copy.deepcopy(module).half()

    def forward(self, *args: torch.Tensor) -> Any:
        output = self.module(*(arg.half() if arg.is_floating_point() else arg for arg in args))
        if isinstance(output, torch.Tensor):
            return output.float() if output.is_floating_point() else output
        return tuple(value.float() if value.is_floating_point() else value for value in output)


def export_model(
    model: Model,
    path: str | os.PathLike,
    format: ExportFormat = "onnx",
    role: str = "policy",
    deterministic: bool = True,
    *,
    example_inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
    dynamo: bool = False,
    check: bool = True,
    tolerance: float | None = None,
    min_agreement: float | None = None,
    samples: int = 256,
    dtype: Precision = "float32",
    quantize: Quantization | None = None,
    history: int | None = None,
    _backend: str = "torch",
) -> ExportResult:
    """Write ``model``'s deterministic policy for ``role`` to ``path`` and its sidecar (see :meth:`Model.export`).

    Raises:
        ValueError: unknown ``format``, role, ``dtype`` or ``quantize``, ``example_inputs`` with a wrong number
            of tensors, or a ``history`` that does not divide the observation size.
        ExportCheckError: (a ValueError) the file differs from the model beyond ``tolerance`` / ``min_agreement``;
            nothing is written.
        NotImplementedError: ``deterministic=False``, a mixin without deterministic head, or ``history`` with a
            recurrent model.
        ImportError: ``dynamo=True`` without onnxscript, or an ONNX check without onnxruntime.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: expected one of {list(FORMATS)}")
    _deploy.validate_precision(dtype, quantize, format)
    if format == "onnx" and dynamo and importlib.util.find_spec("onnxscript") is None:
        raise ImportError("export(format='onnx', dynamo=True) needs onnxscript: pip install 'mixrl[export]'")
    if format == "onnx" and check and importlib.util.find_spec("onnxruntime") is None:
        raise ImportError("checking an ONNX export needs onnxruntime: pip install 'mixrl[export]' (or check=False)")
    if not deterministic:
        raise NotImplementedError(
            "export(deterministic=False) is not supported: an exported policy computes the deterministic "
            "action (Gaussian mean, categorical argmax), expected deterministic=True"
        )
    if format == "torchscript":
        warnings.warn(TORCHSCRIPT_DEPRECATION, FutureWarning, stacklevel=3)
    policy = ExportedPolicy(model, role)
    size = compute_space_size(model.observation_space, occupied_size=True)
    frame = None if history is None else _deploy.history_size(size, history)
    if frame is not None and policy.rnn_sizes:
        raise NotImplementedError("history= with a recurrent model: its recurrent states already carry the past")
    reference: torch.nn.Module = policy if frame is None else _HistoryPolicy(policy)
    exported = _Float16(reference) if dtype == "float16" else reference
    names = _names(len(policy.rnn_sizes), frame is not None)
    modes = {module: module.training for module in model.modules()}
    policy.eval()
    try:
        args = _example_args(model, policy.rnn_sizes, example_inputs)
        if frame is not None and example_inputs is None:
            args = _history_args(args[0], frame)
        with torch.no_grad(), warnings.catch_warnings():
            _silence_exporter_warnings()
            if format == "torchscript":  # torch's own deprecation of torch.jit stays visible
                warnings.filterwarnings("default", message=r"`torch\.jit\.\w+` is deprecated")
            data = _serialise(exported.eval(), args, format, dynamo, names)
        if quantize is not None:
            data = _quantize_int8(data)
        inputs = _check_inputs(model, policy.rnn_sizes, frame, samples) if check else args
        with torch.no_grad():
            expected = _as_list(reference(*inputs))
        result = None
        if check:
            key = _deploy.precision_key(dtype, quantize)
            result = _deploy.compare(
                [value.cpu().numpy() for value in expected],
                _run(data, format, inputs, names[0]),
                tolerance=_deploy.DEFAULT_TOLERANCE[key] if tolerance is None else tolerance,
                min_agreement=_deploy.DEFAULT_AGREEMENT[key] if min_agreement is None else min_agreement,
                where=f"the {format} export of {type(model).__name__} (role {role!r}, {key})",
            )
    finally:
        for module, training in modes.items():
            module.training = training
        if "_mixrl_shared" in model.__dict__:
            model._mixrl_shared = None  # a shared-trunk cache filled while tracing
    content = _deploy.metadata(
        path=path,
        format=format,
        backend=_backend,
        role=role,
        observation_space=model.observation_space,
        action_space=model.action_space,
        inputs=[_entry(n, t, 1 if n.startswith("rnn") else 0) for n, t in zip(names[0], inputs, strict=True)],
        outputs=[_entry(n, t, 1 if n.startswith("next_rnn") else 0) for n, t in zip(names[1], expected, strict=True)],
        recurrent_states=[
            {"input": i, "output": o, "shape": [size[0], "batch", *size[2:]]}
            for i, o, size in zip(names[0][1:], names[1][1:], policy.rnn_sizes, strict=True)
        ]
        if frame is None
        else [],
        history=None
        if frame is None
        else {
            "length": history,
            "observation_size": frame,
            "input": "observation_history",
            "output": "next_observation_history",
            "layout": _deploy.HISTORY_LAYOUT,
        },
        normalizer=any(isinstance(module, ObservationNormalizer) for module in model.modules()),
        dtype=dtype,
        quantize=quantize,
        check=result,
    )
    return _deploy.publish(path, data, content)


def _names(states: int, history: bool) -> tuple[list[str], list[str]]:
    """The input and output names, in call order."""
    if history:
        return ["observations", "observation_history"], ["actions", "next_observation_history"]
    return (
        ["observations", *(f"rnn_state_{i}" for i in range(states))],
        ["actions", *(f"next_rnn_state_{i}" for i in range(states))],
    )


def _entry(name: str, tensor: torch.Tensor, batch_axis: int) -> dict[str, Any]:
    return _deploy.tensor_entry(name, tensor.shape, str(tensor.dtype).removeprefix("torch."), batch_axis)


def _as_list(output: Any) -> list[torch.Tensor]:
    return [output] if isinstance(output, torch.Tensor) else list(output)


def _history_args(stacked: torch.Tensor, frame: int) -> tuple[torch.Tensor, ...]:
    """``(observations (batch, d), observation_history (batch, K, d))`` from stacked states (batch, K*d)."""
    window = stacked.reshape(len(stacked), -1, frame)
    return window[:, -1].contiguous(), window.contiguous()


def _check_inputs(
    model: Model, rnn_sizes: list[tuple[int, ...]], frame: int | None, samples: int
) -> tuple[torch.Tensor, ...]:
    """``samples`` random inputs (seeded): observations drawn from the observation space, standard normal
    recurrent states; with ``history``, a window and a newest observation drawn from two stacked samples."""
    space, device = model.observation_space, _model_device(model)
    generator = torch.Generator().manual_seed(0)

    def draw(seed: int) -> torch.Tensor:
        if isinstance(space, gymnasium.spaces.Space):
            sample = sample_space(space, batch_size=samples, backend="native", device=device, seed=seed)
            return flatten_tensorized_space(sample).to(torch.float32)
        size = compute_space_size(space, occupied_size=True)
        return torch.randn(samples, size, generator=generator).to(device)

    observations = draw(0)
    if frame is not None:
        return _history_args(draw(1), frame)[0], observations.reshape(samples, -1, frame)
    states = [torch.randn(size[0], samples, *size[2:], generator=generator).to(device) for size in rnn_sizes]
    return (observations, *states)


def _serialise(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    format: str,
    dynamo: bool,
    names: tuple[list[str], list[str]],
) -> bytes:
    if format == "torchscript":
        return _to_torchscript(module, args)
    if format == "torch.export":
        return _to_torch_export(module, args, names[0])
    return _to_onnx(module, args, dynamo, names)


def _batch_shapes(module: torch.nn.Module, input_names: list[str]) -> tuple[Any, ...]:
    """torch.export ``dynamic_shapes``: the batch is dimension 0 of the observations (and history), 1 of states,
    grouped as ``module.forward``'s parameters take them (a ``*args`` parameter takes a tuple of the rest)."""
    batch = torch.export.Dim("batch")
    specs = [{1: batch} if name.startswith("rnn") else {0: batch} for name in input_names]
    grouped: list[Any] = []
    for parameter in inspect.signature(module.forward).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if len(specs) > len(grouped):  # an empty *args takes no entry
                grouped.append(tuple(specs[len(grouped) :]))
            break
        grouped.append(specs[len(grouped)])
    return tuple(grouped)


def _to_torch_export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], input_names: list[str]) -> bytes:
    program = torch.export.export(module, args, dynamic_shapes=_batch_shapes(module, input_names))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _quantize_int8(data: bytes) -> bytes:
    """Dynamic int8 quantisation of an ONNX file (onnxruntime ``quantize_dynamic``: int8 weights of MatMul/Gemm,
    activations quantised at run time)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise ImportError("quantize='int8' needs onnxruntime: pip install 'mixrl[export]'") from error
    with tempfile.TemporaryDirectory() as directory:
        source, target = os.path.join(directory, "fp32.onnx"), os.path.join(directory, "int8.onnx")
        with open(source, "wb") as file:
            file.write(data)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        with open(target, "rb") as file:
            return file.read()


def _run(data: bytes, format: str, inputs: tuple[torch.Tensor, ...], input_names: list[str]) -> list[Any]:
    """The outputs of the serialised program ``data`` for ``inputs``, loaded as a deployment would (NumPy)."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        feed = {name: tensor.cpu().numpy() for name, tensor in zip(input_names, inputs, strict=True)}
        return list(session.run(None, feed))
    with torch.no_grad():
        if format == "torch.export":
            program = torch.export.load(io.BytesIO(data)).module()
        else:
            program = torch.jit.load(io.BytesIO(data))
        return [value.cpu().numpy() for value in _as_list(program(*inputs))]


def _silence_exporter_warnings() -> None:
    """Inside ``warnings.catch_warnings``: ignore torch's warnings about its tracer and exporters and mixrl's
    shape checks; a user's ``compute`` keeps its tracer warnings (e.g. data-dependent control flow)."""
    warnings.filterwarnings("ignore", module=r"torch(\.|$)")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"mixrl\.")
    warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="The tensor attributes .* were assigned during export")


def _to_torchscript(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> bytes:
    traced = torch.jit.trace(module, args, check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _to_onnx(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], dynamo: bool, names: tuple[list[str], list[str]]
) -> bytes:
    input_names, output_names = names
    if dynamo:
        return _to_onnx_dynamo(module, args, input_names, output_names)
    axes = {name: {1 if "rnn_state" in name else 0: "batch"} for name in input_names + output_names}
    buffer = io.BytesIO()
    torch.onnx.export(  # the TorchScript-based exporter writes to a file object too (torch types only paths)
        module,
        args,
        buffer,  # type: ignore[arg-type]
        input_names=input_names,
        output_names=output_names,
        dynamo=False,
        dynamic_axes=axes,
    )
    return buffer.getvalue()


def _to_onnx_dynamo(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], input_names: list[str], output_names: list[str]
) -> bytes:
    """The ``torch.export``-based exporter: the batch is dimension 0 of the observations, 1 of the states."""
    dynamic_shapes = _batch_shapes(module, input_names)
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    registration.addFilter(_no_torchvision_notice)
    try:
        program = torch.onnx.export(
            module,
            args,
            input_names=input_names,
            output_names=output_names,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
        )
    finally:
        registration.removeFilter(_no_torchvision_notice)
    if program is None:  # only without dynamo (or with a path to write to)
        raise RuntimeError("torch.onnx.export(dynamo=True) returned no ONNX program")
    return program.model_proto.SerializeToString()


def _no_torchvision_notice(record: logging.LogRecord) -> bool:
    """Logging filter: drop the dynamo exporter's notice, on every export, that torchvision ops are skipped."""
    return "torchvision is not installed" not in record.getMessage()


def _model_device(model: Model) -> torch.device:
    """Where the model's parameters are (``model.device`` for a model without parameters)."""
    return next(model.parameters(), torch.empty(0, device=model.device)).device


def _role_settings(model: Model, role: str) -> HeadSettings:
    """The settings that serve ``act(..., role)`` (the routing of the mixins themselves).

    Raises:
        ValueError: the model has no head, or the role is unknown (or ambiguous) on a multi-role model.
    """
    if "_mixrl" not in model.__dict__ or not _roles.all_settings(model):
        raise ValueError(
            f"{type(model).__name__} has no mixin configuration to export: build it from a mixin "
            "(class Policy(GaussianMixin, Model)) and call the mixin's __init__"
        )
    settings, _ = _roles.route(model, role, "act")
    return settings


def _rnn_sizes(model: Model) -> list[tuple[int, ...]]:
    """``get_specification()["rnn"]["sizes"]`` (empty for a feed-forward model)."""
    rnn = model.get_specification().get("rnn") or {}
    return [tuple(int(s) for s in size) for size in rnn.get("sizes", [])]


def _example_args(
    model: Model, rnn_sizes: list[tuple[int, ...]], example_inputs: torch.Tensor | Sequence | None
) -> tuple[torch.Tensor, ...]:
    """``(observations, *rnn_states)`` to trace with: the given ones, or a sample of a batch size that no
    other input dimension has (so an exporter cannot mistake a feature dimension for the batch)."""
    if example_inputs is not None:
        args = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
        if len(args) != 1 + len(rnn_sizes):
            raise ValueError(
                f"example_inputs must be (observations, *rnn_states) with {len(rnn_sizes)} recurrent state(s), "
                f"got {len(args)} tensor(s)"
            )
        return args
    space, device = model.observation_space, _model_device(model)
    taken = {compute_space_size(space, occupied_size=True)} | {d for size in rnn_sizes for d in size[:1] + size[2:]}
    batch = next(b for b in range(2, len(taken) + 3) if b not in taken)
    if isinstance(space, gymnasium.spaces.Space):
        observations = flatten_tensorized_space(sample_space(space, batch_size=batch, backend="native", device=device))
    else:
        observations = torch.zeros(batch, compute_space_size(space, occupied_size=True), device=device)
    states = [torch.zeros(size[0], batch, *size[2:], device=device) for size in rnn_sizes]
    return (observations, *states)
