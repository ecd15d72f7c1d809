"""Learning test of ``examples/sac_pendulum.py``: SAC swings Pendulum up within a short, seeded budget."""

import pytest


@pytest.mark.slow
def test_sac_reaches_minus_600_on_pendulum_in_2000_steps(capsys, load_example):
    """2000 steps lift the mean return from about -1200 (random) above -600 (measured: -157; seed 2: -147).

    The squashed Gaussian's log-probability and the entropy tuning matter: with ``clip_actions=True`` instead of
    ``squash=True`` the temperature collapsed and 4000 steps stayed at -1200 to -1600.
    """
    mean_return = load_example("sac_pendulum").main(steps=2000, seed=0)
    assert mean_return >= -600
    assert "SAC Pendulum-v1: mean return" in capsys.readouterr().out
