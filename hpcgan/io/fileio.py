"""Reading one input file whole, refusing anything but a regular file, within a bounded time.

Why a worker thread: on Linux a blocking ``open``/``stat``/``read`` cannot be given a timeout. A
FIFO's ``open`` blocks until a writer appears; a hung NFS or Lustre mount blocks any call on it in
the kernel, where ``SIGALRM`` does not reach it (hard mounts sleep killable, i.e. only SIGKILL
wakes them). So the calls run in one daemon thread and the rank waits at most ``timeout_s`` for
each file; past it the file is reported :data:`~hpcgan.io.reasons.READ_TIMEOUT` and the thread is
abandoned (a fresh one serves the next file; a daemon thread never delays the exit). An abandoned
read really stops: files are read in :data:`CHUNK`-byte pieces and the call's cancel flag, set at
the timeout, is checked between pieces (:func:`cancelled`), so a slow but live read frees its
buffer within one piece instead of reading on to the end (a call stuck inside the kernel stays
stuck, holding at most one piece).

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
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from hpcgan.io import reasons as R

T = TypeVar("T")
CHUNK = 8 << 20  # bytes per read call: the most an abandoned read goes on reading
_pread = os.pread
_state = threading.local()  # the running call's cancel flag (worker threads only)
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


@contextmanager
def regular_fd(path: str) -> Iterator[tuple[int, int]]:
    """(descriptor, size) of the regular file ``path``, open for reading; FileProblem otherwise.

    OSErrors inside the ``with`` block become FileProblem too (blocking: see :func:`bounded`).
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(R.NOT_REGULAR.format(kind=_kind(st.st_mode)))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileProblem(R.NOT_REGULAR.format(kind=_kind(st.st_mode)))
            yield fd, st.st_size
        finally:
            os.close(fd)
    except OSError as e:
        raise FileProblem(_os_reason(e)) from None


def read_regular(path: str) -> bytes:
    """The bytes of the regular file ``path``; FileProblem otherwise (blocking: see :func:`bounded`)."""
    with regular_fd(path) as (fd, size):
        buf = read_all(fd, size)
    if not buf:
        raise FileProblem(R.EMPTY_FILE)
    return buf


def cancelled() -> bool:
    """True when the call running in this worker thread was abandoned (its timeout passed)."""
    ev = getattr(_state, "cancel", None)
    return ev is not None and ev.is_set()


def check_cancelled() -> None:
    """Raise READ_TIMEOUT in an abandoned call (see :func:`cancelled`)."""
    if cancelled():
        raise FileProblem(R.READ_TIMEOUT.format(seconds=getattr(_state, "timeout", 0.0)))


def read_all(fd: int, size: int) -> bytes:
    """All bytes of an open file of ``size`` bytes (as stat-ed; it may grow or shrink), :data:`CHUNK`
    at a time, stopping when the call is abandoned."""
    parts, pos = [], 0
    while True:
        check_cancelled()
        piece = _pread(fd, min(CHUNK, size - pos) if pos < size else CHUNK, pos)
        if not piece:
            break
        parts.append(piece)
        pos += len(piece)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _Worker(threading.Thread):
    """One daemon thread running calls from a queue, in order; outcomes go to its own result queue."""

    def __init__(self):
        super().__init__(name="preprocess-read", daemon=True)
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            fn, args, cancel, timeout = self.calls.get()
            _state.cancel, _state.timeout = cancel, timeout
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
    cancel = threading.Event()
    _worker.calls.put((fn, args, cancel, timeout_s))
    try:
        ok, value = _worker.results.get(timeout=timeout_s)
    except queue.Empty:
        cancel.set()  # a chunked read stops at its next piece (cancelled())
        _worker = None  # it may be stuck in the kernel: abandon it, the next call gets a fresh thread
        raise FileProblem(R.READ_TIMEOUT.format(seconds=timeout_s)) from None
    if not ok:
        raise value
    return value
