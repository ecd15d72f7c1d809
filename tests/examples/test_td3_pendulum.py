"""Learning test of ``examples/td3_pendulum.py``: TD3 swings Pendulum up within a short, seeded budget."""

import pytest


@pytest.mark.slow
def test_td3_reaches_minus_600_on_pendulum_in_4000_steps(capsys, load_example):
    """4000 steps lift the mean return from about -1200 (random) above -600 (measured: -115; seeds 1-4: -130 to -206).

    Seeded runs sit at about -1000 (the pendulum is never swung up) until they learn, between 2000 and 3500 steps.
    """
    mean_return = load_example("td3_pendulum").main(steps=4000, seed=0)
    assert mean_return >= -600
    assert "TD3 Pendulum-v1: mean return" in capsys.readouterr().out
