"""Reading one input file whole, refusing anything but a regular file, within a bounded time.

Why a worker thread: on Linux a blocking ``open``/``stat``/``read`` cannot be given a timeout. A
FIFO's ``open`` blocks until a writer appears; a hung NFS or Lustre mount blocks any call on it in
the kernel, where ``SIGALRM`` does not reach it (hard mounts sleep killable, i.e. only SIGKILL
wakes them). So the calls run in one daemon thread and the rank waits at most ``timeout_s`` for
each file; past it the file is reported :data:`~hpcgan.io.reasons.READ_TIMEOUT` and the stuck
thread is abandoned (a fresh one serves the next file; a daemon thread never delays the exit).

Against FIFOs, devices and directories the path is ``stat``-ed first and only a regular file is
opened, with ``O_NONBLOCK`` (so even a path swapped for a FIFO after the check does not block) and
checked again with ``fstat`` on the open descriptor.
"""
from __future__ import annotations

import errno
import os
import queue
import stat
import threading
from typing import Callable, TypeVar

from hpcgan.io import reasons as R

T = TypeVar("T")
KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
         (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


class FileProblem(Exception):
    """The file cannot be read; ``str(e)`` is the quarantine reason (a :mod:`hpcgan.io.reasons` line)."""


def _kind(mode: int) -> str:
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def _os_reason(e: OSError) -> str:
    if e.errno == errno.ENOENT:
        return R.MISSING_FILE
    if e.errno == errno.ELOOP:
        return R.NOT_REGULAR.format(kind="symlink loop")
    return R.CANNOT_READ.format(error=e.strerror or type(e).__name__)


def read_regular(path: str) -> bytes:
    """The bytes of the regular file ``path``; FileProblem otherwise (blocking: see :func:`bounded`)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(R.NOT_REGULAR.format(kind=_kind(st.st_mode)))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileProblem(R.NOT_REGULAR.format(kind=_kind(st.st_mode)))
            with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
                buf = f.readall()
        finally:
            os.close(fd)
    except OSError as e:
        raise FileProblem(_os_reason(e)) from None
    if not buf:
        raise FileProblem(R.EMPTY_FILE)
    return buf


class _Worker(threading.Thread):
    """One daemon thread running calls from a queue, in order; outcomes go to its own result queue."""

    def __init__(self):
        super().__init__(name="preprocess-read", daemon=True)
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            fn, args = self.calls.get()
            try:
                self.results.put((True, fn(*args)))
            except BaseException as e:  # handed to the caller, which re-raises it
                self.results.put((False, e))


_worker: _Worker | None = None


def bounded(fn: Callable[..., T], *args, timeout_s: float) -> T:
    """``fn(*args)`` in the worker thread, waiting at most ``timeout_s`` (0: in this thread, unbounded).

    Raises FileProblem(READ_TIMEOUT) past the bound; exceptions of ``fn`` propagate. For one caller
    thread (each rank's main thread).
    """
    global _worker
    if not timeout_s:
        return fn(*args)
    if _worker is None:
        _worker = _Worker()
    _worker.calls.put((fn, args))
    try:
        ok, value = _worker.results.get(timeout=timeout_s)
    except queue.Empty:
        _worker = None  # stuck in the kernel: abandon it, the next call gets a fresh thread
        raise FileProblem(R.READ_TIMEOUT.format(seconds=timeout_s)) from None
    if not ok:
        raise value
    return value
