"""What every exported policy shares, whatever the backend: the JSON sidecar, the export check, observation history.

Framework-free (NumPy and gymnasium only): :mod:`mixrl.models.torch.export` and :mod:`mixrl.models.jax.export`
build the file, this module describes it and judges how closely it computes what the model computes.

Sidecar: ``<file>.json`` next to the exported file (``policy.onnx`` -> ``policy.onnx.json``), written atomically
after the file. Its keys (``FORMAT_VERSION`` 1):

* ``format_version``, ``mixrl_version``, ``file`` (the file's name), ``format`` (``onnx``, ``torch.export``,
  ``torchscript``, ``stablehlo``), ``backend`` (of the model: ``torch`` or ``jax``), ``role``, ``deterministic``,
  ``normalizer`` (the model owns an observation normaliser, which the file includes);
* ``observation_space``, ``action_space``: gymnasium spaces as ``{"type": "Box", "low", "high", "shape", "dtype"}``,
  ``{"type": "Discrete", "n", "start"}``, ``{"type": "MultiDiscrete", "nvec", "start"}``, ``{"type": "MultiBinary",
  "n"}``, ``{"type": "Tuple", "spaces": [...]}``, ``{"type": "Dict", "spaces": {...}}`` (infinite bounds as the
  strings ``"inf"`` / ``"-inf"``; :func:`mixrl.utils.spaces.description.decode_space` reads them back);
* ``inputs``, ``outputs``: ``[{"name", "shape", "dtype"}]`` in call order, the batch dimension the string
  ``"batch"``;
* ``recurrent_states``: ``[{"input", "output", "shape"}]`` (empty for a feed-forward model);
* ``history``: ``None`` or ``{"length": K, "observation_size": d, "input", "output", "layout"}`` (see below);
* ``precision``: ``{"dtype": "float32" | "float16", "quantize": None | "int8", "boundary_dtype": "float32"}``;
* ``check``: ``None`` (``check=False``) or :class:`ExportCheck` as a dict.

Observation history (``history=K``): the model's ``compute`` reads ``inputs["states"]`` (batch, K*d) as the last K
observations, oldest first, each flattened to d values: ``states[:, i*d:(i+1)*d]`` is the observation of step
``t - K + 1 + i`` and ``states[:, (K-1)*d:]`` the newest. The exported policy takes the newest observation
``observations`` (batch, d) and the previous window ``observation_history`` (batch, K, d, oldest first), and
returns ``actions`` and ``next_observation_history = concat(observation_history[:, 1:], observations[:, None])``
(batch, K, d), the window the actions were computed from (feed it back at the next step; at an episode start,
fill the window with the first observation, or zeros, as in training).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mixrl.utils.spaces.description import encode_space

FORMAT_VERSION = 1
Precision = Literal["float32", "float16"]
Quantization = Literal["int8"]
#: default ``tolerance`` (worst absolute difference of float outputs) per precision: "int8" for quantize="int8"
DEFAULT_TOLERANCE: dict[str, float] = {"float32": 1e-4, "float16": 2e-2, "int8": 1e-1}
#: default ``min_agreement`` (fraction of check samples with the model's action) per precision
DEFAULT_AGREEMENT: dict[str, float] = {"float32": 1.0, "float16": 0.98, "int8": 0.9}
HISTORY_LAYOUT = (
    "observation_history (batch, K, d): the previous K observations, oldest first; the model's states (batch, K*d) "
    "are next_observation_history = concat(observation_history[:, 1:], observations[:, None]) flattened row-major"
)
logger = logging.getLogger("mixrl")


class ExportCheckError(ValueError):
    """The exported file does not compute what the model computes within the tolerance (nothing was written)."""


@dataclass(frozen=True)
class ExportCheck:
    """How closely the exported file reproduces the model on random observations of its observation space.

    Attributes:
        samples: number of observations (rows) compared.
        max_abs_error: worst absolute difference over the float outputs (continuous actions, next recurrent
            states, next observation history); ``None`` when every output is an integer action.
        agreement: fraction of samples whose action equals the model's (discrete heads: the same index;
            continuous heads: every component within ``tolerance``).
        tolerance: the allowed ``max_abs_error``.
        min_agreement: the allowed ``agreement``.
    """

    samples: int
    max_abs_error: float | None
    agreement: float
    tolerance: float
    min_agreement: float


@dataclass(frozen=True)
class ExportResult:
    """What ``Model.export`` wrote: the file, its sidecar, the check (``None`` with ``check=False``) and the
    sidecar's content."""

    path: str
    sidecar: str
    check: ExportCheck | None
    metadata: dict[str, Any]


