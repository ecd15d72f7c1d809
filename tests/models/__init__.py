"""Tests of mixrl.models (shared modules run on both backends through the ``backend`` fixture).

The test networks are tiny, so XLA compile time dominates the JAX runs: ask XLA for less backend
optimisation. It takes effect only if JAX's CPU backend has not started yet and never overrides a
user's ``XLA_FLAGS`` (``tests/models/jax/__init__.py`` does the same for a run of that folder alone).
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
