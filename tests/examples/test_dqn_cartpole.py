"""Learning test of ``examples/dqn_cartpole.py``: Double DQN balances CartPole within a short, seeded budget."""

import pytest


@pytest.mark.slow
def test_dqn_reaches_200_on_cartpole_in_32000_steps(capsys, load_example):
    """32000 steps lift the greedy mean return from about 10 (untrained) above 200 (measured, seeds 0-2: 475, 500, 500).

    With the target network left at its initial weights (a polyak update that does nothing) 24000 steps
    scored 10-11 where the healthy loop scored 130-240.
    """
    mean_return = load_example("dqn_cartpole").main(steps=32_000, seed=0)
    assert mean_return >= 200
    assert "DQN CartPole-v1: mean return" in capsys.readouterr().out
