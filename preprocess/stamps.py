"""One object's stamp: read its file(s) in one of three layouts, validate, return (5, H, W) float32.

Layouts (``preprocess.layout``):

- ``mef``: one multi-extension FITS per object, one image HDU per band, ``EXTNAME`` = band
  (docs/formats.md). Bands are picked by name, in the configured order.
- ``cube``: one FITS per object whose first image HDU is a cube ``(band, y, x)`` (FITS NAXIS3 =
  bands), planes in the configured band order.
- ``per_band``: one FITS per band; the catalog path holds ``{band}``; first image HDU of each file.
- ``auto``: ``per_band`` when the path holds ``{band}``, else ``cube`` when the first image HDU is
  3-D, else ``mef``.

Every problem raises :class:`Reject` with a one-line reason (the quarantine list's entry).
Small NaN/Inf masks (fraction <= ``nan_fill_max_frac``) are filled with 0 (the sky level of
sky-subtracted stamps) and counted per band in ``Stamp.nan_filled``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from preprocess.fitsread import FitsError, Hdu, read_fits

META_KEYS = (("psf_fwhm", "PSFFWHM"), ("sky_sigma", "SKYSIG"), ("mag_zp", "MAGZP"))


class Reject(Exception):
    """A stamp that goes to quarantine; ``str(e)`` is the one-line reason."""


@dataclass
class Stamp:
    image: np.ndarray  # (nband, H, W) float32, native byte order, finite
    meta: dict  # META_KEYS name -> (nband,) float32 (NaN where the header lacks the card)
    nan_filled: np.ndarray  # (nband,) int32: pixels filled per band
    nbytes: int = 0


def inside_root(path: str, root: str) -> bool:
    """True when ``path`` (symlinks resolved) lies inside ``root``."""
    real = os.path.realpath(path)
    root = os.path.realpath(root)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _read(path: str, root: str) -> list[Hdu]:
    if not inside_root(path, root):
        raise Reject(f"path escapes the data root {root}: {path}")
    try:
        return read_fits(path)
    except FitsError as e:
        raise Reject(f"{e}: {path}") from None


def _first_image(hdus: list[Hdu], path: str) -> Hdu:
    for h in hdus:
        if h.shape is not None:
            return h
    raise Reject(f"no image HDU: {path}")


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
               nan_fill_max_frac: float = 0.01) -> Stamp:
    """Read and validate one object's stamp (see module docstring); raise Reject on bad input."""
    shape = (len(bands), size, size)
    hdus = None
    if layout == "auto":
        if "{band}" not in path:
            hdus = _read(path, root)
        layout = detect_layout(path, hdus)
    image = np.empty(shape, np.float32)
    if layout == "per_band":
        if "{band}" not in path:
            raise Reject(f"per_band layout needs '{{band}}' in the path: {path}")
        hdrs = []
        for k, b in enumerate(bands):
            p = path.replace("{band}", b)
            if not os.path.exists(p):
                raise Reject(f"missing band {b!r}: {p}")
            h = _first_image(_read(p, root), p)
            if h.shape != shape[1:]:
                raise Reject(f"wrong shape {h.shape} in band {b!r}, expected {shape[1:]}: {p}")
            h.fill(image[k])
            hdrs.append(h.header)
    else:
        hdus = hdus if hdus is not None else _read(path, root)
        if layout == "cube":
            h = _first_image(hdus, path)
            if h.shape != shape:
                raise Reject(f"wrong shape {h.shape}, expected {shape}: {path}")
            h.fill(image)
            hdrs = [h.header] * len(bands)
        else:  # mef
            by_name = {h.name.strip().lower(): h for h in hdus if h.shape is not None and h.name}
            hdrs = []
            for k, b in enumerate(bands):
                h = by_name.get(b.lower())
                if h is None:
                    raise Reject(f"missing band {b!r} (no image HDU with EXTNAME={b}): {path}")
                if h.shape != shape[1:]:
                    raise Reject(f"wrong shape {h.shape} in band {b!r}, expected {shape[1:]}: {path}")
                h.fill(image[k])
                hdrs.append(h.header)
    flat = image.reshape(len(bands), -1)
    finite = np.isfinite(flat)
    nan_filled = (flat.shape[1] - np.count_nonzero(finite, axis=1)).astype(np.int32)
    nbad = int(nan_filled.sum())
    if nbad:
        frac = nbad / image.size
        if frac > nan_fill_max_frac:
            raise Reject(f"{nbad} NaN/Inf pixels ({100 * frac:.2f}%) > nan_fill_max_frac "
                         f"{100 * nan_fill_max_frac:.2f}%: {path}")
        flat[~finite] = 0.0
    zero = [b for b, nz in zip(bands, flat.any(axis=1)) if not nz]
    if zero:
        raise Reject(f"all-zero image in band(s) {','.join(zero)}: {path}")
    return Stamp(image, _meta(hdrs), nan_filled, image.nbytes)
