"""``mixrl demo``: PPO on CartPole-v1 with a shared policy + value model, end to end on the CPU.

Needs the ``demo`` extra (``tqdm``, ``matplotlib``) besides ``torch`` (or ``jax`` for ``--backend jax``).
Modules: :mod:`mixrl.demo.cli` (the command), :mod:`mixrl.demo.ppo` (PyTorch PPO),
:mod:`mixrl.demo.ppo_jax` (JAX PPO) and :mod:`mixrl.demo.common` (environments, GAE, evaluation, plot).
Nothing is imported here, so ``import mixrl.demo`` stays cheap.
"""
