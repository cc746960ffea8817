"""Read the image HDUs of one FITS file: a fast header parser for plain images, astropy otherwise.

Stamps are small (5 x 64 x 64 floats) and numerous, so per-file overhead dominates: the fast path
reads the whole file with one ``read`` and parses the 2880-byte header blocks itself (~50 us per
file instead of a few ms for ``astropy.io.fits.open``). It handles what survey stamps use: primary
and ``IMAGE`` extensions, BITPIX 8/16/32/64/-32/-64, BSCALE/BZERO, BLANK on integer data, any
NAXIS. Anything else (tile-compressed images, random groups, odd headers) goes to astropy, opened
with ``memmap=False`` inside ``with`` so no file handle outlives the call (../shared/PITFALLS.md 6).

Pixels always come back as native-endian float32 (FITS is big-endian; torch rejects ``>f4``).
Scaling (``BSCALE``/``BZERO``) is done in float64 and then cast, as astropy does; integer pixels
equal to ``BLANK`` become NaN.
"""
from __future__ import annotations

import io
import numpy as np

BLOCK = 2880
CARD = 80
BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


class FitsError(ValueError):
    """The file is not a readable FITS file; the message is the one-line quarantine reason."""


class Hdu:
    """One HDU: header cards and (for images) pixels, converted to native float32 on demand."""

    def __init__(self, header: dict, raw: np.ndarray | None, index: int = 0, name: str = "", converted: bool = False):
        self.header = header  # keyword -> value (str, int, float, bool); later duplicates win
        self.index, self.name = index, name
        self._raw = raw  # the stored array (big-endian view of the file bytes), or float32 if converted
        self._converted = converted
        self._data = None

    @property
    def shape(self) -> tuple[int, ...] | None:
        return None if self._raw is None else self._raw.shape

    def fill(self, out: np.ndarray) -> None:
        """Write the pixels as float32 into ``out`` (one pass when the HDU has no scaling)."""
        if self._converted or self._data is not None:
            out[...] = self._data if self._data is not None else self._raw
        else:
            _convert(self.header, self._raw, out)

    @property
    def data(self) -> np.ndarray | None:
        """Native float32 pixels (None for an HDU without pixels)."""
        if self._raw is None:
            return None
        if self._data is None:
            data = np.empty(self._raw.shape, np.float32)
            self.fill(data)
            self._data = data
        return self._data


def _value(raw: str):
    raw = raw.strip()
    if raw.startswith("'"):
        # string: '' is an escaped quote; the value ends at the first lone quote
        out, i = [], 1
        while i < len(raw):
            if raw[i] == "'":
                if i + 1 < len(raw) and raw[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(raw[i])
            i += 1
        return "".join(out).rstrip()
    raw = raw.split("/", 1)[0].strip()
    if raw == "T":
        return True
    if raw == "F":
        return False
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw.replace("D", "E"))
    except ValueError:
        return raw  # complex or malformed: keep the text


def parse_header(buf: memoryview | bytes, pos: int) -> tuple[dict, int]:
    """Parse one header starting at ``pos``; return (cards, position of the data)."""
    hdr: dict = {}
    n = len(buf)
    while True:
        if pos + BLOCK > n:
            raise FitsError("truncated FITS header (no END card)")
        block = bytes(buf[pos:pos + BLOCK]).decode("ascii", errors="replace")
        pos += BLOCK
        for i in range(0, BLOCK, CARD):
            card = block[i:i + CARD]
            key = card[:8].rstrip()
            if key == "END":
                return hdr, pos
            if card[8:10] == "= " and key:
                hdr[key] = _value(card[10:])


def _data_size(hdr: dict) -> int:
    naxis = int(hdr.get("NAXIS", 0))
    if naxis == 0:
        return 0
    n = 1
    for k in range(1, naxis + 1):
        n *= int(hdr.get(f"NAXIS{k}", 0))
    bits = abs(int(hdr["BITPIX"]))
    return bits // 8 * int(hdr.get("GCOUNT", 1)) * (int(hdr.get("PCOUNT", 0)) + n)


