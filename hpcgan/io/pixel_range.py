"""Pixel sanity: finite values no sky can produce are refused, with the value found.

A pixel holds at most the flux of the brightest source a stamp can plausibly contain. In model
units (``data.<side>.bunit`` / ``magzp``) an AB magnitude-``m`` source has a total flux of
``10 ** (-0.4 * (m - magzp))``; a band with ``|pixel|`` above ``preprocess.pixel_limit_factor``
times that flux for ``m = preprocess.pixel_limit_mag`` (defaults: 1000 x a 10th-magnitude source:
1e8 nanomaggies for SDSS, 1e11 ADU at zero point 30) is quarantined (a constant 1e30 band, a
pipeline's -1e38 "no data" value). Non-finite pixels are left to the NaN rules.
"""
from __future__ import annotations

import math

import numpy as np

from hpcgan.io import reasons as R


def pixel_limit(magzp: float, mag: float, factor: float) -> float:
    """The largest plausible ``|pixel|`` in units of zero point ``magzp`` (inf when ``factor`` is 0)."""
    if factor <= 0 or not math.isfinite(magzp):
        return math.inf
    return factor * 10.0 ** (-0.4 * (mag - magzp))


def range_problem(image: np.ndarray, bands: tuple[str, ...], magzp: float, mag: float, factor: float,
                  unit: str) -> str | None:
    """The PIXEL_RANGE reason of the first band of ``image`` (nband, H, W) with a finite pixel
    beyond :func:`pixel_limit`, else None."""
    limit = pixel_limit(magzp, mag, factor)
    if not math.isfinite(limit):
        return None
    for k, band in enumerate(bands):
        a = np.abs(image[k])
        with np.errstate(invalid="ignore"):
            over = a > limit
        over &= np.isfinite(a)
        if over.any():
            value = float(image[k].flat[int(np.argmax(np.where(over, a, 0).ravel()))])
            return R.PIXEL_RANGE.format(value=value, band=repr(band), limit=limit, factor=factor, mag=mag,
                                        unit=unit or f"units of zero point {magzp:g}")
    return None
