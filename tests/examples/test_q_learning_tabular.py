"""Learning tests of ``examples/q_learning_tabular.py``: FrozenLake solved, Taxi far above random, CLI flags."""

import os
import subprocess
import sys

import pytest

from tests.examples.conftest import EXAMPLES


@pytest.mark.slow
class TestQLearningTabular:
    def test_frozenlake_is_solved_in_2000_steps(self, load_example):
        """Deterministic 4x4 FrozenLake: every greedy evaluation episode reaches the goal (success rate 1.0)."""
        assert load_example("q_learning_tabular").main(steps=2000, seed=0, env_name="frozenlake") == 1.0

    def test_taxi_mean_return_is_positive_after_50000_steps(self, load_example):
        """Taxi: a random policy scores about -800, an optimal one about 8; 50000 steps reach >= 0 (measured: 8.0)."""
        assert load_example("q_learning_tabular").main(steps=50_000, seed=0, env_name="taxi") >= 0

    def test_cli_flags_pick_environment_budget_and_seed(self):
        """``--env frozenlake --steps 2000 --seed 1`` runs from the command line and reports its figure."""
        command = [sys.executable, str(EXAMPLES / "q_learning_tabular.py"), "--env", "frozenlake", "--steps", "2000"]
        env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent)}  # the checkout's mixrl, not another installed one
        result = subprocess.run(
            [*command, "--seed", "1"], capture_output=True, text=True, check=True, timeout=120, env=env
        )
        assert "Q-learning FrozenLake-v1: mean return 1.00 after 2000 steps" in result.stdout
