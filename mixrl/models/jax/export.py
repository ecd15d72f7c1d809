"""Export a JAX model's deterministic policy: StableHLO with ``jax.export``, or ONNX / torch.export through torch.

``format="stablehlo"``: pure JAX. The deterministic policy (``act`` in eval mode, then the mean, mode or
output as the torch export computes it) is traced with ``jax.export`` for a symbolic batch dimension
``"batch"``, with the Flax variables baked in as constants (one self-contained file; re-export after
training), and serialised; :func:`load_exported` turns the file back into a callable. Run it where JAX / XLA
runs (``jax.export.deserialize(...).call``, or any StableHLO consumer).

ONNX, torch.export and TorchScript files are written from torch: the JAX model is exported through a
*torch twin*, a torch model with the same layers in the same order and the same mixin, holding the Flax
weights (Dense kernels transposed, Conv kernels permuted: :func:`mixrl.checkpoints.torch_flax.flax_to_torch`).
A model that has a ``torch_twin()`` method (the instantiators' generated models) builds its own twin; a
hand-written Flax model needs its twin passed as ``torch_model``. The twin is checked against the JAX model on
a sample of the observation space before anything is written, then
:func:`mixrl.models.torch.export.export_model` writes the file (same inputs, outputs and options).

Every format writes the JSON sidecar and runs the export check of :mod:`mixrl.models._deploy`. PyTorch is
imported only for the torch formats: ``pip install 'mixrl[torch]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import gymnasium
import numpy as np

from mixrl.models import _deploy
from mixrl.models._deploy import ExportResult, Precision, Quantization
from mixrl.utils.spaces.jax import compute_space_size, flatten_tensorized_space, sample_space

if TYPE_CHECKING:
    from mixrl.models.torch import Model as TorchModel

ExportFormat = Literal["stablehlo", "onnx", "torch.export", "torchscript"]
CHECK_TOLERANCE = 1e-4  #: atol and rtol of the twin check (float32 matmuls of two libraries)
_CHECK_ROWS = 3
_FIXED_LOG_STD = "log_std_parameter"  # a constant outside the Flax params with fixed_log_std=True


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "exporting a JAX model goes through its torch twin and needs PyTorch: install torch first, then "
            "the extra: pip install 'mixrl[torch]'"
        ) from error


def _own_twin(model: Any) -> TorchModel:
    """``model.torch_twin()``: the torch model built from the same description (weights not yet copied).

    Raises:
        ValueError: the model has no ``torch_twin`` method (a hand-written Flax model).
        NotImplementedError: the model is recurrent.
    """
    build = getattr(model, "torch_twin", None)
    if not callable(build):
        raise ValueError(
            f"{type(model).__name__} has no torch_twin() to build its torch twin from (it was not built by "
            "mixrl.utils.model_instantiators.jax): pass torch_model=, a torch model with the same layers in the "
            "same order (torch.nn.Linear for nn.Dense, ...) and the same mixin"
        )
    if model.get_specification().get("rnn"):
        raise NotImplementedError(
            f"{type(model).__name__} is recurrent: Flax cells (nn.GRUCell, nn.LSTMCell, nn.SimpleCell) have no "
            "conversion to torch.nn.GRU / LSTM / RNN weights, so recurrent JAX models cannot be exported yet"
        )
    return cast("TorchModel", build())


def torch_twin(
    model: Any,
    torch_model: TorchModel | None = None,
    *,
    params: Any = None,
    name_map: Mapping[str, str] | None = None,
    check: bool = True,
) -> TorchModel:
    """The torch model that computes what the JAX ``model`` computes, holding its weights, in eval mode.

    Args:
        model: a mixrl JAX model with its ``state_dict`` (``init_state_dict`` called).
        torch_model: the twin to load the weights into (they are replaced); required for a model without a
            ``torch_twin()`` method (hand-written Flax), else ``model.torch_twin()``.
        params: the Flax variables to copy (``{"params": {...}}``); default ``model.state_dict.params``.
        name_map: Flax leaf path (``"Dense_0/kernel"``) -> torch name, for layers the order cannot pair.
        check: compare the twin's ``compute`` with the JAX ``model`` in eval mode on a sample of the
            observation space (every array it returns, atol and rtol ``CHECK_TOLERANCE``).

    Returns:
        the twin (on the CPU when built here). A ``log_std_parameter`` that the Flax parameters lack
        (``fixed_log_std=True``) keeps the twin's value, which its description fixes to the same constant.

    Raises:
        ImportError: PyTorch is not installed.
        ValueError: no ``torch_model`` for a model without ``torch_twin()``, layers that do not pair (the message
            lists them), or a twin whose outputs differ from the model's.
        NotImplementedError: an instantiated recurrent model (no conversion of Flax cells to torch RNNs).
    """
    _require_torch()
    from mixrl.checkpoints.torch_flax import flax_to_torch, split_params

    twin = _own_twin(model) if torch_model is None else torch_model
    params = model.state_dict.params if params is None else params
    template = dict(twin.state_dict())
    if _FIXED_LOG_STD not in split_params(params)[0]:
        template.pop(_FIXED_LOG_STD, None)
    twin.load_state_dict(flax_to_torch(params, template, name_map), strict=False)
    twin.eval()
    if check:
        _check_twin(model, twin, params)
    return twin


def _check_twin(model: Any, twin: TorchModel, params: Any) -> None:
    """Raise if ``twin.compute`` and ``model.apply`` differ on a sample, role by role.

    Raises:
        ValueError: a role returns other shapes or values (the message names the role, output and difference).
    """
    import torch

    space = model.observation_space
    if isinstance(space, gymnasium.Space):
        states = np.asarray(flatten_tensorized_space(sample_space(space, batch_size=_CHECK_ROWS, seed=0), _jax=False))
    else:
        states = np.zeros((_CHECK_ROWS, model.num_observations), np.float32)
    sizes = (model.get_specification().get("rnn") or {}).get("sizes", [])
    rnn = [np.zeros((size[0], _CHECK_ROWS, *size[2:]), np.float32) for size in sizes]
    jax_inputs: dict[str, Any] = {"states": states, **({"rnn": rnn} if rnn else {})}
    device = next(twin.parameters(), torch.empty(0, device=twin.device)).device
    torch_inputs = {key: _to_tensor(value, device) for key, value in jax_inputs.items()}
    training, model.training = model.training, False
    try:
        for role in _roles(model):
            expected = model.apply(params, jax_inputs, role)[:-1]
            with torch.no_grad():
                received = twin.compute(torch_inputs, role)[:-1]
            _compare(model, role, expected, [value.detach().cpu().numpy() for value in received])
    finally:
        model.training = training
        if "_mixrl_shared" in twin.__dict__:
            twin.__dict__["_mixrl_shared"] = None  # a shared-trunk cache filled by the check


def _roles(model: Any) -> list[str]:
    """The roles the model's mixins registered (``[""]`` when none did)."""
    registry = getattr(model, "_mixrl", None) or {}
    return [role for entries in registry.values() for role in entries] or [""]


