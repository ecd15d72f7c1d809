import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mixrl.models.torch import DeterministicMixin, Model
from mixrl.models.torch.distributed import broadcast_parameters, reduce_parameters

WORLD_SIZE = 2


class MixedModel(DeterministicMixin, Model):
    """float32 and float64 parameters plus a buffer, so the fused collectives handle several dtypes."""

    def __init__(self):
        Model.__init__(self, 3, 2, "cpu")
        DeterministicMixin.__init__(self)
        self.net = torch.nn.Linear(3, 2)
        self.scale = torch.nn.Parameter(torch.randn(2, dtype=torch.float64))
        self.register_buffer("count", torch.randn(4))

    def compute(self, inputs, role):
        return self.net(inputs["states"]) * self.scale.float(), {}


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters, buffers and gradients, cloned."""
    values = {name: t.detach().clone() for name, t in model.state_dict().items()}
    values.update({f"{name}.grad": p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    return values


class TestWithoutProcessGroup:
    @pytest.mark.parametrize("via_model", [False, True])
    def test_broadcast_and_reduce_are_no_ops(self, via_model):
        """No process group: parameters, buffers and gradients stay as they are and nothing raises."""
        assert not dist.is_initialized()
        torch.manual_seed(0)
        model = MixedModel()
        model.act({"states": torch.randn(5, 3)})[0].sum().backward()
        before = snapshot(model)
        if via_model:
            model.broadcast_parameters(rank=1)
            model.reduce_parameters()
        else:
            broadcast_parameters(model, 1)
            reduce_parameters(model)
        torch.testing.assert_close(snapshot(model), before)

    def test_reduce_without_gradients_is_a_no_op(self):
        """A model that has not run backward yet keeps grad None."""
        model = MixedModel()
        model.reduce_parameters()
        assert all(p.grad is None for p in model.parameters())

    def test_importing_with_world_size_two_creates_no_process_group(self):
        """WORLD_SIZE=2 in the environment: importing mixrl and building a model starts nothing (W#11)."""
        code = (
            "import torch.distributed as dist, mixrl, mixrl.models.torch, mixrl.models.torch.distributed\n"
            "from mixrl.models.torch import Model\n"
            "Model(3, 2, 'cpu')\n"
            "assert mixrl.config.torch.is_distributed\n"
            "print(dist.is_initialized())\n"
        )
        env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "False"


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    """One gloo process: record parameters and gradients around each collective into out_dir/rank<r>.pt."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        torch.manual_seed(100 + rank)  # a different model on every rank
        model, other = MixedModel(), MixedModel()
        record = {"initial": snapshot(model), "other_initial": snapshot(other)}
        model.broadcast_parameters()
        broadcast_parameters(other, rank=1)
        record["broadcast"], record["other_broadcast"] = snapshot(model), snapshot(other)

        model.reduce_parameters()  # no gradient anywhere: a no-op, not an error
        record["no_grad"] = snapshot(model)

        for parameter in model.parameters():
            parameter.grad = torch.full_like(parameter, rank + 1.0)
        model.net.bias.grad = None  # skipped on every rank
        model.reduce_parameters()
        record["reduced"] = snapshot(model)
        torch.save(record, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
class TestGlooProcessGroup:
    @pytest.fixture(scope="class")
    @classmethod
    def records(cls, tmp_path_factory):
        """Run two CPU processes once for the whole class and load what each recorded."""
        tmp_path = tmp_path_factory.mktemp("gloo")
        mp.start_processes(
            _worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE, start_method="spawn"
        )
        return [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]

    def test_ranks_start_with_different_parameters(self, records):
        """Precondition: the seeds differ, so a successful broadcast is visible."""
        assert not torch.equal(records[0]["initial"]["net.weight"], records[1]["initial"]["net.weight"])

    def test_broadcast_copies_rank_zeros_parameters_and_buffers_everywhere(self, records):
        """After broadcast_parameters() every rank holds rank 0's initial float32/float64 parameters and buffers."""
        for record in records:
            torch.testing.assert_close(record["broadcast"], records[0]["initial"], rtol=0, atol=0)

    def test_broadcast_from_another_source_rank(self, records):
        """broadcast_parameters(module, rank=1) gives every rank rank 1's values."""
        for record in records:
            torch.testing.assert_close(record["other_broadcast"], records[1]["other_initial"], rtol=0, atol=0)

    def test_reduce_without_gradients_changes_nothing(self, records):
        """An initialised group and no gradients: parameters unchanged and grads still None."""
        for record in records:
            assert not any(name.endswith(".grad") for name in record["no_grad"])
            torch.testing.assert_close(record["no_grad"], record["broadcast"], rtol=0, atol=0)

    def test_reduce_averages_gradients_over_ranks(self, records):
        """Rank r sets grads to r + 1, so every gradient becomes (1 + 2) / 2 = 1.5; a missing grad stays missing."""
        for record in records:
            grads = {name: grad for name, grad in record["reduced"].items() if name.endswith(".grad")}
            assert sorted(grads) == ["net.weight.grad", "scale.grad"]
            for grad in grads.values():
                torch.testing.assert_close(grad, torch.full_like(grad, 1.5), rtol=0, atol=0)
            assert grads["scale.grad"].dtype == torch.float64
