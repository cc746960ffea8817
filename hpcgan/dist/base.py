"""The interface every backend implements; this class itself is the one-process backend (``none``)."""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import torch

from hpcgan.dist import failure
from hpcgan.dist.env import LaunchEnv


def named(prefix: str, module: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """``module.named_parameters()`` prefixed with the network's name (``g_ab.enc.0.weight``).

    Horovod keys its collectives by these names: two networks with the same architecture have the
    same bare names, and two DistributedOptimizers with clashing names fail (horovod #784, #2559, #3077).
    """
    if not prefix or "." in prefix:
        raise ValueError(f"network prefix must be a non-empty name without dots, got {prefix!r}")
    return [(f"{prefix}.{n}", p) for n, p in module.named_parameters()]


class Dist:
    """Single-process implementation; multi-process backends subclass it."""

    def __init__(self, info: LaunchEnv, timeout_s: float = 60.0):
        self.info = info
        self.timeout_s = timeout_s
        self._names: dict[str, int] = {}  # parameter name -> id(optimizer), over every wrapped optimiser
        self._param_owner: dict[int, str] = {}  # id(param) -> name
        self.optimizers: list[torch.optim.Optimizer] = []

    rank = property(lambda self: self.info.rank)
    size = property(lambda self: self.info.size)
    local_rank = property(lambda self: self.info.local_rank)
    backend = property(lambda self: self.info.backend)
    is_main = property(lambda self: self.info.rank == 0)

    def __repr__(self) -> str:
        i = self.info
        return (f"{type(self).__name__}(backend={i.backend}, rank={i.rank}/{i.size}, "
                f"local={i.local_rank}/{i.local_size}, launcher={i.launcher})")

    def device(self, prefer: str = "auto") -> torch.device:
        """The device for this rank: CUDA ``local_rank`` when available (and asked for), else CPU."""
        if prefer == "cpu" or (prefer == "auto" and not torch.cuda.is_available()):
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise RuntimeError("train.device: 'cuda' was asked for but no CUDA device is visible")
        return torch.device("cuda", self.local_rank % torch.cuda.device_count())

    # -- optimisers ---------------------------------------------------------------------------------
    def _register_names(self, optimizer: torch.optim.Optimizer,
                        named_parameters: Sequence[tuple[str, torch.nn.Parameter]]) -> list:
        """Names unique over every wrapped optimiser, every optimised parameter named exactly once."""
        named_parameters = list(named_parameters)
        names = [n for n, _ in named_parameters]
        dups = sorted({n for n in names if names.count(n) > 1} | {n for n in names if n in self._names})
        if dups:
            raise ValueError(f"parameter names must be unique over all optimisers; duplicates: {dups[:8]} "
                             "(prefix each network's named_parameters, see hpcgan.dist.named)")
        for n, p in named_parameters:
            if id(p) in self._param_owner:
                raise ValueError(f"parameter {n!r} is already optimised as {self._param_owner[id(p)]!r}")
        opt_ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
        named_ids = {id(p) for _, p in named_parameters}
        if opt_ids - named_ids:
            raise ValueError(f"{len(opt_ids - named_ids)} optimised parameter(s) have no name in named_parameters")
        for n, p in named_parameters:
            self._names[n] = id(optimizer)
            self._param_owner[id(p)] = n
        return [(n, p) for n, p in named_parameters if id(p) in opt_ids]

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer,
                       named_parameters: Sequence[tuple[str, torch.nn.Parameter]]) -> torch.optim.Optimizer:
        """Make ``optimizer`` distributed. Call before creating its LR scheduler or loading its state."""
        self._register_names(optimizer, named_parameters)
        self.optimizers.append(optimizer)
        return optimizer

    def step(self, optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], clip_norm: float) -> float:
        """Average gradients over ranks, clip by global norm (0 = off), step. Returns the pre-clip norm.

        A non-finite norm (nan/inf in the averaged gradients, the same on every rank) skips the step:
        the weights and the optimiser state stay as they were (the trainer counts such iterations)."""
        params = [p for p in params if p.grad is not None]
        norm = clip_grad(params, clip_norm)
        if math.isfinite(norm):
            optimizer.step()
        return norm

    # -- collectives --------------------------------------------------------------------------------
    def broadcast_module(self, module: torch.nn.Module, root: int = 0) -> None:
        """Parameters and buffers of ``module`` from ``root`` to every rank (in place)."""

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

    def abort(self, code: int = 1) -> None:
        """End the whole job now with ``code`` (every rank), see :mod:`hpcgan.dist.failure`."""
        failure.hard_exit(code)


def clip_grad(params: Sequence[torch.nn.Parameter], clip_norm: float) -> float:
    """Global-norm clipping (no-op when ``clip_norm`` is 0); returns the norm before clipping."""
    if not params:
        return 0.0
    if clip_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params])))
