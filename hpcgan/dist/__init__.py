"""The thin distributed layer: the only package that imports horovod or torch.distributed.

Training code talks to a :class:`Dist` object and never to a backend directly::

    d = init(cfg.dist)                                    # or init("torch", timeout_s=60)
    opt = d.wrap_optimizer(opt, named("g_ab", g_ab) + named("g_ba", g_ba))   # before schedulers/state
    d.broadcast_module(model)                             # rank 0's weights everywhere (start, resume)
    norm = d.step(opt, params, clip_norm)                 # average grads over ranks, clip global norm, step
    if d.is_main: save(...)

Backends: ``none`` (one process), ``torch`` (torch.distributed: gloo on CPU, nccl on GPU),
``horovod`` (MPI). ``auto``: one rank -> none; torchrun -> torch; mpirun/srun -> horovod when
importable, else torch. Launch environments (the one rank detector): :mod:`hpcgan.dist.env`;
failure behaviour: :mod:`hpcgan.dist.failure`; the other stages' communicator (serial or mpi4py):
:mod:`hpcgan.dist.comm`; docs/distributed.md. Importing this package does not import torch: ``Dist``
and the backends load on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcgan.dist.base import Dist

from hpcgan.dist.comm import Comm, get_comm
from hpcgan.dist.env import LaunchEnv, detect

__all__ = ["BACKENDS", "Comm", "Dist", "LaunchEnv", "clip_grad", "detect", "get_comm", "init",
           "local_rank_from_env", "named"]

BACKENDS = ("auto", "horovod", "torch", "none")
_TORCH_NAMES = ("Dist", "clip_grad", "named")  # hpcgan.dist.base (imports torch)


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from hpcgan.dist import base

        return getattr(base, name)
    raise AttributeError(f"module 'hpcgan.dist' has no attribute {name!r}")


def local_rank_from_env() -> tuple[int, int]:
    """(local rank, local size) of this process from the launcher's environment, else (0, 1)."""
    e = detect()
    return e.local_rank, e.local_size


def _horovod_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("horovod") is not None


def init(backend: Any = "none", timeout_s: float = 60.0, *, fp16_compression: bool = False,
         backward_passes_per_step: int = 1, device: str = "auto") -> Dist:
    """Start the chosen backend and return its :class:`Dist`.

    ``backend`` is a name from :data:`BACKENDS` or a ``DistCfg`` (then its fields give the rest).
    """
    if not isinstance(backend, str):  # a DistCfg
        cfg = backend
        backend, timeout_s = cfg.backend, cfg.timeout_s
        fp16_compression, backward_passes_per_step = cfg.fp16_compression, cfg.backward_passes_per_step
    if backend not in BACKENDS:
        raise ValueError(f"dist.backend: {backend!r}; allowed: {', '.join(BACKENDS)}")
    env = detect()
    if backend == "auto":
        if env.size == 1:
            backend = "none"
        elif env.launcher in ("mpirun", "srun") and _horovod_importable():
            backend = "horovod"
        else:
            backend = "torch"
    from hpcgan.dist.base import Dist

    if backend == "none":
        if env.size > 1:
            raise RuntimeError(f"dist.backend: 'none' but the launcher ({env.launcher}) started {env.size} ranks; "
                               "allowed for multi-rank runs: auto, horovod, torch")
        return Dist(LaunchEnv(env.launcher), timeout_s)
    from hpcgan.log import setup_logging

    if backend == "horovod":
        from hpcgan.dist.horovod_backend import HorovodDist

        d: Dist = HorovodDist(env, timeout_s, fp16_compression, backward_passes_per_step)
    else:
        from hpcgan.dist.torch_backend import TorchDist

        d = TorchDist(env, timeout_s, fp16_compression, device)
    setup_logging(d.rank, d.size)
    return d
