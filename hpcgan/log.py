"""Logging: one line per event, prefixed with the rank; progress bars only on rank 0 on a TTY."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s [rank {rank}/{size}] %(levelname)s %(name)s: %(message)s"


def env_rank() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (SLURM, Open MPI, PMI, torchrun), else (0, 1)."""
    for r, s in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMIX_RANK", "OMPI_COMM_WORLD_SIZE"),
                 ("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS"), ("PMI_RANK", "PMI_SIZE")):
        if r in os.environ and s in os.environ:
            return int(os.environ[r]), int(os.environ[s])
    return 0, 1


def setup_logging(rank: int | None = None, size: int | None = None, level: str | None = None) -> None:
    """Configure the root logger once per process with a rank prefix (call again after the rank is known)."""
    if rank is None or size is None:
        rank, size = env_rank()
    level = level or os.environ.get("HPCGAN_LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT.format(rank=rank, size=size), datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def show_progress(rank: int = 0) -> bool:
    """Progress bars only on rank 0 and only when stderr is a terminal."""
    return rank == 0 and sys.stderr.isatty()
