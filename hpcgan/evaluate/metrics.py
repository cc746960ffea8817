"""The paper's evaluation ideas as exact formulas (docs/evaluation.md), in plain numpy and scipy.

Axis order: a stack of images is ``(N, C, H, W)`` (object, band, y, x); pixel values are in the target
survey's units. Every function is a pure function of its inputs (or, for :class:`FourierStack`, of the
batches added). On identical inputs every score is perfect: KS distance 0, power ratios 1, MSE 0
(tested). Apertures and ratio statistics: :mod:`hpcgan.astro.photometry`; sizes and shapes:
:mod:`hpcgan.evaluate.shapes`; noise: :mod:`hpcgan.evaluate.noise`.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from hpcgan.astro.noise_power import radial_bins, radial_power  # noqa: F401 (part of this module's formulas)


# ---- global shapes ------------------------------------------------------------------------------
def total_flux(imgs: np.ndarray) -> np.ndarray:
    """Sum over the stamp's pixels: ``(N, C, H, W) -> (N, C)`` (float64)."""
    return imgs.astype(np.float64).sum(axis=(-2, -1))


def ks_2samp(a: np.ndarray, b: np.ndarray) -> dict:
    """Two-sample Kolmogorov-Smirnov (``scipy.stats.ks_2samp``) on the finite values: distance ``D``
    and p-value ``p`` (NaN when either sample is empty)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not a.size or not b.size:
        return {"D": float("nan"), "p": float("nan")}
    r = stats.ks_2samp(a, b)
    return {"D": float(r.statistic), "p": float(r.pvalue)}


def radii_arcsec(size: int, pixel_scale: float, step: float) -> np.ndarray:
    """``step, 2 step, ...`` up to the stamp edge ``R = size/2 * pixel_scale`` (inscribed circle), then R."""
    edge = size / 2 * pixel_scale
    r = np.arange(1, int(edge / step + 1e-9) + 1) * step
    return np.unique(np.append(r[r < edge - 1e-9], edge))


# ---- local fluctuation patterns: Fourier ---------------------------------------------------------
class FourierStack:
    """Running sums of ``|FFT2(I)|`` and ``|FFT2(I)|^2`` per band over images ``(N, C, n, n)``.

    ``mean_power`` is per pixel, ``mean_i |FFT2(I_i)|^2 / n^2``: white noise of standard deviation
    ``sigma`` has ``sigma^2`` at every frequency.
    """

    def __init__(self, bands: int, size: int):
        self.size, self.n = size, 0
        self.amp = np.zeros((bands, size, size))
        self.pow = np.zeros((bands, size, size))

    def add(self, imgs: np.ndarray) -> None:
        a = np.abs(np.fft.fft2(imgs.astype(np.float64), axes=(-2, -1)))
        self.amp += a.sum(axis=0)
        self.pow += (a * a).sum(axis=0)
        self.n += len(imgs)

    def mean_amplitude(self) -> np.ndarray:
        """Stacked amplitude maps ``(C, n, n)``, zero frequency at the centre (``fftshift``)."""
        return np.fft.fftshift(self.amp / max(self.n, 1), axes=(-2, -1))

    def mean_power(self) -> np.ndarray:
        """Stacked power maps per pixel ``(C, n, n)``, unshifted FFT layout."""
        return self.pow / (max(self.n, 1) * self.size * self.size)


def hf_band(k: np.ndarray, k_min: float, k_max: float = 0.5) -> np.ndarray:
    """The bins ``k_min <= k <= k_max`` (boolean mask over ``k``; default: the high frequencies up to 0.5)."""
    return (k >= k_min - 1e-12) & (k <= k_max + 1e-12)


def hf_power_ratio(p_gen: np.ndarray, p_real: np.ndarray, k: np.ndarray, k_min: float,
                   k_max: float = 0.5) -> np.ndarray:
    """Band power ratio ``H = sum_{k_min <= k <= k_max} P_gen(k) / sum_{same k} P_real(k)`` over the
    last axis (``(..., K) -> (...)``; NaN where the denominator is 0).

    1 when the noise matches; > 1 too much small-scale power (e.g. extra white noise); < 1 too smooth.
    """
    sel = hf_band(k, k_min, k_max)
    num, den = p_gen[..., sel].sum(axis=-1), p_real[..., sel].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# ---- pixels ------------------------------------------------------------------------------------
def mse_per_band(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over objects and pixels of ``(a - b)^2`` per band ``(C,)``, and the count of terms per band."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return (d * d).sum(axis=(0, 2, 3)), d.shape[0] * d.shape[2] * d.shape[3]
