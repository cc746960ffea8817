"""The paper's evaluation ideas as exact formulas (docs/evaluation.md), in plain numpy.

Axis order: a stack of images is ``(N, C, H, W)`` (object, band, y, x) or ``(N, H, W)`` for one band;
pixel values are in the target survey's units. Every function is a pure function of its inputs, and
every comparison is *generated vs real counterpart of the same objects* (row ``i`` of both arrays is
one object). On identical inputs every score is perfect: ratios 1, scatters 0, KS distance 0,
power ratios 1, MSE 0 (tested).
"""
from __future__ import annotations

import math

import numpy as np

MAD_TO_SIGMA = 1.4826  # robust scatter: 1.4826 * median absolute deviation = sigma for a Gaussian


# ---- global shapes: total flux -----------------------------------------------------------------
def total_flux(imgs: np.ndarray) -> np.ndarray:
    """Sum over the stamp's pixels: ``(N, C, H, W) -> (N, C)`` (float64)."""
    return imgs.astype(np.float64).sum(axis=(-2, -1))


def ratio_stats(num: np.ndarray, den: np.ndarray) -> dict:
    """Median and robust scatter of ``num / den`` over objects with ``den > 0`` (1-D arrays)."""
    ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
    if not ok.any():
        return {"median": float("nan"), "scatter": float("nan"), "n": 0}
    r = num[ok] / den[ok]
    med = float(np.median(r))
    return {"median": med, "scatter": float(MAD_TO_SIGMA * np.median(np.abs(r - med))), "n": int(ok.sum())}


def _kolmogorov_sf(x: float) -> float:
    """P(K > x) of the Kolmogorov distribution: 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 x^2)."""
    if x < 0.2:
        return 1.0
    s = sum((-1) ** (j - 1) * math.exp(-2.0 * j * j * x * x) for j in range(1, 101))
    return float(min(1.0, max(0.0, 2.0 * s)))


def ks_2samp(a: np.ndarray, b: np.ndarray) -> dict:
    """Two-sample Kolmogorov-Smirnov: ``D = sup_t |F_a(t) - F_b(t)|`` and its asymptotic p-value
    ``Q_KS((sqrt(n_e) + 0.12 + 0.11 / sqrt(n_e)) D)``, ``n_e = n_a n_b / (n_a + n_b)`` (Numerical Recipes)."""
    a = np.sort(a[np.isfinite(a)])
    b = np.sort(b[np.isfinite(b)])
    if len(a) == 0 or len(b) == 0:
        return {"D": float("nan"), "p": float("nan")}
    t = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, t, side="right") / len(a) - np.searchsorted(b, t, side="right") / len(b))))
    ne = len(a) * len(b) / (len(a) + len(b))
    sq = math.sqrt(ne)
    return {"D": d, "p": _kolmogorov_sf((sq + 0.12 + 0.11 / sq) * d)}


# ---- global shapes: spatial flux distribution ----------------------------------------------------
def radii_arcsec(size: int, pixel_scale: float, step: float) -> np.ndarray:
    """``step, 2 step, ...`` up to the stamp edge ``R = size/2 * pixel_scale`` (inscribed circle), then R."""
    edge = size / 2 * pixel_scale
    r = np.arange(1, int(edge / step + 1e-9) + 1) * step
    return np.unique(np.append(r[r < edge - 1e-9], edge))


