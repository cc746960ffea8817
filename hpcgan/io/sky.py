"""The sky background of stamps and frames, measured with the field's tools (``preprocess.sky``).

- Stamps (:func:`stamp_sky`): astropy ``sigma_clipped_stats`` (3 sigma, 5 iterations), all bands at once, on
  the valid pixels (mask 0) outside the central circle of radius ``SKY_INNER`` x half the stamp
  (the object's light is mostly inside; what is left of it and of neighbours is clipped). Level =
  the clipped median, sigma = the clipped standard deviation. Fewer than :data:`MIN_PIXELS` such
  pixels: all valid pixels are used.
- Frames (:func:`frame_sky`): photutils ``Background2D`` (boxes of :data:`BOX` px, or a quarter of
  the frame when smaller; 3x3 median filter; masked / ``ivar <= 0`` / NaN pixels excluded): the
  background map and its rms; the frame's level is the map's median, its sigma the rms map's median.

``check`` (:func:`check`): a background more than ``preprocess.sky_max_sigma`` sigma from zero is
refused (``sky not subtracted: ...``). ``subtract``: the level (stamps) or the map (frames) is
subtracted and recorded per stamp and band (the shards' ``sky_level``).
"""
from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np

from hpcgan.io import reasons as R

SKY_INNER = 0.5  # stamps: pixels at >= 0.5 x (n/2) px from the centre are sky candidates
MIN_PIXELS = 50
MAX_PIXELS = 1024  # stamps: sky pixels sampled per band (the level's error is ~1.25 sigma / 32)
BOX = 64  # frames: Background2D box size, px


@lru_cache(maxsize=16)
def _sample(h: int, w: int) -> np.ndarray:
    """Flat indices of at most :data:`MAX_PIXELS` pixels of an (h, w) stamp outside the central circle
    (``SKY_INNER``), evenly strided (the same pixels every time)."""
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(xx - (w - 1) / 2.0, yy - (h - 1) / 2.0)
    idx = np.flatnonzero(r >= SKY_INNER * min(h, w) / 2)
    return idx[::max(1, -(-len(idx) // MAX_PIXELS))]


def _clipped(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clipped (median, std) along the last axis of ``vals`` (NaN = left out), astropy ``sigma_clipped_stats``."""
    from astropy.stats import sigma_clipped_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, med, std = sigma_clipped_stats(vals, axis=-1, sigma=3.0, maxiters=5)
    return np.asarray(med, np.float64), np.asarray(std, np.float64)


def stamp_sky(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(level, sigma), each (C,) float64, of stamp ``image`` (C, H, W) from its valid sky pixels (see
    module docstring); NaN for a band without valid pixels. One vectorised clip over the bands on a
    fixed sample of at most :data:`MAX_PIXELS` ring pixels per band (0.4 ms for 5 bands of 64 or 136 px)."""
    c, h, w = image.shape
    flat = image.reshape(c, -1)
    ok = np.isfinite(flat) if mask is None else (mask.reshape(c, -1) == 0) & np.isfinite(flat)
    idx = _sample(h, w)
    vals = np.where(ok[:, idx], flat[:, idx], np.nan).astype(np.float64)
    level, sigma = _clipped(vals)
    for k in np.flatnonzero(np.count_nonzero(ok[:, idx], axis=1) < MIN_PIXELS):  # few sky pixels: all valid ones
        if ok[k].any():
            level[k], sigma[k] = (float(v) for v in _clipped(flat[k][ok[k]].astype(np.float64)))
        else:
            level[k] = sigma[k] = np.nan
    return level, sigma


def frame_sky(image: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(background map (H, W), level, sigma) of a frame with photutils ``Background2D`` (see module
    docstring); ``bad``: pixels to leave out. Falls back to ``sigma_clipped_stats`` of the good
    pixels (a flat map) when ``Background2D`` cannot work (too few good pixels per box)."""
    from astropy.stats import SigmaClip, sigma_clipped_stats
    from photutils.background import Background2D, MedianBackground

    h, w = image.shape
    box = (min(BOX, max(1, h // 4)), min(BOX, max(1, w // 4)))
    bad = bad | ~np.isfinite(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            b = Background2D(np.where(bad, 0.0, image), box, filter_size=(3, 3), mask=bad,
                             sigma_clip=SigmaClip(sigma=3.0, maxiters=5), bkg_estimator=MedianBackground())
            return np.asarray(b.background, np.float32), float(b.background_median), float(b.background_rms_median)
        except ValueError:
            good = image[~bad].astype(np.float64)
            if not good.size:
                return np.zeros((h, w), np.float32), math.nan, math.nan
            _, med, std = sigma_clipped_stats(good, sigma=3.0, maxiters=5)
            return np.full((h, w), float(med), np.float32), float(med), float(std)


def check(level: float, sigma: float, max_sigma: float, band: str) -> str:
    """The quarantine reason of a background ``level`` more than ``max_sigma`` x ``sigma`` from zero,
    '' when it passes (or cannot be judged: sigma not positive, level unknown)."""
    if not (math.isfinite(level) and math.isfinite(sigma) and sigma > 0):
        return ""
    n = abs(level) / sigma
    if n <= max_sigma:
        return ""
    return R.SKY_NOT_SUBTRACTED.format(level=f"{level:.4g}", nsigma=f"{n:.0f}", band=repr(band), max_sigma=max_sigma)


def judge_frame(image: np.ndarray, bad: np.ndarray, mode: str, max_sigma: float,
                band: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(pixels, background map or None, quarantine reason or '') of a frame under ``preprocess.sky``
    ``mode``: ``none`` measures nothing; ``check`` measures (:func:`frame_sky`) and gives the reason
    when the level is off; ``subtract`` returns the pixels minus the map."""
    if mode == "none":
        return image, None, ""
    bkg, level, sigma = frame_sky(image, bad)
    if mode == "check":
        return image, bkg, check(level, sigma, max_sigma, band)
    return (image - bkg).astype(image.dtype), bkg, ""


def level_at(bkg: np.ndarray | None, wcs, ra: float, dec: float) -> float:
    """The background map's value at the frame pixel nearest (ra, dec); NaN without a map."""
    if bkg is None:
        return math.nan
    x, y = wcs.world_to_pixel_values(ra, dec)
    if not (np.isfinite(x) and np.isfinite(y)):
        return math.nan
    h, w = bkg.shape
    return float(bkg[min(max(int(round(float(y))), 0), h - 1), min(max(int(round(float(x))), 0), w - 1)])
