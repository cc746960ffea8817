"""The communicator of the stages that are not gradient descent (simulate, preprocess, translate,
evaluate): one process, or mpi4py's ``COMM_WORLD`` under a launcher.

    comm = get_comm()                         # Comm(): rank 0 of 1; several ranks: MPI (mpi4py imported only then)
    mine = items[comm.rank::comm.size]
    sizes = comm.allgather(len(mine)); total = comm.allreduce(n, "sum"); t = comm.allreduce(t, "max")
    parts = comm.gather(part)                 # rank 0: a list per rank; others: None
    rc = comm.bcast(rc if comm.rank == 0 else None)
    comm.barrier()
    except Exception: log.exception(...); return comm.fail(1)   # several ranks: MPI_Abort, the job ends now

Who is which rank comes from :func:`hpcgan.dist.env.detect` (the one rank detector of the package);
training talks to :class:`hpcgan.dist.Dist` instead, which has the same abort path
(:mod:`hpcgan.dist.failure`): an uncaught exception on any rank (any thread) ends every rank, non-zero.
"""
from __future__ import annotations

from typing import Any

from hpcgan.dist import failure
from hpcgan.dist.env import detect

OPS = ("sum", "max", "min")


class Comm:
    """``rank``/``size`` and the collectives the stages use; ``mpi=None`` is the one-process communicator."""

    def __init__(self, mpi: Any = None):
        self.mpi = mpi
        self.rank: int = mpi.Get_rank() if mpi is not None else 0
        self.size: int = mpi.Get_size() if mpi is not None else 1

    def __repr__(self) -> str:
        return f"Comm({'mpi' if self.mpi is not None else 'serial'}, rank={self.rank}/{self.size})"

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """``root``'s object on every rank."""
        return obj if self.mpi is None else self.mpi.bcast(obj, root=root)

    def gather(self, obj: Any, root: int = 0) -> list | None:
        """On ``root`` the list of every rank's object (by rank), elsewhere None."""
        return [obj] if self.mpi is None else self.mpi.gather(obj, root=root)

    def allgather(self, obj: Any) -> list:
        """Every rank's object, by rank, on every rank."""
        return [obj] if self.mpi is None else self.mpi.allgather(obj)

    def allreduce(self, value: Any, op: str = "sum") -> Any:
        """``op`` (one of :data:`OPS`) of every rank's value, on every rank."""
        if op not in OPS:
            raise ValueError(f"allreduce op {op!r}; allowed: {', '.join(OPS)}")
        if self.mpi is None:
            return value
        from mpi4py import MPI

        return self.mpi.allreduce(value, op={"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op])

    def barrier(self) -> None:
        if self.mpi is not None:
            self.mpi.Barrier()

    def abort(self, code: int = 1) -> None:
        """End the whole job now with ``code``: ``MPI_Abort`` (every rank) when MPI runs, else this process."""
        failure.mpi_abort(code)

    def fail(self, code: int = 1) -> int:
        """After a failure this rank caught: with several ranks end the job now (the others may wait in a
        collective), alone return ``code`` for the caller to exit with."""
        if self.size > 1:
            self.abort(code)
        return code


def get_comm() -> Comm:
    """MPI ``COMM_WORLD`` when the launcher started several ranks, else the one-process :class:`Comm`.

    With MPI, uncaught exceptions of every thread abort the job (:func:`hpcgan.dist.failure.install`)
    and log lines carry the rank."""
    env = detect()
    if env.size <= 1:
        return Comm()
    from mpi4py import MPI

    comm = Comm(MPI.COMM_WORLD)
    if comm.size != env.size:
        raise RuntimeError(f"MPI sees {comm.size} rank(s) but the launcher ({env.launcher}) started {env.size}: "
                           "under SLURM use `srun --mpi=pmix` (MPI needs PMI to wire ranks)")
    failure.install(comm.rank, comm.abort)
    from hpcgan.log import setup_logging

    setup_logging(comm.rank, comm.size)
    return comm