def _compare(model: Any, role: str, expected: Sequence[Any], received: Sequence[np.ndarray]) -> None:
    where = f"the torch twin of {type(model).__name__} (role {role!r})"
    if len(expected) != len(received):
        raise ValueError(f"{where} returns {len(received)} array(s) before its outputs dict, expected {len(expected)}")
    for index, (want, got) in enumerate(zip(expected, received, strict=True)):
        want = np.asarray(want)
        if want.shape != got.shape:
            raise ValueError(f"{where}: output {index} has shape {got.shape}, expected {want.shape}")
        if not np.allclose(got, want, rtol=CHECK_TOLERANCE, atol=CHECK_TOLERANCE):
            difference = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
            raise ValueError(
                f"{where} does not compute what the model computes: output {index} differs by up to {difference:.3g} "
                f"(tolerance {CHECK_TOLERANCE}); check its layers, their order and activations"
            )


def _to_tensor(value: Any, device: Any = None) -> Any:
    """A NumPy, JAX or torch array as a torch tensor on ``device`` (a list of them for a list or tuple)."""
    import torch

    if isinstance(value, (list, tuple)):
        return [_to_tensor(item, device) for item in value]
    if isinstance(value, torch.Tensor):
        return value if device is None else value.to(device)
    return torch.as_tensor(np.array(value), device=device)


