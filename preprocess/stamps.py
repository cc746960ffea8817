"""One object's stamp: read its file(s) in one of three layouts, validate, return (5, H, W) float32.

Layouts (``preprocess.layout``):

- ``mef``: one multi-extension FITS per object, one image HDU per band, ``EXTNAME`` = band
  (docs/formats.md). Bands are picked by name, in the configured order.
- ``cube``: one FITS per object whose first image HDU is a cube ``(band, y, x)`` (FITS NAXIS3 =
  bands), planes in the configured band order.
- ``per_band``: one FITS per band; the catalog path holds ``{band}``; first image HDU of each file.
- ``auto``: ``per_band`` when the path holds ``{band}``, else ``cube`` when the first image HDU is
  3-D, else ``mef``.

Every problem raises :class:`Reject` with a one-line reason (the quarantine list's entry), a
:mod:`preprocess.reasons` template saying what was found: a file with no HDU named after a band
lists the image HDUs it has (``1 image HDU (HDU 0: 300x300, no EXTNAME)``), and two image HDUs with
the same band name are refused rather than one of them picked.
Small NaN/Inf masks (fraction <= ``nan_fill_max_frac``) are filled with 0 (the sky level of
sky-subtracted stamps) and counted per band in ``Stamp.nan_filled``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from preprocess import reasons as R
from preprocess.fileio import FileProblem, bounded, read_regular
from preprocess.fitsread import FitsError, Hdu, parse_fits

META_KEYS = (("psf_fwhm", "PSFFWHM"), ("sky_sigma", "SKYSIG"), ("mag_zp", "MAGZP"))


class Reject(Exception):
    """A stamp that goes to quarantine; ``str(e)`` is the one-line reason, then ``: path`` when given."""

    def __init__(self, reason: str, path: str = ""):
        super().__init__(f"{reason}: {path}" if path else reason)


@dataclass
class Stamp:
    image: np.ndarray  # (nband, H, W) float32, native byte order, finite
    meta: dict  # META_KEYS name -> (nband,) float32 (NaN where the header lacks the card)
    nan_filled: np.ndarray  # (nband,) int32: pixels filled per band
    nbytes: int = 0
    wcs: str = ""  # the model grid's header text (hpcgan.io.grid.grid_text); '' = the nominal grid at (ra, dec)


def inside_root(path: str, root: str) -> bool:
    """True when ``path`` (symlinks resolved) lies inside ``root``."""
    real = os.path.realpath(path)
    root = os.path.realpath(root)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _load(path: str, root: str) -> bytes:
    """Everything that touches the file system for one file (run by :func:`bounded`)."""
    if not inside_root(path, root):
        raise FileProblem(R.ESCAPES_ROOT.format(root=root))
    return read_regular(path)


def _read(path: str, root: str, timeout_s: float, missing: str = R.MISSING_FILE) -> list[Hdu]:
    """The file's HDUs; Reject with the reason (``missing`` for a file that does not exist)."""
    try:
        return parse_fits(bounded(_load, path, root, timeout_s=timeout_s))
    except (FileProblem, FitsError) as e:
        raise Reject(missing if str(e) == R.MISSING_FILE else str(e), path) from None


def describe(hdus: list[Hdu]) -> str:
    """What a file holds, for reasons: ``1 image HDU (HDU 0: 300x300, no EXTNAME)``."""
    imgs = [h for h in hdus if h.shape is not None]
    if not imgs:
        return f"{len(hdus)} HDU{'s' if len(hdus) > 1 else ''}, no image"
    parts = [f"HDU {h.index}: {'x'.join(map(str, h.shape))}, " + (repr(h.name) if h.name else "no EXTNAME")
             for h in imgs[:6]]
    more = f"; {len(imgs) - 6} more" if len(imgs) > 6 else ""
    return f"{len(imgs)} image HDU{'s' if len(imgs) > 1 else ''} ({'; '.join(parts)}{more})"


def _first_image(hdus: list[Hdu], path: str) -> Hdu:
    for h in hdus:
        if h.shape is not None:
            return h
    raise Reject(R.NO_IMAGE.format(found=describe(hdus)), path)