def curve_of_growth(imgs: np.ndarray, pixel_scale: float, radii: np.ndarray) -> np.ndarray:
    """Fraction of flux within radius ``r`` of the stamp centre: ``(N, H, W) -> (N, len(radii))``.

    ``f(r) = sum_{d <= r} I / sum_{d <= R} I`` with ``d`` the distance of a pixel centre from the stamp
    centre ``((n-1)/2, (n-1)/2)`` in arcsec and ``R = radii[-1]`` (the stamp edge). Objects whose flux
    within ``R`` is not positive get NaN rows.
    """
    n = imgs.shape[-1]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2.0
    d = np.hypot(xx, yy).ravel() * pixel_scale
    order = np.argsort(d, kind="stable")
    ds = d[order]
    flat = imgs.reshape(len(imgs), -1).astype(np.float64)[:, order]
    cum = np.cumsum(flat, axis=1)
    idx = np.searchsorted(ds, radii + 1e-9, side="right") - 1  # last pixel with d <= r
    within = np.where(idx >= 0, cum[:, np.clip(idx, 0, None)], 0.0)
    total = within[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = within / total
    out[(total[:, 0] <= 0)] = np.nan
    return out


def half_light_radius(curves: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Radius where each curve first reaches 0.5 (linear interpolation, from ``f(0) = 0``); NaN if none."""
    r = np.concatenate([[0.0], radii])
    out = np.full(len(curves), np.nan)
    for i, c in enumerate(curves):
        if not np.isfinite(c).all():
            continue
        f = np.concatenate([[0.0], c])
        j = int(np.argmax(f >= 0.5))
        if f[j] < 0.5 or j == 0:
            continue
        out[i] = r[j - 1] + (0.5 - f[j - 1]) / max(f[j] - f[j - 1], 1e-12) * (r[j] - r[j - 1])
    return out


# ---- local fluctuation patterns: Fourier ---------------------------------------------------------
class FourierStack:
    """Running sums of ``|FFT2(I)|`` and ``|FFT2(I)|^2`` over single-band images ``(N, H, W)``."""

    def __init__(self, size: int):
        self.size, self.n = size, 0
        self.amp = np.zeros((size, size))
        self.pow = np.zeros((size, size))

    def add(self, imgs: np.ndarray) -> None:
        f = np.fft.fft2(imgs.astype(np.float64), axes=(-2, -1))
        a = np.abs(f)
        self.amp += a.sum(axis=0)
        self.pow += (a * a).sum(axis=0)
        self.n += len(imgs)

    def mean_amplitude(self) -> np.ndarray:
        """Stacked amplitude map, zero frequency at the centre (``fftshift``)."""
        return np.fft.fftshift(self.amp / max(self.n, 1))

    def mean_power(self) -> np.ndarray:
        return self.pow / max(self.n, 1)


def radial_bins(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin index per frequency pixel (unshifted FFT layout), bin centres ``k`` in cycles/px).

    ``|k| = sqrt(kx^2 + ky^2)`` with ``kx, ky`` from ``fftfreq(size)``; bins of width ``1/size`` centred
    on ``m/size``, ``m = 0 .. floor(size/2)`` (the corners beyond Nyquist, ``|k| > 0.5``, are left out).
    """
    f = np.fft.fftfreq(size)
    k = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    m = np.rint(k * size).astype(np.int64)
    nb = size // 2 + 1
    m[m >= nb] = -1
    return m, np.arange(nb) / size


def radial_power(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal average of a (unshifted) power map: ``(k, P(k))``."""
    m, k = radial_bins(power.shape[-1])
    ok = m >= 0
    s = np.bincount(m[ok], weights=power[ok], minlength=len(k))
    c = np.bincount(m[ok], minlength=len(k))
    return k, s / np.maximum(c, 1)


def hf_power_ratio(p_gen: np.ndarray, p_real: np.ndarray, k: np.ndarray, k_min: float) -> float:
    """High-frequency summary ``H = sum_{k_min <= k <= 0.5} P_gen(k) / sum_{same k} P_real(k)``.

    1 when the noise matches; > 1 too much small-scale power (e.g. extra white noise); < 1 too smooth.
    """
    sel = (k >= k_min - 1e-12) & (k <= 0.5 + 1e-12)
    den = float(p_real[sel].sum())
    return float(p_gen[sel].sum() / den) if den > 0 else float("nan")


# ---- pixels ------------------------------------------------------------------------------------
def mse_per_band(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over objects and pixels of ``(a - b)^2`` per band ``(C,)``, and the count of terms per band."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return (d * d).sum(axis=(0, 2, 3)), d.shape[0] * d.shape[2] * d.shape[3]
