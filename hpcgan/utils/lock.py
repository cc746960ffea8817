"""One run per output folder: an advisory ``flock`` on ``OUT/.hpcgan.lock``, held by rank 0.

A second run on the same OUT (a re-run started while the ranks of a killed ``mpirun`` still
work, or two jobs given the same ``--out``) would interleave writes. The stage that owns OUT calls
:func:`lock_out` on every rank: rank 0 takes the lock (non-blocking) and keeps it until the process
exits (the kernel drops it, also after ``kill -9``) or calls :func:`release`. Taking it again in
the holding process is a no-op. The lock file stays; its text names the holder (stage, host, pid,
start time) for the refusal message. Where the file system does not
support ``flock`` (Lustre mounted without ``flock``) the run goes on with a warning.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hpcgan.log import get_logger

if TYPE_CHECKING:
    from hpcgan.dist.comm import Comm

log = get_logger(__name__)
LOCK_NAME = ".hpcgan.lock"
EXIT_LOCKED = 2
_held: dict[str, IO] = {}  # lock path -> open lock file: the lock lives while it is open


class LockHeld(RuntimeError):
    """Another live process holds OUT's lock; ``str(e)`` is the one-line refusal."""


def acquire(out: str | Path, stage: str) -> None:
    """Create ``out`` and take its lock for this process; LockHeld if another process has it."""
    out = Path(out)
    path = out / LOCK_NAME
    if str(path.resolve()) in _held:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")
    except OSError as e:  # the stage's own writes will report the folder problem
        log.warning("cannot lock %s (%s)", path, e.strerror or e)
        return
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.seek(0)
        holder = f.read().strip() or "unknown process"
        f.close()
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise LockHeld(f"{out} is in use by another run ({holder}); wait for it to end or stop it "
                           f"(docs/distributed.md, 'Stopping a job'), or choose another output folder") from None
        log.warning("cannot lock %s (%s): a concurrent run on this folder would not be detected", path,
                    e.strerror)
        return
    f.seek(0)
    f.truncate()
    f.write(f"{stage} on {socket.gethostname()} pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    f.flush()
    _held[str(path.resolve())] = f


def release(out: str | Path) -> None:
    """Drop this process's lock on ``out`` (no-op if it holds none)."""
    f = _held.pop(str((Path(out) / LOCK_NAME).resolve()), None)
    if f is not None:
        f.close()


def lock_out(out: str | Path, stage: str, comm: Comm) -> bool:
    """Rank 0 takes OUT's lock; True on every rank if it did. If not, rank 0 logs the one-line
    refusal and every rank gets False (then exit :data:`EXIT_LOCKED`, without ``MPI_Abort``)."""
    msg = None
    if comm.rank == 0:
        try:
            acquire(out, stage)
        except LockHeld as e:
            msg = str(e)
            log.error("%s", msg)
    return comm.bcast(msg, root=0) is None
