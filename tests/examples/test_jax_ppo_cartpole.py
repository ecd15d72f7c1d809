"""Learning test of ``examples/jax_ppo_cartpole.py``: jitted JAX PPO balances CartPole within a short, seeded budget."""

import pytest


@pytest.mark.slow
def test_jax_ppo_reaches_200_on_cartpole_in_16384_steps(capsys, load_example):
    """16384 steps lift the greedy mean return from about 10 above 200 (measured: 443).

    Everything runs traced: ``act`` with ``inputs["key"]`` in the rollout, log-probs of taken actions and the
    entropy inside ``jax.grad``, so a tracing, key or shape error in the JAX models fails here too.
    """
    pytest.importorskip("flax")
    pytest.importorskip("optax")
    mean_return = load_example("jax_ppo_cartpole").main(steps=16_384, seed=0)
    assert mean_return >= 200
    assert "JAX PPO CartPole-v1: mean return" in capsys.readouterr().out