def export_model(
    model: Any,
    path: str | os.PathLike,
    format: ExportFormat = "onnx",
    role: str = "policy",
    deterministic: bool = True,
    *,
    torch_model: TorchModel | None = None,
    params: Any = None,
    name_map: Mapping[str, str] | None = None,
    example_inputs: Any = None,
    dynamo: bool = False,
    check: bool = True,
    tolerance: float | None = None,
    min_agreement: float | None = None,
    samples: int = 256,
    dtype: Precision = "float32",
    quantize: Quantization | None = None,
    history: int | None = None,
) -> ExportResult:
    """Write the deterministic policy of the JAX ``model`` for ``role`` to ``path`` and its JSON sidecar.

    ``format="stablehlo"`` traces the JAX policy itself (see the module docstring; :func:`load_exported` reads
    it back); the other formats write the file :meth:`mixrl.models.torch.Model.export` writes for the torch
    twin: ``observations`` (batch, occupied size of the observation space) -> ``actions`` (the mean, squashed
    or clipped as ``act`` does; the argmax plus ``start`` for categorical heads), batch dynamic; recurrent twins
    also take ``rnn_state_0..k`` and return ``next_rnn_state_0..k``; ``history=K`` as on torch.

    Args:
        model: a mixrl JAX model with its ``state_dict``.
        path: destination file (e.g. ``policy.stablehlo``, ``policy.onnx``, ``policy.pt2``).
        format: ``"stablehlo"`` (``jax.export``), ``"onnx"`` (onnxruntime: ``pip install 'mixrl[export]'``),
            ``"torch.export"`` or ``"torchscript"`` (deprecated) through the torch twin.
        role: the role to export; any role on a single-role model.
        deterministic: must be True (sampling is not exported).
        torch_model: torch formats: the twin of a hand-written Flax model (see :func:`torch_twin`).
        params: the Flax variables to export; default ``model.state_dict.params``.
        name_map: torch formats: Flax leaf path -> torch name, for layers the order cannot pair.
        example_inputs: torch formats: inputs to trace with (NumPy, JAX or torch arrays).
        dynamo: ONNX only: PyTorch's ``torch.export``-based exporter (needs onnxscript).
        check, tolerance, min_agreement, samples: the export check (see :meth:`mixrl.models.torch.Model.export`);
            for the torch formats the file is checked against the twin, itself checked against the JAX model.
        dtype: ``"float16"`` for the torch formats (StableHLO is exported in float32).
        quantize: ``"int8"``: ONNX only.
        history: K, the number of stacked observations the model's states hold.

    Returns:
        :class:`~mixrl.models._deploy.ExportResult` (the sidecar's ``backend`` is ``"jax"``).

    Raises:
        ImportError: PyTorch is not installed for a torch format (or onnxscript, with ``dynamo=True``).
        ValueError: unknown ``format``, role or precision, no twin for a hand-written model, a twin that does not
            pair with or compute like ``model``, a failed export check (ExportCheckError).
        NotImplementedError: ``deterministic=False``, a mixin without deterministic head, or a recurrent model.
    """
    if format == "stablehlo":
        if dtype != "float32" or quantize is not None:
            raise ValueError(
                f"format='stablehlo' exports float32 (got dtype={dtype!r}, quantize={quantize!r}): use ONNX for "
                "float16 / int8"
            )
        if not deterministic:
            raise NotImplementedError("export(deterministic=False) is not supported: expected deterministic=True")
        return _export_stablehlo(model, path, role, params, check, tolerance, min_agreement, samples, history)
    _require_torch()
    from mixrl.models.torch.export import export_model as export_torch_model

    twin = torch_twin(model, torch_model, params=params, name_map=name_map)
    example = None if example_inputs is None else _to_tensor(example_inputs)
    return export_torch_model(
        twin,
        path,
        format,
        role,
        deterministic,
        example_inputs=example,
        dynamo=dynamo,
        check=check,
        tolerance=tolerance,
        min_agreement=min_agreement,
        samples=samples,
        dtype=dtype,
        quantize=quantize,
        history=history,
        _backend="jax",
    )


