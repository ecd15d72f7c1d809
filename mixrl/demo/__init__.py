"""``mixrl demo``: PPO on CartPole-v1 with a shared policy + value model, end to end on the CPU.

Needs the ``demo`` extra (``tqdm``, ``matplotlib``) besides ``torch`` (or ``jax`` for ``--backend jax``).
Modules: :mod:`mixrl.demo.cli` (the command), :mod:`mixrl.demo.ppo` (the reference PPO on PyTorch),
:mod:`mixrl.demo.ppo_jax` (the reference PPO on JAX) and :mod:`mixrl.demo.common` (configuration, environments,
GAE, evaluation, plot); the PPO examples in ``examples/`` call the same two reference PPOs.
Nothing is imported here, so ``import mixrl.demo`` stays cheap.
"""
