"""Export a JAX model's deterministic policy as an inference file (ONNX or TorchScript) through its torch twin.

ONNX and TorchScript files are written from torch: the JAX model is exported through a *torch twin*, a
torch model with the same layers in the same order and the same mixin, holding the Flax weights
(Dense kernels transposed, Conv kernels permuted: :func:`mixrl.checkpoints.torch_flax.flax_to_torch`).
For a model built by the JAX instantiators the twin is built from the model's description with the torch
instantiators; a hand-written Flax model needs its twin passed as ``torch_model``. The twin is checked
against the JAX model on a sample of the observation space before anything is written, then
:func:`mixrl.models.torch.export.export_model` writes the file (same inputs, outputs and options).

PyTorch is imported only when a function here is called: ``pip install 'mixrl[torch]'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import gymnasium
import numpy as np

from mixrl.utils.spaces.jax import flatten_tensorized_space, sample_space

if TYPE_CHECKING:
    from mixrl.models.torch import Model as TorchModel

ExportFormat = Literal["onnx", "torchscript"]
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


def _twin_from_description(model: Any) -> TorchModel:
    """The torch model the JAX instantiators' description of ``model`` describes (weights not yet copied)."""
    description = getattr(model, "description", None)
    if description is None:
        raise ValueError(
            f"{type(model).__name__} has no description to build its torch twin from (it was not built by "
            "mixrl.utils.model_instantiators.jax, or a parameter has no plain form): pass torch_model=, a torch "
            "model with the same layers in the same order (torch.nn.Linear for nn.Dense, ...) and the same mixin"
        )
    if model.get_specification().get("rnn"):
        raise NotImplementedError(
            f"{type(model).__name__} is recurrent: Flax cells (nn.GRUCell, nn.LSTMCell, nn.SimpleCell) have no "
            "conversion to torch.nn.GRU / LSTM / RNN weights, so recurrent JAX models cannot be exported yet"
        )
    from mixrl.utils.model_instantiators.torch import model_from_config

    # one model's description (never a runner document of several)
    return cast("TorchModel", model_from_config(description, model.observation_space, model.action_space, device="cpu"))


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
        torch_model: the twin to load the weights into (they are replaced); required for a hand-written
            Flax model, built from ``model.description`` with the torch instantiators when None.
        params: the Flax variables to copy (``{"params": {...}}``); default ``model.state_dict.params``.
        name_map: Flax leaf path (``"Dense_0/kernel"``) -> torch name, for layers the order cannot pair.
        check: compare the twin's ``compute`` with the JAX ``model`` in eval mode on a sample of the
            observation space (every array it returns, atol and rtol ``CHECK_TOLERANCE``).

    Returns:
        the twin (on the CPU when built here). A ``log_std_parameter`` that the Flax parameters lack
        (``fixed_log_std=True``) keeps the twin's value, which its description fixes to the same constant.

    Raises:
        ImportError: PyTorch is not installed.
        ValueError: no ``torch_model`` for a model without description, layers that do not pair (the message
            lists them), or a twin whose outputs differ from the model's.
        NotImplementedError: an instantiated recurrent model (no conversion of Flax cells to torch RNNs).
    """
    _require_torch()
    from mixrl.checkpoints.torch_flax import flax_to_torch, split_params

    twin = _twin_from_description(model) if torch_model is None else torch_model
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
) -> None:
    """Write the deterministic policy of the JAX ``model`` for ``role`` to ``path``, through its torch twin.

    The file is the one :meth:`mixrl.models.torch.Model.export` writes for the twin: ``observations``
    (batch, occupied size of the observation space) -> ``actions`` (the mean, squashed or clipped as ``act``
    does; the argmax plus ``start`` for categorical heads), batch dynamic; recurrent twins also take
    ``rnn_state_0..k`` and return ``next_rnn_state_0..k``.

    Args:
        model: a mixrl JAX model with its ``state_dict``.
        path: destination file (e.g. ``policy.onnx``, ``policy.pt``).
        format: ``"onnx"`` (run with onnxruntime: ``pip install 'mixrl[export]'``) or ``"torchscript"``.
        role: the role to export; any role on a single-role model.
        deterministic: must be True (sampling is not exported).
        torch_model: the twin of a hand-written Flax model (see :func:`torch_twin`); its weights are replaced.
        params: the Flax variables to export; default ``model.state_dict.params``.
        name_map: Flax leaf path -> torch name, for layers the order cannot pair.
        example_inputs: ``observations`` or ``(observations, *rnn_states)`` (NumPy, JAX or torch arrays) to
            trace with; default: a sample of the observation space (and zero states).
        dynamo: ONNX only: PyTorch's ``torch.export``-based exporter (needs onnxscript).

    Raises:
        ImportError: PyTorch is not installed (or onnxscript, with ``dynamo=True``).
        ValueError: unknown ``format`` or role, no twin for a hand-written model, a twin that does not pair
            with or compute like ``model``, or ``example_inputs`` with a wrong number of arrays.
        NotImplementedError: ``deterministic=False``, a mixin without deterministic head, or an instantiated
            recurrent model.
    """
    _require_torch()
    from mixrl.models.torch.export import export_model as export_torch_model

    twin = torch_twin(model, torch_model, params=params, name_map=name_map)
    example = None if example_inputs is None else _to_tensor(example_inputs)
    export_torch_model(twin, path, format, role, deterministic, example_inputs=example, dynamo=dynamo)
