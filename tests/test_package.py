import logging
import subprocess
import sys

import pytest

import mixrl


class TestImport:
    def test_import_mixrl_loads_neither_torch_nor_jax(self):
        """The top-level package is framework-free (checked in a fresh interpreter)."""
        code = "import sys, mixrl; print(sorted(m for m in ('torch', 'jax', 'flax', 'gym') if m in sys.modules))"
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert output.strip() == "[]"

    def test_public_names(self):
        """mixrl exposes __version__, logger and config."""
        assert isinstance(mixrl.__version__, str)
        assert mixrl.logger is logging.getLogger("mixrl")
        assert hasattr(mixrl.config, "torch") and hasattr(mixrl.config, "jax")


class TestLogger:
    def test_format_is_mixrl_level_message(self):
        """Records print as '[mixrl:LEVEL] message' (no colour off a TTY)."""
        handler = mixrl.logger.handlers[0]
        record = logging.LogRecord("mixrl", logging.WARNING, __file__, 1, "careful", None, None)
        assert handler.format(record) == "[mixrl:WARNING] careful"


class TestTorchConfig:
    def test_parse_device(self):
        """torch.device passes through, strings are parsed, None is a usable default."""
        torch = pytest.importorskip("torch")
        assert mixrl.config.torch.parse_device("cpu") == torch.device("cpu")
        assert mixrl.config.torch.parse_device(torch.device("cpu")) == torch.device("cpu")
        assert mixrl.config.torch.parse_device(None).type in ("cpu", "cuda")
        with pytest.raises(ValueError, match="invalid device"):
            mixrl.config.torch.parse_device("not a device")

    def test_distributed_facts_come_from_the_environment(self, monkeypatch):
        """LOCAL_RANK, RANK and WORLD_SIZE default to 0, 0, 1."""
        for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE"):
            monkeypatch.delenv(name, raising=False)
        cfg = mixrl.config.torch
        assert (cfg.local_rank, cfg.rank, cfg.world_size, cfg.is_distributed) == (0, 0, 1, False)
        monkeypatch.setenv("WORLD_SIZE", "4")
        assert cfg.is_distributed is True


class TestJaxConfig:
    def test_backend_accepts_numpy_and_jax_only(self):
        """Any other backend is a ValueError."""
        cfg = mixrl.config.jax
        with pytest.raises(ValueError, match="'torch'"):
            cfg.backend = "torch"
        cfg.backend = "jax"
        cfg.backend = "numpy"
        assert cfg.backend == "numpy"

    def test_invalid_device_is_an_error(self):
        """A malformed device string is a ValueError."""
        pytest.importorskip("jax")
        with pytest.raises(ValueError):
            mixrl.config.jax.parse_device("cpu:x")
