"""Gymnasium space utilities: sizes, conversion, (un)tensorizing, (un)flattening and sampling.

Import the backend you need: ``mixrl.utils.spaces.torch`` or ``mixrl.utils.spaces.jax``.
This package itself imports neither torch nor jax.
"""
