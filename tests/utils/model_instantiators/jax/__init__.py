"""Tests of mixrl.utils.model_instantiators.jax.

The test networks are tiny, so XLA compile time dominates the run: this package asks XLA for less backend
optimisation (as tests/models/jax does). It takes effect only if JAX's CPU backend has not started yet and
never overrides a user's ``XLA_FLAGS``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
