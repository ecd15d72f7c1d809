"""Global configuration: ``mixrl.config.torch`` and ``mixrl.config.jax``.

Neither section imports its framework until a member that needs it is used, so
``import mixrl`` stays free of torch and jax. Nothing here starts a process group:
distributed runs call ``init_distributed()`` explicitly.
"""

from __future__ import annotations

import os
import re
from typing import Any

_DEVICE_PATTERN = re.compile(r"^(?P<type>[a-z]+)(?::(?P<index>\d+))?$")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


class _TorchConfig:
    """PyTorch settings: default device and distributed-run facts."""

    def __init__(self) -> None:
        self._device = None

    @property
    def local_rank(self) -> int:
        return _env_int("LOCAL_RANK", 0)

    @property
    def rank(self) -> int:
        return _env_int("RANK", 0)

    @property
    def world_size(self) -> int:
        return _env_int("WORLD_SIZE", 1)

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @staticmethod
    def parse_device(device: Any = None, validate: bool = True):
        """Turn ``device`` into a ``torch.device``.

        Args:
            device: ``torch.device`` (passed through), a string such as ``"cpu"`` or ``"cuda:1"``, or ``None``
                (``cuda:<local_rank>`` when CUDA is available, else ``cpu``).
            validate: also allocate a one-element tensor on the device to prove it is usable.

        Raises:
            ValueError: the string is not a device, or the device cannot be used.
        """
        import torch

        if device is None:
            if torch.cuda.is_available():
                return torch.device(f"cuda:{_env_int('LOCAL_RANK', 0)}")
            return torch.device("cpu")
        if isinstance(device, torch.device):
            parsed = device
        elif isinstance(device, str):
            try:
                parsed = torch.device(device)
            except RuntimeError as error:
                raise ValueError(f"invalid device {device!r}: expected e.g. 'cpu', 'cuda' or 'cuda:0'") from error
        else:
            raise ValueError(f"device must be a str, torch.device or None, got {type(device).__name__}")
        if validate:
            try:
                torch.empty(1, device=parsed)
            except (RuntimeError, AssertionError) as error:
                raise ValueError(f"device {str(parsed)!r} is not usable on this machine: {error}") from error
        return parsed

    @property
    def device(self):
        if self._device is None:
            self._device = self.parse_device(None)
        return self._device

    @device.setter
    def device(self, device) -> None:
        self._device = self.parse_device(device)

    def init_distributed(self, backend: str = "nccl") -> None:
        """Initialise the default process group from the environment (explicit, never at import)."""
        import torch

        if not self.is_distributed:
            return
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend, rank=self.rank, world_size=self.world_size)
        if backend == "nccl" and torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)


class _JaxConfig:
    """JAX settings: array backend, global PRNG key, device and distributed-run facts."""

    _BACKENDS = ("numpy", "jax")

    def __init__(self) -> None:
        self._backend = "numpy"
        self._key: Any = 0  # an int seed until a key is first needed
        self._device = None

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in self._BACKENDS:
            raise ValueError(f"invalid JAX backend {value!r}: expected one of {self._BACKENDS}")
        self._backend = value

    @property
    def key(self):
        """The global PRNG key (created lazily from the seed, placed on ``device``)."""
        import jax

        if isinstance(self._key, int):
            with jax.default_device(self.device):
                self._key = jax.random.PRNGKey(self._key)
        return self._key

    @key.setter
    def key(self, value) -> None:
        if isinstance(value, bool):
            raise TypeError("key must be an int seed or a jax PRNG key, got bool")
        if isinstance(value, int):
            self._key = value
            return
        import jax.numpy as jnp

        self._key = jnp.asarray(value)

    @property
    def local_rank(self) -> int:
        return _env_int("JAX_LOCAL_RANK", 0)

    @property
    def rank(self) -> int:
        return _env_int("JAX_RANK", 0)

    @property
    def world_size(self) -> int:
        return _env_int("JAX_WORLD_SIZE", 1)

    @property
    def coordinator_address(self) -> str:
        host = os.environ.get("JAX_COORDINATOR_ADDR", "127.0.0.1")
        port = os.environ.get("JAX_COORDINATOR_PORT", "1234")
        return f"{host}:{port}"

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def parse_device(self, device: Any = None):
        """Turn ``device`` (``"cpu"``, ``"cuda:1"``, ``"gpu:0"``, a ``jax.Device`` or ``None``) into a ``jax.Device``.

        Raises:
            ValueError: the string is not a device, or no such device exists.
        """
        import jax

        if self.is_distributed:
            return jax.local_devices(process_index=jax.process_index())[0]
        if device is None:
            return jax.devices()[0]
        if isinstance(device, jax.Device):
            return device
        if not isinstance(device, str):
            raise ValueError(f"device must be a str, jax.Device or None, got {type(device).__name__}")
        match = _DEVICE_PATTERN.match(device.strip().lower())
        if match is None:
            raise ValueError(f"invalid device {device!r}: expected e.g. 'cpu', 'cuda:0' or 'gpu:1'")
        kind = {"cuda": "gpu"}.get(match["type"], match["type"])
        index = int(match["index"] or 0)
        try:
            return jax.devices(kind)[index]
        except (RuntimeError, IndexError) as error:
            raise ValueError(f"device {device!r} is not available: {error}") from error

    @property
    def device(self):
        if self._device is None:
            self._device = self.parse_device(None)
        return self._device

    @device.setter
    def device(self, device) -> None:
        self._device = self.parse_device(device)

    def init_distributed(self) -> None:
        """Connect this process to the others (explicit, never at import)."""
        import jax

        if self.is_distributed:
            jax.distributed.initialize(
                coordinator_address=self.coordinator_address,
                num_processes=self.world_size,
                process_id=self.rank,
                local_device_ids=self.local_rank,
            )


class _Config:
    def __init__(self) -> None:
        self.torch = _TorchConfig()
        self.jax = _JaxConfig()


config = _Config()
