"""A per-run JAX compilation cache for the test packages that build many identical small models."""

import jax
import pytest

_OPTIONS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.fixture(scope="package", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """Deduplicate identical compilations (models built alike compile the same act); restores the options after."""
    before = {name: getattr(jax.config, name) for name in _OPTIONS}
    for name, value in zip(_OPTIONS, (str(tmp_path_factory.mktemp("jax_cache")), 0, 0), strict=True):
        jax.config.update(name, value)
    yield
    for name, value in before.items():
        jax.config.update(name, value)
