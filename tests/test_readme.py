"""Every Python block of the README runs as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(source):
    """The block executes without error in a fresh namespace."""
    if "mixrl.models.jax" in source or "model_instantiators.jax" in source:
        pytest.importorskip("flax")
    if "onnxruntime" in source:
        pytest.importorskip("onnxruntime")
    if "stable_baselines3" in source:
        pytest.importorskip("stable_baselines3")
    exec(compile(source, str(README), "exec"), {"__name__": "readme"})
