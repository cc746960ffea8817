"""torch.distributed backend: gloo on CPU, nccl on GPU, rendezvous ``env://``.

Why gradients are averaged in :meth:`TorchDist.step` (flattened buckets, one allreduce each) instead
of wrapping networks in DistributedDataParallel: a GAN iteration runs several phases (D step, G step,
noise emulators, autoencoders) in which each network is called several times per backward, some
networks are frozen and some optimisers not stepped at all. DDP allreduces on every backward of a
wrapped module (so G's backward through D would allreduce D's gradients that nobody uses), needs
``find_unused_parameters`` for the phases, and broadcasts buffers on every forward (the in-place
error with two D calls, pytorch #22095). Averaging at step time communicates exactly the
gradients that are applied, once, whatever the phase structure; the cost is no overlap of
communication with backward, small for these networks (see docs/scaling.md).
"""
from __future__ import annotations

import atexit
import datetime
import gc
import math
import os
import socket
from dataclasses import replace
from typing import Any, Iterable

import torch
import torch.distributed as tdist

from hpcgan.dist import failure
from hpcgan.dist.base import Dist, clip_grad
from hpcgan.dist.env import LaunchEnv
from hpcgan.dist.layout import land, wire
from hpcgan.log import get_logger

log = get_logger(__name__)
BUCKET_BYTES = 25 * 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _rendezvous_from_mpi(env: LaunchEnv) -> tuple[str, int]:
    """Under mpirun without MASTER_ADDR/PORT: rank 0's host and a free port, sent by MPI."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    mine = ("127.0.0.1" if env.local_size == env.size else socket.gethostname(), _free_port())
    return comm.bcast(mine if comm.rank == 0 else None, root=0)


def _destroy_at_exit() -> None:
    """Tear the group down while the interpreter is alive (no barrier: peers may have gone)."""
    if tdist.is_initialized():
        try:
            tdist.destroy_process_group()
        except Exception:
            pass
        gc.collect()


class TorchDist(Dist):
    def __init__(self, env: LaunchEnv, timeout_s: float = 60.0, fp16_compression: bool = False,
                 device: str = "auto"):
        use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        pg_backend = "nccl" if use_cuda else "gloo"
        addr, port = env.master_addr, env.master_port
        if env.launcher == "mpirun" and (addr is None or "MASTER_PORT" not in os.environ):
            try:
                addr, port = _rendezvous_from_mpi(env)
            except ImportError:
                pass
        if addr is None:
            raise RuntimeError("dist: no MASTER_ADDR for the torch backend: set MASTER_ADDR/MASTER_PORT, "
                               "or launch with srun/torchrun")
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = addr, str(port)
        os.environ["RANK"], os.environ["WORLD_SIZE"] = str(env.rank), str(env.size)
        os.environ["LOCAL_RANK"] = str(env.local_rank)
        if use_cuda:
            torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
            os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")  # a timed-out NCCL op aborts
        tdist.init_process_group(pg_backend, init_method="env://", rank=env.rank, world_size=env.size,
                                 timeout=datetime.timedelta(seconds=timeout_s))
        super().__init__(replace(env, backend="torch"), timeout_s)
        self.pg_backend = pg_backend
        self.fp16_compression = fp16_compression
        self._comm_device = torch.device("cuda", torch.cuda.current_device()) if use_cuda else torch.device("cpu")
        self._warned_partial = False
        failure.install(env.rank, self.abort)
        atexit.register(_destroy_at_exit)  # a caller that forgets shutdown(): pytorch #179291, #190489
        log.info("torch.distributed %s up: rank %d/%d, master %s:%s, timeout %.0f s",
                 pg_backend, env.rank, env.size, addr, port, timeout_s)

    # -- gradients ----------------------------------------------------------------------------------
    def step(self, optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], clip_norm: float) -> float:
        params = list(params)
        self._average_grads(params)
        norm = clip_grad([p for p in params if p.grad is not None], clip_norm)
        if math.isfinite(norm):  # else skipped, on every rank alike (Dist.step)
            optimizer.step()
        return norm

    def _average_grads(self, params: list[torch.nn.Parameter]) -> None:
        """Mean of every gradient over ranks, in flattened buckets. A parameter whose gradient is None on
        every rank stays None; on some ranks only: those count as zeros (what horovod does too). A
        presence mask travels in the last bucket, so the call sequence is the same on every rank."""
        if not params:
            return
        dev = params[0].device
        mask = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=dev)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        wire = torch.float16 if self.fp16_compression else None
        buckets: list[list[int]] = [[]]
        size = 0
        for i, g in enumerate(grads):
            if buckets[-1] and (size + g.numel() * g.element_size() > BUCKET_BYTES
                                or grads[buckets[-1][0]].dtype != g.dtype):
                buckets.append([])
                size = 0
            buckets[-1].append(i)
            size += g.numel() * g.element_size()
        counts = None
        for bi, idx in enumerate(buckets):
            parts = [grads[i].detach().reshape(-1) for i in idx]
            last = bi == len(buckets) - 1
            flat = torch.cat(parts + ([mask.to(parts[0].dtype)] if last else []))
            if wire is not None and flat.is_floating_point():
                flat = flat.to(wire)
            flat = flat.to(self._comm_device)
            tdist.all_reduce(flat)
            flat = flat.to(device=dev, dtype=grads[idx[0]].dtype)
            if last:
                counts = flat[-len(params):].round()
                flat = flat[:-len(params)]
            flat.div_(self.size)
            off = 0
            for i in idx:
                n = grads[i].numel()
                grads[i] = flat[off:off + n].view_as(grads[i])
                off += n
        for p, g, c in zip(params, grads, counts.tolist()):
            if c == 0:
                p.grad = None
                continue
            if c != self.size and not self._warned_partial:
                log.warning("a gradient exists on %d of %d ranks only; missing ones count as zero", c, self.size)
                self._warned_partial = True
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)

    # -- collectives --------------------------------------------------------------------------------
    def broadcast_module(self, module: torch.nn.Module, root: int = 0) -> None:
        with torch.no_grad():
            for t in module.state_dict(keep_vars=True).values():
                t = t.data if isinstance(t, torch.nn.Parameter) else t
                buf = wire(t).to(self._comm_device)  # gloo mis-broadcasts tensors with gaps (slices)
                tdist.broadcast(buf, src=root)
                land(t, buf)

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        box = [obj if self.rank == root else None]
        tdist.broadcast_object_list(box, src=root, device=self._comm_device)
        return box[0]

    def allreduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        buf = tensor.detach().clone().to(self._comm_device)
        tdist.all_reduce(buf)
        return buf.div_(self.size).to(tensor.device)

    def allreduce_min_int(self, value: int) -> int:
        buf = torch.tensor([int(value)], dtype=torch.int64, device=self._comm_device)
        tdist.all_reduce(buf, op=tdist.ReduceOp.MIN)
        return int(buf.item())

    def barrier(self) -> None:
        # a collective, not tdist.barrier(): gloo's barrier ignores device ids and nccl's guesses them
        self.allreduce_min_int(0)

    def shutdown(self) -> None:
        """Barrier, then tear the group down while the interpreter is fully alive: gloo's worker threads
        release the last works' Python tensors; doing that during interpreter finalisation aborts the
        process ("terminate called without an active exception", seen here on resume runs)."""
        if tdist.is_initialized():
            tdist.barrier()
            gc.collect()
            tdist.destroy_process_group()
            gc.collect()

    def abort(self, code: int = 1) -> None:
        if self.info.launcher == "mpirun":
            failure.mpi_abort(code)  # MPI is initialised only if the rendezvous used it
        failure.hard_exit(code)
