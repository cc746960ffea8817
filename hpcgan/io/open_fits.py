"""Open one input FITS file within a memory bound: compressed files, declared sizes, section reads.

- **Compressed files** (told by their first bytes, whatever the suffix): gzip (``.fits.gz``) and
  bzip2 (``.fits.bz2``) are decompressed in the reading thread, at most ``max_input_bytes``
  (:data:`~hpcgan.io.reasons.DECOMPRESSED_TOO_LARGE` past it). A stream that ends before its end
  marker is :data:`~hpcgan.io.reasons.TRUNCATED_COMPRESSED`, bad data
  :data:`~hpcgan.io.reasons.CORRUPT_COMPRESSED`. Tile-compressed ``.fits.fz`` files are plain FITS
  whose ``ZIMAGE`` HDUs astropy decompresses (:mod:`hpcgan.io.fits_read`).
- **Declared size**: before any pixel is read, the data bytes the headers declare (NAXISn x
  |BITPIX| / 8 per HDU; ZNAXISn x |ZBITPIX| / 8 for a tile-compressed image) are checked against
  ``max_input_bytes``: an oversize file is :data:`~hpcgan.io.reasons.TOO_LARGE`, with its size.
- **Section reads**: a plain file larger than ``section_read_bytes`` is not read whole. Its headers
  are read block by block (``pread``) and its image HDUs read on demand (:class:`RowReader`), so a
  stamp reads only the rows of the pixels it uses (:meth:`hpcgan.io.fits_read.Hdu.section`, cut
  first in :func:`hpcgan.io.resample.resample`); a file refused for its shape or a missing band
  reads no pixel at all.

Everything that touches the file system runs under :func:`hpcgan.io.fileio.bounded`, section reads
included.
"""
from __future__ import annotations

import bz2
import gzip
import os
import zlib
from dataclasses import dataclass

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.fileio import CHUNK, FileProblem, bounded, check_cancelled, read_all, regular_fd
from hpcgan.io.fits_read import BITPIX_DTYPE, FitsError, Hdu, declared_bytes, parse_fits, walk_headers

GZIP, BZIP2 = b"\x1f\x8b", b"BZh"
MiB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """``preprocess.max_input_mib`` and ``preprocess.section_read_mib`` in bytes."""
    max_input_bytes: int = 2048 * MiB
    section_read_bytes: int = 64 * MiB

    @classmethod
    def from_mib(cls, max_input_mib: float, section_read_mib: float) -> "ReadLimits":
        return cls(int(max_input_mib * MiB), int(section_read_mib * MiB))