def _by_band(hdus: list[Hdu], bands: tuple[str, ...], path: str) -> list[Hdu]:
    """The image HDU named after each band (EXTNAME, case-insensitive); refuse a missing or repeated name."""
    _first_image(hdus, path)  # a file without any image says so
    out = []
    for b in bands:
        named = [h for h in hdus if h.shape is not None and h.name.lower() == b.lower()]
        if not named:
            raise Reject(R.MISSING_BAND.format(band=repr(b), found=describe(hdus)), path)
        if len(named) > 1:
            raise Reject(R.DUPLICATE_EXTNAME.format(band=repr(b), hdus=", ".join(str(h.index) for h in named)), path)
        out.append(named[0])
    return out


def _meta(hdrs: list[dict]) -> dict:
    out = {}
    for name, key in META_KEYS:
        vals = []
        for h in hdrs:
            v = h.get(key)
            vals.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan)
        out[name] = np.asarray(vals, dtype=np.float32)
    return out


def detect_layout(path: str, hdus: list[Hdu] | None) -> str:
    if "{band}" in path:
        return "per_band"
    first = next((h for h in hdus or [] if h.shape is not None), None)
    return "cube" if first is not None and len(first.shape) == 3 else "mef"


def read_stamp(path: str, root: str, bands: tuple[str, ...], size: int, layout: str = "auto",
               nan_fill_max_frac: float = 0.01, read_timeout_s: float = 0.0) -> Stamp:
    """Read and validate one object's stamp (see module docstring); raise Reject on bad input.

    ``read_timeout_s`` bounds the file system calls per file (:func:`preprocess.fileio.bounded`).
    """
    shape = (len(bands), size, size)
    hdus = None
    if layout == "auto":
        if "{band}" not in path:
            hdus = _read(path, root, read_timeout_s)
        layout = detect_layout(path, hdus)
    image = np.empty(shape, np.float32)
    if layout == "per_band":
        if "{band}" not in path:
            raise Reject(R.PER_BAND_PATH, path)
        hdrs = []
        for k, b in enumerate(bands):
            p = path.replace("{band}", b)
            h = _first_image(_read(p, root, read_timeout_s, R.MISSING_BAND_FILE.format(band=repr(b))), p)
            if h.shape != shape[1:]:
                raise Reject(R.WRONG_BAND_SHAPE.format(shape=h.shape, band=repr(b), expected=shape[1:]), p)
            h.fill(image[k])
            hdrs.append(h.header)
    else:
        hdus = hdus if hdus is not None else _read(path, root, read_timeout_s)
        if layout == "cube":
            h = _first_image(hdus, path)
            if h.shape != shape:
                raise Reject(R.WRONG_SHAPE.format(shape=h.shape, expected=shape), path)
            h.fill(image)
            hdrs = [h.header] * len(bands)
        else:  # mef
            hdrs = []
            for k, (b, h) in enumerate(zip(bands, _by_band(hdus, bands, path))):
                if h.shape != shape[1:]:
                    raise Reject(R.WRONG_BAND_SHAPE.format(shape=h.shape, band=repr(b), expected=shape[1:]), path)
                h.fill(image[k])
                hdrs.append(h.header)
    return Stamp(image, _meta(hdrs), fill_nan(image, bands, nan_fill_max_frac, path), image.nbytes)


def fill_nan(image: np.ndarray, bands: tuple[str, ...], nan_fill_max_frac: float, path: str) -> np.ndarray:
    """Set NaN/Inf pixels of ``image`` (nband, H, W) to 0 in place; (nband,) counts. Reject when more
    than ``nan_fill_max_frac`` are non-finite or a band is all zero."""
    flat = image.reshape(len(bands), -1)
    finite = np.isfinite(flat)
    nan_filled = (flat.shape[1] - np.count_nonzero(finite, axis=1)).astype(np.int32)
    nbad = int(nan_filled.sum())
    if nbad:
        frac = nbad / image.size
        if frac > nan_fill_max_frac:
            raise Reject(R.TOO_MANY_NAN.format(n=nbad, pct=100 * frac, max_pct=100 * nan_fill_max_frac), path)
        flat[~finite] = 0.0
    zero = [b for b, nz in zip(bands, flat.any(axis=1)) if not nz]
    if zero:
        raise Reject(R.ALL_ZERO.format(bands=",".join(zero)), path)
    return nan_filled
