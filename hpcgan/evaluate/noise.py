"""The noise a translation carries: background-pixel samples, and the blank sky where it is measured.

Against the real stamps alone (no truth), the background is the part of the stamp at distance
``>= BACKGROUND_INNER`` (:mod:`hpcgan.astro.noise_power`) of the edge radius ``n/2`` px from the centre
(corners included): mostly sky, neighbours included. Against the noise-free truth, it is the *blank sky*
(:func:`blank_sky`): the pixels at least ``evaluate.blank_sky_away_arcsec`` from any pixel where the truth
holds light above ``evaluate.blank_sky_k`` x the survey's sky sigma, so that neither the central galaxy
nor a neighbour (whose lost resolution is not noise) is scored as noise. At most ``MAX_PIXELS`` values
per band are kept (from the first objects in evaluation order), so the sample is bounded however many
stamps stream past. Power spectra of residuals use :class:`hpcgan.evaluate.metrics.FourierStack`.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation

from hpcgan.astro.noise_power import background_mask, sky_sigma

MAX_PIXELS = 200_000  # per band


class BackgroundSample:
    """Background pixel values per band, up to ``cap`` each, from images ``(N, C, n, n)``."""

    def __init__(self, bands: int, size: int, cap: int = MAX_PIXELS, annulus: bool = True):
        """``annulus=False``: every pixel is a candidate; the caller's ``valid`` (the blank sky) selects."""
        self.mask = background_mask(size) if annulus else np.ones((size, size), bool)
        self.cap = cap
        self.parts: list[list[np.ndarray]] = [[] for _ in range(bands)]
        self.count = np.zeros(bands, dtype=np.int64)

    def add(self, imgs: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Background pixels of ``imgs`` (N, C, n, n); ``valid`` (same shape, bool): only those (masked pixels left out)."""
        px = imgs[..., self.mask]  # (N, C, P)
        ok = None if valid is None else valid[..., self.mask]
        for c in range(px.shape[1]):
            v = px[:, c].ravel() if ok is None else px[:, c][ok[:, c]]
            take = int(min(self.cap - self.count[c], v.size))
            if take > 0:
                self.parts[c].append(v[:take].astype(np.float64))
                self.count[c] += take

    def values(self, band: int) -> np.ndarray:
        return np.concatenate(self.parts[band]) if self.parts[band] else np.empty(0)


def blank_sky(truth: np.ndarray, real: np.ndarray, k: float, away_px: float) -> np.ndarray:
    """(B, C, n, n) bool: the pixels farther than ``away_px`` from every pixel where the noise-free ``truth``
    exceeds ``k`` x the sky sigma of ``real - truth`` (per band: :func:`hpcgan.astro.noise_power.sky_sigma`)."""
    light = truth > k * sky_sigma(real.astype(np.float64) - truth)[None, :, None, None]
    r = int(np.floor(away_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (xx ** 2 + yy ** 2 <= away_px ** 2)[None, None]
    return ~binary_dilation(light, structure=disc) if r > 0 else ~light


def background_sigma(sample: BackgroundSample) -> np.ndarray:
    """Per band, 1.4826 MAD of a background sample's values about their median (NaN when empty)."""
    out = np.full(len(sample.parts), np.nan)
    for c in range(len(out)):
        v = sample.values(c)
        if v.size:
            out[c] = 1.4826 * np.median(np.abs(v - np.median(v)))
    return out


def background_level(sample: BackgroundSample) -> np.ndarray:
    """Per band, the median of a background sample's values (NaN when empty): of (set - truth), a sky
    level the set invents or loses."""
    return np.array([float(np.median(v)) if (v := sample.values(c)).size else np.nan for c in range(len(sample.parts))])
