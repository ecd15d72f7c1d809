"""Tests of mixrl.models.jax.

The test networks are tiny, so XLA compile time dominates the run: this package asks XLA for less backend
optimisation. It takes effect only if JAX's CPU backend has not started yet (this package is collected
before the other JAX tests) and never overrides a user's ``XLA_FLAGS``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
