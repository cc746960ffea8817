"""Logging: one line per event, prefixed with the rank; progress bars only on rank 0 on a TTY."""
from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Iterable, TypeVar

if TYPE_CHECKING:
    from tqdm import tqdm

T = TypeVar("T")
_FORMAT = "%(asctime)s [rank {rank}/{size}] %(levelname)s %(name)s: %(message)s"


def setup_logging(rank: int | None = None, size: int | None = None, level: str | None = None) -> None:
    """Configure the root logger once per process with a rank prefix (call again after the rank is known).
    Without ``rank``/``size``: the launcher's (:func:`hpcgan.dist.env.detect`)."""
    if rank is None or size is None:
        from hpcgan.dist.env import detect

        e = detect()
        rank, size = e.rank, e.size
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


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "", rank: int = 0,
             initial: int = 0) -> "tqdm":
    """A tqdm bar on stderr over ``iterable`` (or a manual one: ``None``, then ``update``), shown only where
    :func:`show_progress` (rank 0, a TTY); elsewhere ``disable`` is true and it yields ``iterable`` as it is."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, initial=initial, disable=not show_progress(rank), file=sys.stderr,
                dynamic_ncols=True, leave=False)
