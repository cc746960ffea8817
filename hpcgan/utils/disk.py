"""Disk space and write errors of the stages that write bulk output (simulate, preprocess, translate).

* :func:`check_space`: before writing, a stage estimates the bytes it still has to write (summed
  over its ranks) and refuses to start, with one line and exit :data:`EXIT_IO`, when the file system
  holding OUT has less free space (``statvfs``, the blocks available to this user) than the estimate
  times ``1 + margin``. ``<stage>.disk_check: false`` skips it (a file system whose ``statvfs`` does not
  tell, or a quota it does not show).
* :func:`reserve`: ``fallocate`` of a file's own extent, so that writes into an HDF5 skeleton whose
  chunks were allocated as holes cannot run out of space halfway (no-op where unsupported).
* :class:`WriteError`: an ``OSError`` naming the file and the errno (ENOSPC, EIO, EDQUOT, ...);
  :func:`writing` turns any ``OSError`` raised while writing a file (h5py's included) into one. The
  stage ends with one line and :data:`EXIT_IO` through :func:`hard_exit`: after HDF5 failed to flush a
  file it keeps it open and crashes the interpreter's exit (signal 11), so the process leaves with
  ``os._exit`` once its logs are flushed. Committed work stays: the same command resumes.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

EXIT_IO = 74  # sysexits EX_IOERR


class NoSpace(RuntimeError):
    """Too little free space to start; ``str(e)`` is the one-line refusal."""


class WriteError(OSError):
    """Writing ``filename`` failed with ``errno``; ``str(e)`` is one line naming both."""

    def __str__(self) -> str:
        code = errno.errorcode.get(self.errno or 0, "?")
        return (f"cannot write {self.filename}: [Errno {self.errno} {code}] {self.strerror}; what was committed "
                "is kept: fix the cause (free space, quota, device) and run the same command again")


def errno_of(e: BaseException) -> int:
    """The errno of an OSError (h5py's carry it too); EIO when none is given."""
    n = getattr(e, "errno", None)
    return int(n) if isinstance(n, int) and n > 0 else errno.EIO


def as_write_error(e: BaseException, path: str | Path) -> WriteError:
    if isinstance(e, WriteError):
        return e
    n = errno_of(e)
    return WriteError(n, os.strerror(n), str(path))


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block (writing ``path``) into a :class:`WriteError` naming it."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        raise as_write_error(e, path) from None


def human(n: float) -> str:
    """Bytes in the largest binary unit that keeps the number >= 1 (``55.0 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def free_bytes(path: str | Path) -> int:
    """Bytes available to this user on the file system of ``path`` (or of its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    st = os.statvfs(p)
    return st.f_bavail * st.f_frsize


def check_space(out: str | Path, need: int, margin: float, stage: str, enabled: bool = True) -> None:
    """NoSpace (one line) when ``need`` bytes times ``1 + margin`` exceed the free space at ``out``."""
    if not enabled or need <= 0:
        return
    want, free = int(need * (1 + margin)), free_bytes(out)
    if free < want:
        raise NoSpace(f"{stage}: not enough disk space at {out}: this run still writes about {human(need)} "
                      f"(+{margin:.0%} margin = {human(want)}) but {human(free)} is free; free space or choose "
                      f"another {stage}.out, or set {stage}.disk_margin lower or {stage}.disk_check=false")


_libc = None


def reserve(fd: int, path: str | Path) -> None:
    """Allocate the blocks of the open file ``fd``'s whole current extent (``fallocate``, size unchanged,
    contents unchanged: holes read as zeros either way). WriteError when the space is not there;
    nothing where the file system or platform does not support it."""
    global _libc
    size = os.fstat(fd).st_size
    if size == 0 or not sys.platform.startswith("linux"):
        return
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    if _libc.fallocate(fd, 0, 0, size) == 0:
        return
    n = ctypes.get_errno()
    if n in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return
    raise WriteError(n, os.strerror(n), str(path))


def hard_exit(code: int) -> None:
    """Flush the logs and leave now (``os._exit``): no interpreter teardown, where HDF5 would flush a
    file it failed to write again and crash (signal 11) instead of exiting with ``code``."""
    logging.shutdown()
    for f in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            f.flush()
    os._exit(code)


def check_space_on_ranks(comm, out: str | Path, need: int, margin: float, stage: str, enabled: bool = True) -> None:
    """:func:`check_space` for the bytes ``need`` of every rank together (summed; rank 0 looks at OUT's
    file system), raised as NoSpace on every rank alike (nobody is left in a collective)."""
    if not enabled:
        return
    total = int(comm.allreduce(int(need), "sum"))
    msg = None
    if comm.rank == 0:
        try:
            check_space(out, total, margin, stage)
        except NoSpace as e:
            msg = str(e)
    msg = comm.bcast(msg, root=0)
    if msg:
        raise NoSpace(msg)
