"""Multi-process helpers on ``torch.distributed``: broadcast parameters, average gradients.

Both are no-ops (returning at once) when no process group is initialised or it has a single
process. Nothing here creates a process group: call ``mixrl.config.torch.init_distributed()``.
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.distributed as dist


def _world_size() -> int:
    """Size of the default process group, or 1 when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size()


def _fused(tensors: list[torch.Tensor], collective) -> None:
    """Run ``collective`` on one flat buffer per (dtype, device) and copy the result back into ``tensors``."""
    groups: dict[tuple, list[torch.Tensor]] = defaultdict(list)
    for tensor in tensors:
        groups[tensor.dtype, tensor.device].append(tensor)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        collective(flat)
        parts = flat.split([t.numel() for t in group])
        torch._foreach_copy_(group, [part.view_as(t) for part, t in zip(parts, group, strict=True)])


def broadcast_parameters(module: torch.nn.Module, rank: int = 0) -> None:
    """Give every process the parameters and buffers of process ``rank``."""
    if _world_size() == 1:
        return
    tensors = [t.data for t in module.parameters()] + [b.data for b in module.buffers()]
    if tensors:
        _fused(tensors, lambda flat: dist.broadcast(flat, src=rank))


def reduce_parameters(module: torch.nn.Module) -> None:
    """Average ``.grad`` over all processes in place (parameters without a gradient are skipped)."""
    world_size = _world_size()
    if world_size == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return

    def average(flat: torch.Tensor) -> None:
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world_size)

    _fused(grads, average)