def precision_key(dtype: str, quantize: str | None) -> str:
    """``"int8"`` for a quantised file, else the dtype (the key of ``DEFAULT_TOLERANCE``)."""
    return quantize if quantize is not None else dtype


def validate_precision(dtype: str, quantize: str | None, format: str) -> None:
    """Raises ValueError for an unknown dtype or quantisation, or int8 on a format other than ONNX."""
    if dtype not in ("float32", "float16"):
        raise ValueError(f"unknown export dtype {dtype!r}: expected 'float32' or 'float16'")
    if quantize is not None and quantize != "int8":
        raise ValueError(f"unknown quantize {quantize!r}: expected None or 'int8'")
    if quantize is not None and (format != "onnx" or dtype != "float32"):
        raise ValueError(
            f"quantize='int8' quantises a float32 ONNX file (onnxruntime quantize_dynamic): got format={format!r}, "
            f"dtype={dtype!r}, expected format='onnx', dtype='float32'"
        )


def space_to_dict(space: Any) -> dict[str, Any]:
    """A gymnasium space as strict-JSON data (:func:`~mixrl.utils.spaces.description.encode_space`); ``{"type":
    name}`` for other spaces."""
    try:
        return dict(encode_space(space, strict_json=True))
    except (ValueError, TypeError):
        return {"type": type(space).__name__}


def tensor_entry(name: str, shape: Sequence[int], dtype: Any, batch_axis: int) -> dict[str, Any]:
    """``{"name", "shape", "dtype"}`` with dimension ``batch_axis`` of ``shape`` written ``"batch"``."""
    dims: list[int | str] = [int(d) for d in shape]
    dims[batch_axis] = "batch"
    return {"name": name, "shape": dims, "dtype": str(np.dtype(dtype))}


def history_size(observation_size: int, history: int) -> int:
    """d, the size of one observation, for a model whose states hold ``history`` of them.

    Raises:
        ValueError: ``history`` below 1 or not dividing the occupied observation size.
    """
    if isinstance(history, bool) or not isinstance(history, int) or history < 1:
        raise ValueError(f"history must be a positive int (the number K of stacked observations), got {history!r}")
    if observation_size % history:
        raise ValueError(
            f"history={history}: the model's observation size {observation_size} is not K * d (it must hold the "
            f"last {history} observations of d values each)"
        )
    return observation_size // history


