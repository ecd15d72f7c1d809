"""Spaces and hand-built reference networks for the torch instantiator tests."""

import gymnasium
import pytest
import torch


@pytest.fixture
def obs():
    return gymnasium.spaces.Box(-1.0, 1.0, (5,))


@pytest.fixture
def act():
    return gymnasium.spaces.Box(-1.0, 1.0, (3,))


def copy_into(reference: torch.nn.Module, source: torch.nn.Module) -> torch.nn.Module:
    """Load ``source``'s weights into a hand-built ``reference`` (strict: the structures must match)."""
    reference.load_state_dict(source.state_dict(), strict=True)
    return reference


def linear_shapes(module: torch.nn.Module) -> list[tuple[int, int]]:
    """``(in_features, out_features)`` of every Linear, in order."""
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)]