class FileView:
    """A file's bytes addressed like a ``bytes`` object (``len``, slices), each slice one ``pread``."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size = fd, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, s: slice) -> bytes:
        lo, hi = max(s.start or 0, 0), min(s.stop if s.stop is not None else self.size, self.size)
        return os.pread(self.fd, hi - lo, lo) if hi > lo else b""


def show_size(n: int) -> str:
    """Bytes as people read them: ``5.00 GiB``, ``12.3 MiB``."""
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << k:
            return f"{n / (1 << k):.{2 if unit == 'GiB' else 1}f} {unit}"
    return f"{n} bytes"


def _check_declared(headers: list[tuple[dict, int, tuple, int]], limits: ReadLimits) -> None:
    total = sum(declared_bytes(h, size) for h, _, _, size in headers)
    if total > limits.max_input_bytes:
        raise FitsError(R.TOO_LARGE.format(size=show_size(total), limit=limits.max_input_bytes / MiB))


def _decompress(fd: int, kind: str, limit: int) -> bytes:
    """The decompressed bytes of a gzip/bzip2 file, at most ``limit`` (FileProblem otherwise)."""
    raw = os.fdopen(os.dup(fd), "rb")
    stream = gzip.GzipFile(fileobj=raw) if kind == "gzip" else bz2.BZ2File(raw)
    parts, n = [], 0
    try:
        while True:
            check_cancelled()
            piece = stream.read(min(CHUNK, limit + 1 - n))
            if not piece:
                break
            parts.append(piece)
            n += len(piece)
            if n > limit:
                raise FileProblem(R.DECOMPRESSED_TOO_LARGE.format(kind=kind, limit=limit / MiB))
    except EOFError:
        raise FileProblem(R.TRUNCATED_COMPRESSED.format(kind=kind)) from None
    except (OSError, zlib.error, ValueError) as e:
        msg = " ".join((str(e).splitlines() or [""])[0].split())[:120]
        raise FileProblem(R.CORRUPT_COMPRESSED.format(kind=kind, error=f"{type(e).__name__}: {msg}")) from None
    finally:
        stream.close()
        raw.close()
    if not n:
        raise FileProblem(R.EMPTY_FILE)
    return b"".join(parts)


class RowReader:
    """An image HDU's stored pixels in a file, read on demand: ``[ys, xs]`` or ``[plane, ys, xs]``
    reads the rows ``ys`` (one ``pread`` under :func:`hpcgan.io.fileio.bounded`, so a hung mount
    times out like a whole read) and keeps the columns ``xs``; ``np.asarray`` reads it all.
    File reads, not a memory map: mapped pages would count in the rank's memory."""

    def __init__(self, path: str, offset: int, dtype: str, shape: tuple[int, ...], timeout_s: float):
        self.path, self.offset, self.dtype, self.shape, self.timeout_s = path, offset, np.dtype(dtype), shape, timeout_s
        self.ndim = len(shape)

    def _rows(self, first: int, n: int) -> np.ndarray:
        width = self.shape[-1] * self.dtype.itemsize

        def read(path: str) -> bytes:
            with regular_fd(path) as (fd, _):
                return os.pread(fd, n * width, self.offset + first * width)
        buf = bounded(read, self.path, timeout_s=self.timeout_s)
        if len(buf) != n * width:
            raise FileProblem(R.CANNOT_READ.format(error="file shrank while reading"))
        return np.frombuffer(buf, self.dtype).reshape(n, self.shape[-1])

    def __getitem__(self, key) -> np.ndarray:
        plane, ys, xs = key if len(key) == 3 else (None, *key)
        ny = self.shape[-2]
        y0, y1, step = ys.indices(ny)
        if step != 1:
            raise ValueError("RowReader reads contiguous rows")
        first = y0 + (plane * ny if plane is not None else 0)
        return self._rows(first, max(y1 - y0, 0))[:, xs]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = int(np.prod(self.shape[:-1], dtype=np.int64))
        a = self._rows(0, rows).reshape(self.shape)
        return a if dtype is None else a.astype(dtype)


def _sections(path: str, fd: int, size: int, limits: ReadLimits, timeout_s: float) -> list[Hdu] | bytes:
    """A large plain file: its HDUs with pixels read on demand (:class:`RowReader`; headers read
    block by block), or its bytes when astropy must read it (tile-compressed images, random groups)."""
    headers = walk_headers(FileView(fd, size))
    _check_declared(headers, limits)
    if any(h.get("ZIMAGE") is True or h.get("GROUPS") is True for h, *_ in headers):
        return read_all(fd, size)
    return [Hdu(h, RowReader(path, pos, BITPIX_DTYPE[h["BITPIX"]], shape, timeout_s) if shape else None, i,
                str(h.get("EXTNAME", "")).strip()) for i, (h, pos, shape, _) in enumerate(headers)]


def _load(path: str, limits: ReadLimits, timeout_s: float = 0.0) -> tuple[str, list[Hdu] | bytes]:
    """Everything that touches the file system for one file (run by :func:`bounded`)."""
    with regular_fd(path) as (fd, size):
        if size == 0:
            raise FileProblem(R.EMPTY_FILE)
        head = os.pread(fd, 3, 0)
        if head.startswith(GZIP) or head.startswith(BZIP2):
            kind = "gzip" if head.startswith(GZIP) else "bzip2"
            return kind, _decompress(fd, kind, limits.max_input_bytes)
        if size > min(limits.section_read_bytes, limits.max_input_bytes) and head.startswith(b"SIM"):
            return "plain", _sections(path, fd, size, limits, timeout_s)
        return "plain", read_all(fd, size)


def load_hdus(path: str, limits: ReadLimits = ReadLimits(), timeout_s: float = 0.0) -> list[Hdu]:
    """The HDUs of one input file within ``limits`` (module docstring); FileProblem or FitsError
    with the one-line reason."""
    kind, got = bounded(_load, path, limits, timeout_s, timeout_s=timeout_s)
    if not isinstance(got, bytes):
        return got
    if kind != "plain" or b"ZIMAGE  =" in got[:1 << 16]:
        _check_declared(walk_headers(got), limits)  # a decompressed or tile-compressed file's own sizes
    return parse_fits(got)