def compare(
    expected: Sequence[np.ndarray],
    received: Sequence[np.ndarray],
    *,
    tolerance: float,
    min_agreement: float,
    where: str,
) -> ExportCheck:
    """Compare the model's outputs ``expected`` (actions first) with the file's ``received``, row by row.

    Raises:
        ExportCheckError: other shapes, ``max_abs_error > tolerance`` or ``agreement < min_agreement`` (the message
            gives both numbers).
    """
    if len(expected) != len(received):
        raise ExportCheckError(f"{where} returns {len(received)} output(s), the model {len(expected)}")
    errors: list[float] = []
    agree: np.ndarray | None = None
    for index, (want, got) in enumerate(zip(expected, received, strict=True)):
        want, got = np.asarray(want), np.asarray(got)
        if want.shape != got.shape:
            raise ExportCheckError(f"{where}: output {index} has shape {got.shape}, the model's {want.shape}")
        rows = len(want)
        if np.issubdtype(want.dtype, np.integer):
            same = (want == got).reshape(rows, -1).all(axis=-1)
        else:
            difference = np.abs(got.astype(np.float64) - want.astype(np.float64))
            difference = np.where(np.isnan(difference), np.inf, difference)  # a NaN is never within tolerance
            errors.append(float(difference.max(initial=0.0)))
            same = (difference <= tolerance).reshape(rows, -1).all(axis=-1)
        if index == 0:
            agree = same
    samples = len(expected[0]) if expected else 0
    result = ExportCheck(
        samples=samples,
        max_abs_error=max(errors) if errors else None,
        agreement=float(np.mean(agree)) if agree is not None and samples else 1.0,
        tolerance=float(tolerance),
        min_agreement=float(min_agreement),
    )
    if (result.max_abs_error is not None and result.max_abs_error > tolerance) or result.agreement < min_agreement:
        raise ExportCheckError(
            f"{where} does not compute what the model computes: {describe(result)}; raise tolerance= / "
            "min_agreement= if this precision is acceptable, or pass check=False"
        )
    return result


def describe(check: ExportCheck) -> str:
    """One line: worst error and agreement with their limits, on how many samples."""
    error = "n/a (integer actions)" if check.max_abs_error is None else f"{check.max_abs_error:.3g}"
    return (
        f"worst absolute error {error} (tolerance {check.tolerance:.3g}), action agreement "
        f"{100 * check.agreement:.1f}% (minimum {100 * check.min_agreement:.1f}%) on {check.samples} samples"
    )


def metadata(
    *,
    path: str | os.PathLike,
    format: str,
    backend: str,
    role: str,
    observation_space: Any,
    action_space: Any,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    recurrent_states: list[dict[str, Any]],
    history: Mapping[str, Any] | None,
    normalizer: bool,
    dtype: str,
    quantize: str | None,
    check: ExportCheck | None,
) -> dict[str, Any]:
    """The sidecar's content (see the module docstring)."""
    from mixrl import __version__

    return {
        "format_version": FORMAT_VERSION,
        "mixrl_version": __version__,
        "file": Path(path).name,
        "format": format,
        "backend": backend,
        "role": role,
        "deterministic": True,
        "normalizer": bool(normalizer),
        "observation_space": space_to_dict(observation_space),
        "action_space": space_to_dict(action_space),
        "inputs": inputs,
        "outputs": outputs,
        "recurrent_states": recurrent_states,
        "history": None if history is None else dict(history),
        "precision": {"dtype": dtype, "quantize": quantize, "boundary_dtype": "float32"},
        "check": None if check is None else asdict(check),
    }


def sidecar_path(path: str | os.PathLike) -> Path:
    """``policy.onnx`` -> ``policy.onnx.json``."""
    return Path(f"{os.fspath(path)}.json")


def publish(path: str | os.PathLike, data: bytes, content: dict[str, Any]) -> ExportResult:
    """Write the file, then its sidecar, each atomically, log the check, and return the :class:`ExportResult`."""
    from mixrl.checkpoints.atomic import atomic_write

    sidecar = sidecar_path(path)
    text = json.dumps(content, indent=2) + "\n"
    atomic_write(path, lambda file: file.write(data))
    atomic_write(sidecar, lambda file: file.write(text.encode()))
    check = None if content["check"] is None else ExportCheck(**content["check"])
    precision = content["precision"]["quantize"] or content["precision"]["dtype"]
    if check is not None:
        logger.info("exported %s (%s, %s): %s", os.fspath(path), content["format"], precision, describe(check))
    else:
        logger.info("exported %s (%s, %s), not checked", os.fspath(path), content["format"], precision)
    return ExportResult(os.fspath(path), os.fspath(sidecar), check, content)


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of the exported file at ``path`` (``path`` itself when it ends in ``.json``)."""
    file = Path(path) if os.fspath(path).endswith(".json") else sidecar_path(path)
    return dict(json.loads(file.read_text()))
