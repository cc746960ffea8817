"""The thin distributed layer: the only module that imports horovod or torch.distributed.

Training code talks to a :class:`Dist` object and never to a backend directly::

    d = init(cfg.dist)                         # DistInfo from the launcher's environment
    opt = d.wrap_optimizer(opt, named_params)  # horovod: DistributedOptimizer; others: unchanged
    d.broadcast_module(model)                  # rank 0's weights everywhere
    norm = d.step(opt, params, clip_norm)      # average grads across ranks, clip by global norm, step
    if d.is_main: save(...)

Backends: ``none`` (one process), ``torch`` (torch.distributed, gloo/nccl), ``horovod``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from hpcgan.log import env_rank


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    backend: str = "none"


def local_rank_from_env() -> tuple[int, int]:
    """(local rank, local size) from SLURM, Open MPI or torchrun variables, else (0, 1)."""
    for r, s in (("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"), ("LOCAL_RANK", "LOCAL_WORLD_SIZE"),
                 ("SLURM_LOCALID", "SLURM_NTASKS_PER_NODE")):
        if r in os.environ:
            return int(os.environ[r]), int(os.environ.get(s, "1").split("(")[0])
    return 0, 1


class Dist:
    """Single-process implementation; multi-process backends subclass it."""

    def __init__(self, info: DistInfo):
        self.info = info

    rank = property(lambda self: self.info.rank)
    size = property(lambda self: self.info.size)
    local_rank = property(lambda self: self.info.local_rank)
    is_main = property(lambda self: self.info.rank == 0)

    def device(self, prefer: str = "auto") -> torch.device:
        """The device for this rank: CUDA ``local_rank`` when available (and asked for), else CPU."""
        if prefer == "cpu" or (prefer == "auto" and not torch.cuda.is_available()):
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise RuntimeError("train.device: 'cuda' was asked for but no CUDA device is visible")
        return torch.device("cuda", self.local_rank % torch.cuda.device_count())

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer,
                       named_parameters: Sequence[tuple[str, torch.nn.Parameter]]) -> torch.optim.Optimizer:
        return optimizer

    def step(self, optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], clip_norm: float) -> float:
        """Average gradients over ranks, clip by global norm (0 = off), step. Returns the pre-clip norm."""
        params = [p for p in params if p.grad is not None]
        norm = clip_grad(params, clip_norm)
        optimizer.step()
        return norm

    def broadcast_module(self, module: torch.nn.Module, root: int = 0) -> None:
        pass

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        return obj

    def allreduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def allreduce_min_int(self, value: int) -> int:
        return int(value)

    def barrier(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def clip_grad(params: Sequence[torch.nn.Parameter], clip_norm: float) -> float:
    """Global-norm clipping (no-op when ``clip_norm`` is 0); returns the norm before clipping."""
    if not params:
        return 0.0
    if clip_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params])))


def init(backend: str = "none", timeout_s: float = 60.0) -> Dist:
    """Start the chosen backend (``auto``: horovod if importable and >1 rank, else torch if >1 rank, else none)."""
    rank, size = env_rank()
    local_rank, local_size = local_rank_from_env()
    if backend == "auto":
        backend = "none" if size == 1 else "torch"
    if backend == "none":
        if size > 1:
            raise RuntimeError(f"dist.backend: 'none' but the launcher started {size} ranks; "
                               "allowed for multi-rank runs: auto, horovod, torch")
        return Dist(DistInfo(0, 1, 0, 1, "none"))
    raise NotImplementedError(f"dist.backend: {backend!r} is not available yet; allowed: none")