def _raw_pixels(hdr: dict, raw: bytes | memoryview) -> np.ndarray:
    """The stored array (file byte order, no copy)."""
    bitpix = hdr["BITPIX"]
    if bitpix not in BITPIX_DTYPE:
        raise FitsError(f"unsupported BITPIX {bitpix}")
    naxis = int(hdr["NAXIS"])
    shape = tuple(int(hdr[f"NAXIS{k}"]) for k in range(naxis, 0, -1))  # FITS axis 1 is fastest (x)
    return np.frombuffer(raw, dtype=BITPIX_DTYPE[bitpix], count=int(np.prod(shape))).reshape(shape)


def _convert(hdr: dict, arr: np.ndarray, out: np.ndarray) -> None:
    """Stored values -> physical float32 in ``out``: BSCALE/BZERO in float64, BLANK -> NaN."""
    bitpix = hdr["BITPIX"]
    bscale, bzero = float(hdr.get("BSCALE", 1.0)), float(hdr.get("BZERO", 0.0))
    if bitpix > 0:
        blank = hdr.get("BLANK")
        v = arr.astype(np.float64)
        if bscale != 1.0 or bzero != 0.0:
            v = v * bscale + bzero
        if isinstance(blank, int):
            v[arr == blank] = np.nan
        out[...] = v
    elif bscale != 1.0 or bzero != 0.0:
        out[...] = arr.astype(np.float64) * bscale + bzero
    else:
        out[...] = arr  # byte swap + cast in one pass


def read_fits_bytes(buf: bytes) -> list[Hdu]:
    """All HDUs of a FITS file held in memory (fast path; raises FitsError or _Fallback)."""
    mv = memoryview(buf)
    if not buf.startswith(b"SIMPLE  =") or len(buf) < BLOCK:
        raise FitsError("not a FITS file (no SIMPLE card)")
    hdus, pos, i = [], 0, 0
    while pos < len(buf):
        if i > 0 and not bytes(mv[pos:pos + 8]).startswith(b"XTENSION"):
            if bytes(mv[pos:pos + BLOCK]).strip(b"\0 ") == b"":
                break  # padding after the last HDU
            raise FitsError(f"garbage after HDU {i - 1}")
        hdr, pos = parse_header(mv, pos)
        if i == 0 and hdr.get("SIMPLE") is not True:
            raise _Fallback("SIMPLE = F")
        if hdr.get("GROUPS") is True or hdr.get("ZIMAGE") is True:
            raise _Fallback("random groups or compressed image")
        size = _data_size(hdr)
        if pos + size > len(buf):
            raise FitsError(f"truncated FITS data in HDU {i}: {len(buf) - pos} of {size} bytes")
        data = None
        if hdr.get("XTENSION", "IMAGE") == "IMAGE" and int(hdr.get("NAXIS", 0)) > 0 and size > 0:
            data = _raw_pixels(hdr, mv[pos:pos + size])
        hdus.append(Hdu(hdr, data, i, str(hdr.get("EXTNAME", "")).strip()))
        pos += (size + BLOCK - 1) // BLOCK * BLOCK
        i += 1
    return hdus


class _Fallback(Exception):
    """The fast path does not handle this file: use astropy."""


def _read_astropy(buf: bytes) -> list[Hdu]:
    import warnings

    from astropy.io import fits

    out = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(io.BytesIO(buf), memmap=False, lazy_load_hdus=False) as hdul:
                for i, h in enumerate(hdul):
                    data = None
                    if h.is_image and h.data is not None:
                        data = np.asarray(h.data, dtype=np.float32)
                    hdr = {k: v for k, v in h.header.items() if k not in ("COMMENT", "HISTORY", "")}
                    name = str(h.name if h.name != "PRIMARY" else hdr.get("EXTNAME", "")).strip()
                    out.append(Hdu(hdr, data, i, name, converted=True))
    except (OSError, ValueError, TypeError, KeyError, IndexError) as e:
        raise FitsError(f"unreadable FITS ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    return out


def read_fits(path: str, fast: bool = True) -> list[Hdu]:
    """Read a FITS file's HDUs (header cards + native float32 pixels); FitsError with a one-line reason."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        raise FitsError("missing file") from None
    except IsADirectoryError:
        raise FitsError("path is a directory") from None
    except OSError as e:
        raise FitsError(f"cannot read file ({e.strerror})") from None
    if not buf:
        raise FitsError("empty file")
    if fast:
        try:
            return read_fits_bytes(buf)
        except _Fallback:
            pass
    return _read_astropy(buf)