def deterministic_policy(model: Any, role: str = "policy", params: Any = None) -> Callable[[Any], Any]:
    """``states (batch, obs) -> actions``: what the exported file computes, as a pure JAX function.

    ``act`` in eval mode (the model's ``training`` must be False when it is traced), then the categorical
    ``mode_actions`` (argmax plus ``start``), the Gaussian ``mean_actions`` (squashed, or clipped with
    ``clip_actions``), the Beta ``mean_actions`` or the Deterministic ``actions``.
    """
    import jax

    from mixrl.models import _roles
    from mixrl.models.jax.gaussian import GaussianSettings

    settings, _ = _roles.route(model, role, "act")
    params = model.state_dict.params if params is None else params
    bounds = getattr(settings, "bounds", None) if isinstance(settings, GaussianSettings) else None
    multivariate = type(settings).__name__ == "MultivariateGaussianSettings"
    if multivariate:
        bounds = getattr(settings, "bounds", None) if getattr(settings, "clip_actions", False) else None

    def policy(states: Any) -> Any:
        actions, _, outputs = model.act({"states": states, "key": jax.random.PRNGKey(0)}, role, params)
        if "mode_actions" in outputs:
            return outputs["mode_actions"]
        if "mean_actions" in outputs:
            mean = outputs["mean_actions"]
            return mean if bounds is None else jax.numpy.clip(mean, bounds[0], bounds[1])
        return actions

    return policy


