"""The noise a translation carries: background-pixel samples for a KS comparison with the real stamps.

The background is the part of the stamp at distance ``>= BACKGROUND_INNER`` (:mod:`hpcgan.astro.noise_power`) of the edge radius
``n/2`` px from the centre (corners included): for the stamps of this project mostly sky. At most
``MAX_PIXELS`` values per band are kept (from the first objects in evaluation order), so the sample
is bounded however many stamps stream past. Power spectra of residuals use
:class:`hpcgan.evaluate.metrics.FourierStack`.
"""
from __future__ import annotations

import numpy as np

from hpcgan.astro.noise_power import background_mask

MAX_PIXELS = 200_000  # per band


class BackgroundSample:
    """Background pixel values per band, up to ``cap`` each, from images ``(N, C, n, n)``."""

    def __init__(self, bands: int, size: int, cap: int = MAX_PIXELS):
        self.mask, self.cap = background_mask(size), cap
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
