"""Agent models: ``mixrl.models.torch`` (PyTorch) and ``mixrl.models.jax`` (JAX/Flax)."""
