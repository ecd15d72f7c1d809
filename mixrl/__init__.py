"""mixrl: reinforcement-learning agent models for PyTorch and JAX/Flax.

Importing this package never imports torch or jax; the framework modules
(``mixrl.models.torch``, ``mixrl.models.jax``, ...) do that on their own.
"""

from mixrl._config import config
from mixrl._logging import logger

__version__ = "0.1.0"

__all__ = ["__version__", "config", "logger"]
