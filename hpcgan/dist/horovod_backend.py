"""Horovod backend (MPI): one ``hvd.DistributedOptimizer`` per optimiser.

Rules it follows (horovod/torch/optimizer.py of 0.28.1 and horovod #784, #1417, #1099, #2497, #2805, #708):

* Every optimiser is wrapped with ``named_parameters`` prefixed per network (``g_ab.…``, ``d_x.…``),
  unique over all optimisers (checked in :meth:`Dist._register_names`): Horovod keys collectives by name.
* ``step``: ``opt.synchronize()`` (wait for the allreduces the backward hooks started), clip by the
  global norm of the *averaged* gradients, then ``opt.step()`` inside ``opt.skip_synchronize()``
  (else Horovod allreduces a second time).
* Optimisers not stepped in a phase: a backward that reaches their parameters (e.g. G's loss through
  an unfrozen D) fires their hooks on every rank alike; after each step the other optimisers with
  pending allreduces are synchronised (the maintainers' fix in horovod #1417), so their next
  ``zero_grad`` does not assert and no allreduce is left half-submitted across a phase boundary.
* Start/resume: parameters and buffers broadcast from rank 0 (``broadcast_async_`` per tensor, in
  ``broadcast_parameters``' order, through the layout rule below); optimiser state: every rank
  loads it from the checkpoint file, never ``broadcast_optimizer_state`` (its internal zero-grad step
  changes Adam's moments, horovod #2805).
* Layouts: Horovod's collectives refuse non-contiguous tensors ("Tensor is required to be
  contiguous"), and ``train.channels_last`` makes every conv weight, its gradient and Adam's moments
  channels_last. Each collective here goes through :mod:`hpcgan.dist.layout`: a contiguous view of
  the tensor's own memory (dims permuted by stride, no copy), or for tensors with gaps a contiguous
  copy that is copied back; gradients through :class:`LayoutCompression`, a wrapper of the
  configured compression. Every tensor keeps its storage and layout.
* ``HOROVOD_STALL_SHUTDOWN_TIME_SECONDS`` = ``timeout_s``: a collective some rank never joins becomes
  an error, the failure hook then calls ``MPI_Abort``.
"""
from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any, Iterable, Sequence

import torch

from hpcgan.dist import failure
from hpcgan.dist.base import Dist, clip_grad
from hpcgan.dist.env import LaunchEnv
from hpcgan.dist.layout import land, wire
from hpcgan.log import get_logger

log = get_logger(__name__)

INSTALL_HINT = "Horovod is not installed in this venv: run `bash env/install-horovod.sh` (make setup does)"


def import_horovod():
    try:
        import horovod.torch as hvd
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    return hvd


def _patch_zero_grad(wrapped: torch.optim.Optimizer) -> None:
    """0.28.1's ``zero_grad()`` takes no ``set_to_none`` and asserts when allreduces are pending. Here it
    takes torch's signature and first finishes pending allreduces (same on every rank: hooks fire alike),
    which makes zeroing the gradients of an optimiser not stepped in a phase safe."""
    base_zero_grad = torch.optim.Optimizer.zero_grad

    def zero_grad(set_to_none: bool = True) -> None:
        if wrapped._handles:
            wrapped.synchronize()
            wrapped._synchronized = False
        base_zero_grad(wrapped, set_to_none=set_to_none)

    wrapped.zero_grad = zero_grad


