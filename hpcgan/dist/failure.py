"""Failure path: one rank that raises or dies ends the whole job, non-zero, within the timeout.

A data-parallel job is only as alive as its slowest rank: if rank 1 raises while rank 0 waits in an
allreduce, rank 0 waits forever unless something ends it. What ends it here:

* Uncaught exceptions (main thread and other threads) go through :func:`install`'s hook: the
  traceback is printed with the rank, stdio flushed, then the communicator is aborted:
  ``MPI_Abort`` when MPI is initialised (horovod, mpirun/srun --mpi=pmix launches): the MPI runtime
  kills every rank at once; otherwise ``os._exit`` (no atexit handlers, no collective teardown that
  could hang).
* The surviving ranks of a torch (gloo/nccl) job see the dead peer's sockets close and raise at their
  next collective, or, for a peer that hangs, hit the process-group timeout (``dist.timeout_s``);
  their own hook then ends them. Horovod: ``HOROVOD_STALL_SHUTDOWN_TIME_SECONDS`` (set from
  ``timeout_s``) turns a stalled collective into an error.
* Launchers: ``mpirun`` kills the job when a rank exits non-zero; ``srun`` needs ``--kill-on-bad-exit=1``
  (jobs/*.slurm set it); torchrun stops the group by itself.
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Callable

_installed: dict = {}


def hard_exit(code: int = 1) -> None:
    """Flush stdio and leave now: no atexit, no finalisers (they may block on dead peers)."""
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    os._exit(code)


def mpi_abort(code: int = 1) -> None:
    """``MPI_Abort(COMM_WORLD)`` if MPI is initialised in this process (never initialises it), then exit."""
    try:
        import mpi4py

        mpi4py.rc.initialize = False  # importing MPI must not start MPI in a torch/gloo job
        mpi4py.rc.finalize = False
        from mpi4py import MPI

        if MPI.Is_initialized() and not MPI.Is_finalized():
            MPI.COMM_WORLD.Abort(code)
    except Exception:
        pass
    hard_exit(code)


def install(rank: int, abort: Callable[[int], None], code: int = 1) -> None:
    """Route uncaught exceptions of every thread to ``abort(code)`` after printing them with the rank."""
    prev = sys.excepthook

    def report(kind: str, exc_type, exc, tb) -> None:
        try:
            sys.stderr.write(f"[rank {rank}] {kind} {exc_type.__name__}: aborting the job "
                             f"(all ranks end, exit {code})\n")
            sys.stderr.write("".join(traceback.format_exception(exc_type, exc, tb)))
            sys.stderr.flush()
        except Exception:
            pass

    def excepthook(exc_type, exc, tb):
        if issubclass(exc_type, (KeyboardInterrupt, SystemExit)) and exc_type is not KeyboardInterrupt:
            return prev(exc_type, exc, tb)
        report("uncaught", exc_type, exc, tb)
        abort(code)

    def thread_hook(args):
        if args.exc_type is SystemExit:
            return
        report(f"uncaught in thread {getattr(args.thread, 'name', '?')}", args.exc_type, args.exc_value,
               args.exc_traceback)
        abort(code)

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    _installed.update(rank=rank, abort=abort)


def abort(code: int = 1) -> None:
    """End the whole job from anywhere (e.g. a stage that caught an error and wants out on every rank)."""
    fn = _installed.get("abort", hard_exit)
    fn(code)