def _export_stablehlo(
    model: Any,
    path: str | os.PathLike,
    role: str,
    params: Any,
    check: bool,
    tolerance: float | None,
    min_agreement: float | None,
    samples: int,
    history: int | None,
) -> ExportResult:
    """``jax.export`` of :func:`deterministic_policy` (plus the history window), checked, with its sidecar."""
    import jax
    import jax.numpy as jnp

    if model.get_specification().get("rnn"):
        raise NotImplementedError(
            f"{type(model).__name__} is recurrent: format='stablehlo' exports feed-forward models"
        )
    size = compute_space_size(model.observation_space, occupied_size=True)
    frame = None if history is None else _deploy.history_size(size, history)
    params = model.state_dict.params if params is None else params
    act = deterministic_policy(model, role, params)

    def window_policy(observations: Any, observation_history: Any) -> tuple[Any, Any]:
        window = jnp.concatenate([observation_history[:, 1:], observations[:, None]], axis=1)
        return act(window.reshape(window.shape[0], -1)), window

    function: Callable[..., Any] = act if frame is None else window_policy
    (batch,) = jax.export.symbolic_shape("batch")
    structs = [jax.ShapeDtypeStruct((batch, size if frame is None else frame), jnp.float32)]
    if frame is not None:
        structs.append(jax.ShapeDtypeStruct((batch, history, frame), jnp.float32))
    names = (
        (["observations"], ["actions"])
        if frame is None
        else (
            ["observations", "observation_history"],
            ["actions", "next_observation_history"],
        )
    )
    training, model.training = model.training, False
    try:
        exported = jax.export.export(jax.jit(function))(*structs)
        data = bytes(exported.serialize())
        inputs = _check_inputs(model, frame, samples)
        expected = _as_list(jax.jit(function)(*inputs))
    finally:
        model.training = training
    result = None
    if check:
        received = _as_list(jax.export.deserialize(bytearray(data)).call(*inputs))
        result = _deploy.compare(
            [np.asarray(value) for value in expected],
            [np.asarray(value) for value in received],
            tolerance=_deploy.DEFAULT_TOLERANCE["float32"] if tolerance is None else tolerance,
            min_agreement=_deploy.DEFAULT_AGREEMENT["float32"] if min_agreement is None else min_agreement,
            where=f"the stablehlo export of {type(model).__name__} (role {role!r})",
        )
    content = _deploy.metadata(
        path=path,
        format="stablehlo",
        backend="jax",
        role=role,
        observation_space=model.observation_space,
        action_space=model.action_space,
        inputs=[
            _deploy.tensor_entry(n, np.shape(v), np.asarray(v).dtype, 0) for n, v in zip(names[0], inputs, strict=True)
        ],
        outputs=[
            _deploy.tensor_entry(n, np.shape(v), np.asarray(v).dtype, 0)
            for n, v in zip(names[1], expected, strict=True)
        ],
        recurrent_states=[],
        history=None
        if frame is None
        else {
            "length": history,
            "observation_size": frame,
            "input": "observation_history",
            "output": "next_observation_history",
            "layout": _deploy.HISTORY_LAYOUT,
        },
        normalizer="normalizer" in params,
        dtype="float32",
        quantize=None,
        check=result,
    )
    return _deploy.publish(path, data, content)


def _as_list(output: Any) -> list[Any]:
    return list(output) if isinstance(output, (tuple, list)) else [output]


def _check_inputs(model: Any, frame: int | None, samples: int) -> list[np.ndarray]:
    """Random check inputs (seeded): observations from the space; with ``history`` a window and a newest one."""
    space, size = model.observation_space, compute_space_size(model.observation_space, occupied_size=True)

    def draw(seed: int) -> np.ndarray:
        if isinstance(space, gymnasium.Space):
            sample = sample_space(space, batch_size=samples, seed=seed)
            return np.asarray(flatten_tensorized_space(sample, _jax=False), np.float32)
        return np.random.default_rng(seed).normal(size=(samples, size)).astype(np.float32)

    observations = draw(0)
    if frame is None:
        return [observations]
    return [draw(1).reshape(samples, -1, frame)[:, -1], observations.reshape(samples, -1, frame)]


class LoadedPolicy:
    """A StableHLO policy read back by :func:`load_exported`: ``policy(observations, ...) -> actions`` (NumPy).

    Attributes:
        metadata: the sidecar (``{}`` when the file has none).
        exported: the ``jax.export.Exported`` (``.call`` it inside your own ``jax.jit``).
    """

    def __init__(self, exported: Any, metadata: dict[str, Any]) -> None:
        self.exported = exported
        self.metadata = metadata

    def __call__(self, *arrays: Any) -> Any:
        """The outputs for float32 inputs in the sidecar's order: ``actions`` (or ``(actions, next_history)``)."""
        outputs = self.exported.call(*(np.asarray(array, np.float32) for array in arrays))
        if isinstance(outputs, (tuple, list)):
            return tuple(np.asarray(value) for value in outputs)
        return np.asarray(outputs)


def load_exported(path: str | os.PathLike) -> LoadedPolicy:
    """Read a ``format="stablehlo"`` file (and its sidecar, if present) back as a callable.

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    import jax

    with open(path, "rb") as file:
        exported = jax.export.deserialize(bytearray(file.read()))
    sidecar = _deploy.sidecar_path(path)
    return LoadedPolicy(exported, _deploy.read_sidecar(path) if sidecar.exists() else {})
