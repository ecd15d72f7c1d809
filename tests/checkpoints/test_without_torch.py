"""JAX models save, load and migrate with torch absent (``import torch`` fails in a fresh interpreter)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("flax")

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys

    sys.modules["torch"] = None  # every "import torch" now raises ImportError
    import json

    import flax.linen as nn
    import numpy as np
    from safetensors.numpy import save_file

    import mixrl.checkpoints
    from mixrl.checkpoints.flax_io import write_flax
    from mixrl.models.jax import DeterministicMixin, Model

    class Policy(DeterministicMixin, Model):
        def __init__(self, observation_space=None, action_space=None, device=None, **kwargs):
            Model.__init__(self, observation_space, action_space, device, **kwargs)
            DeterministicMixin.__init__(self)

        @nn.compact
        def __call__(self, inputs, role):
            x = nn.relu(nn.Dense(8)(inputs["states"]))
            return nn.Dense(self.num_actions)(x), {}

    tmp = sys.argv[1]
    model = Policy(3, 2)
    model.init_state_dict("policy")
    states = np.ones((1, 3), np.float32)
    before = np.asarray(model.act({"states": states}, "policy")[0])
    results = {}

    model.save(f"{tmp}/policy.flax")
    other = Policy(3, 2)
    other.init_state_dict("policy")
    other.load(f"{tmp}/policy.flax")
    results["load"] = bool(np.allclose(other.act({"states": states}, "policy")[0], before))

    write_flax(f"{tmp}/source.msgpack", model.state_dict.params)
    other = Policy(3, 2)
    other.init_state_dict("policy")
    ok = other.migrate(path=f"{tmp}/source.msgpack")
    results["migrate_msgpack"] = ok and bool(np.allclose(other.act({"states": states}, "policy")[0], before))

    params = model.state_dict.params["params"]
    tensors = {  # torch layout: Linear weights are (out, in)
        "net.0.weight": np.ascontiguousarray(np.asarray(params["Dense_0"]["kernel"]).T),
        "net.0.bias": np.asarray(params["Dense_0"]["bias"]),
        "net.2.weight": np.ascontiguousarray(np.asarray(params["Dense_1"]["kernel"]).T),
        "net.2.bias": np.asarray(params["Dense_1"]["bias"]),
    }
    save_file(tensors, f"{tmp}/source.safetensors")
    other = Policy(3, 2)
    other.init_state_dict("policy")
    ok = other.migrate(path=f"{tmp}/source.safetensors")
    results["migrate_safetensors"] = ok and bool(np.allclose(other.act({"states": states}, "policy")[0], before))

    other = Policy(3, 2)
    other.init_state_dict("policy")
    ok = other.migrate(state_dict=tensors)
    results["migrate_numpy"] = ok and bool(np.allclose(other.act({"states": states}, "policy")[0], before))

    with open(f"{tmp}/source.pt", "wb") as file:  # the head of a torch.save archive
        file.write(b"PK\\x03\\x04" + bytes(60))
    try:
        other.migrate(path=f"{tmp}/source.pt")
        results["pt"] = "no error"
    except (ImportError, ValueError) as error:
        results["pt"] = str(error)
    results["torch_imported"] = sys.modules.get("torch") is not None
    print(json.dumps(results))
    """
)


def test_jax_save_load_and_migrate_need_no_torch(tmp_path):
    """msgpack save/load, migrate from msgpack, safetensors and NumPy; a torch file asks for torch."""
    import json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["load"] and results["migrate_msgpack"]
    assert results["migrate_safetensors"] and results["migrate_numpy"]
    assert "needs torch" in results["pt"] and "pip install 'mixrl[torch]'" in results["pt"]
    assert results["torch_imported"] is False
