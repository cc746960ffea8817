"""The sky background of stamps and frames, measured with the field's tools (``preprocess.sky``).

- Stamps (:func:`stamp_sky`): astropy ``sigma_clipped_stats`` (3 sigma, 5 iterations) per band on
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

import numpy as np

from hpcgan.io import reasons as R

SKY_INNER = 0.5  # stamps: pixels at >= 0.5 x (n/2) px from the centre are sky candidates
MIN_PIXELS = 50
BOX = 64  # frames: Background2D box size, px


def _ring(size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2.0
    return np.hypot(xx, yy) >= SKY_INNER * size / 2


def stamp_sky(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(level, sigma), each (C,) float64, of stamp ``image`` (C, H, W) from its valid sky pixels (see
    module docstring); NaN for a band without valid pixels."""
    from astropy.stats import sigma_clipped_stats

    c, h, w = image.shape
    ok = np.isfinite(image) if mask is None else (mask == 0) & np.isfinite(image)
    ring = ok & (_ring(h)[None] if h == w else True)
    level, sigma = np.full(c, np.nan), np.full(c, np.nan)
    for k in range(c):
        sel = ring[k] if np.count_nonzero(ring[k]) >= MIN_PIXELS else ok[k]
        if not sel.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, med, std = sigma_clipped_stats(image[k][sel].astype(np.float64), sigma=3.0, maxiters=5)
        level[k], sigma[k] = med, std
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