class LayoutCompression:
    """Horovod compressor for gradients of any layout: hands ``inner`` the contiguous :func:`wire` of the
    gradient and, after the allreduce, lands the result in the gradient's own storage (so horovod's
    ``p.grad.set_(decompress(...))`` sets the gradient to itself)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def compress(self, tensor: torch.Tensor) -> tuple[torch.Tensor, Any]:
        w = wire(tensor)
        out, ctx = self.inner.compress(w)
        return out, (tensor, ctx)

    def decompress(self, tensor: torch.Tensor, ctx: Any) -> torch.Tensor:
        orig, inner_ctx = ctx
        return land(orig, self.inner.decompress(tensor, inner_ctx))


class HorovodDist(Dist):
    def __init__(self, env: LaunchEnv, timeout_s: float = 60.0, fp16_compression: bool = False,
                 backward_passes_per_step: int = 1):
        hvd = import_horovod()
        t = int(max(1, timeout_s))
        os.environ.setdefault("HOROVOD_STALL_CHECK_TIME_SECONDS", str(max(1, min(t, t // 2 or 1))))
        os.environ.setdefault("HOROVOD_STALL_SHUTDOWN_TIME_SECONDS", str(t))
        hvd.init()
        if not hvd.mpi_enabled():
            raise RuntimeError("horovod: MPI is not enabled (built without MPI, or launched by horovodrun "
                               "with gloo); hpcgan launches horovod with mpirun or srun --mpi=pmix")
        if env.size > 1 and hvd.size() != env.size:
            raise RuntimeError(f"horovod sees {hvd.size()} rank(s) but the launcher ({env.launcher}) started "
                               f"{env.size}: under SLURM use `srun --mpi=pmix` (MPI needs PMI to wire ranks)")
        super().__init__(replace(env, rank=hvd.rank(), size=hvd.size(), local_rank=hvd.local_rank(),
                                 local_size=hvd.local_size(), backend="horovod"), timeout_s)
        self.hvd = hvd
        self._n_bcast_obj = 0
        self.compression = hvd.Compression.fp16 if fp16_compression else hvd.Compression.none
        self.backward_passes_per_step = backward_passes_per_step
        if torch.cuda.is_available():
            torch.cuda.set_device(hvd.local_rank() % torch.cuda.device_count())
        failure.install(self.rank, self.abort)
        log.info("horovod %s up: rank %d/%d (local %d/%d), stall shutdown %s s, compression %s",
                 getattr(__import__("horovod"), "__version__", "?"), self.rank, self.size, self.local_rank,
                 self.info.local_size, os.environ["HOROVOD_STALL_SHUTDOWN_TIME_SECONDS"],
                 "fp16" if fp16_compression else "none")

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer,
                       named_parameters: Sequence[tuple[str, torch.nn.Parameter]]) -> torch.optim.Optimizer:
        if optimizer.state:
            raise ValueError("wrap the optimiser before it has state (before loading a checkpoint): "
                             "hvd.DistributedOptimizer starts from a fresh instance")
        named_parameters = self._register_names(optimizer, named_parameters)
        wrapped = self.hvd.DistributedOptimizer(optimizer, named_parameters=named_parameters,
                                                compression=LayoutCompression(self.compression),
                                                backward_passes_per_step=self.backward_passes_per_step,
                                                op=self.hvd.Average)
        _patch_zero_grad(wrapped)
        self.optimizers.append(wrapped)
        return wrapped

    def step(self, optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], clip_norm: float) -> float:
        if not hasattr(optimizer, "synchronize"):
            raise TypeError("horovod backend: step() needs the optimiser returned by wrap_optimizer()")
        optimizer.synchronize()
        norm = clip_grad([p for p in params if p.grad is not None], clip_norm)
        if math.isfinite(norm):  # else skipped, on every rank alike (Dist.step)
            with optimizer.skip_synchronize():
                optimizer.step()
        else:
            optimizer._synchronized = False  # what step() resets
        self.flush(exclude=optimizer)
        return norm

    def flush(self, exclude: torch.optim.Optimizer | None = None) -> None:
        """Finish the allreduces backward hooks started for optimisers that were not stepped."""
        for o in self.optimizers:
            if o is not exclude and getattr(o, "_handles", None):
                o.synchronize()
                o._synchronized = False

    def broadcast_module(self, module: torch.nn.Module, root: int = 0) -> None:
        """Every parameter and buffer from ``root``, in place, each keeping its layout."""
        pending = []
        for name, t in sorted(module.state_dict().items()):  # the order hvd.broadcast_parameters uses
            w = wire(t)
            pending.append((t, w, self.hvd.broadcast_async_(w, root, name)))
        with torch.no_grad():
            for t, w, handle in pending:
                self.hvd.synchronize(handle)
                land(t, w)

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        # horovod names the collective after type(obj) by default: None on the receivers vs a dict on
        # the root would be two different collectives (a stall). A counter names it alike everywhere.
        self._n_bcast_obj += 1
        return self.hvd.broadcast_object(obj, root_rank=root, name=f"hpcgan.object.{self._n_bcast_obj}")

    def allreduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.detach().clone()  # same layout as ``tensor``
        w = wire(out)
        self.hvd.allreduce_(w, op=self.hvd.Average)
        return land(out, w)

    def allreduce_min_int(self, value: int) -> int:
        return int(self.hvd.allreduce(torch.tensor([int(value)], dtype=torch.int64), op=self.hvd.Min).item())

    def barrier(self) -> None:
        self.flush()
        self.hvd.barrier()

    def shutdown(self) -> None:
        self.flush()
        self.hvd.shutdown()

    def abort(self, code: int = 1) -> None:
        failure.mpi_abort(code)
