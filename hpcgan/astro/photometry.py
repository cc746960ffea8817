"""Aperture photometry at the stamp centre with photutils, and robust ratio statistics.

Apertures are photutils ``CircularAperture`` at ``((n-1)/2, (n-1)/2)`` (0-based pixel centres) with the
exact pixel-overlap weights of ``aperture_photometry(..., method="exact")``; the weights of a geometry
are built once and applied to a whole stack as one matrix product, so a batch costs one ``einsum``.

    f = aperture_fluxes(imgs, 0.187, [1.5, 3.0])          # (N, C, 2) in the images' units
    bias_nmad(f[:, 2, 1], f_truth[:, 2, 1])               # {"bias": ..., "nmad": ..., "n": ...}
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

MAD_TO_SIGMA = 1.4826  # 1.4826 * median absolute deviation = sigma for a Gaussian


@lru_cache(maxsize=16)
def aperture_weights(size: int, pixel_scale: float, radii: tuple[float, ...]) -> np.ndarray:
    """Exact overlap of each circle (radius in arcsec) with each pixel of a ``size`` x ``size`` stamp:
    ``(R, size * size)`` float64."""
    from photutils.aperture import CircularAperture

    c = (size - 1) / 2.0
    return np.stack([CircularAperture((c, c), r=r / pixel_scale).to_mask(method="exact").to_image((size, size))
                     .ravel() for r in radii])


def aperture_fluxes(imgs: np.ndarray, pixel_scale: float, radii_arcsec: Sequence[float]) -> np.ndarray:
    """Flux within circles of ``radii_arcsec`` around the stamp centre: ``(N, C, H, W)`` or ``(N, H, W)``
    -> ``(N, C, R)`` (``C = 1`` for the 3-D form), float64, in the images' units. Parts of a circle
    beyond the stamp edge contribute nothing."""
    a = np.asarray(imgs)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"imgs: expected (N, C, n, n) or (N, n, n), got shape {np.shape(imgs)}")
    w = aperture_weights(a.shape[-1], float(pixel_scale), tuple(float(r) for r in radii_arcsec))
    return np.einsum("ncp,rp->ncr", a.reshape(*a.shape[:2], -1).astype(np.float64), w)


def nmad(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """``1.4826 median |v - median v|`` along ``axis`` (sigma for Gaussian scatter, robust to outliers)."""
    return MAD_TO_SIGMA * np.median(np.abs(v - np.median(v, axis=axis, keepdims=True)), axis=axis)


def median_error(spread: float, n: int) -> float:
    """The standard error of a median of ``n`` values whose core scatters by ``spread`` (an NMAD):
    sqrt(pi/2) spread / sqrt(n) (a Gaussian core's asymptotic value). A bias smaller than about twice this
    is not measured."""
    return float(np.sqrt(np.pi / 2) * spread / np.sqrt(n)) if n > 0 else float("nan")


def bias_nmad(num: np.ndarray, den: np.ndarray, independent: int | None = None) -> dict:
    """Robust statistics of ``r = num / den`` over objects with finite values and ``den > 0``:
    ``bias = median(r) - 1``, ``nmad = 1.4826 median |r - median r|``, ``bias_err`` the bias's standard
    error (:func:`median_error`; over at most ``independent`` values: several noise realisations of one
    object are not independent), ``n`` values used."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
    if not ok.any():
        return {"bias": float("nan"), "nmad": float("nan"), "bias_err": float("nan"), "n": 0}
    r = num[ok] / den[ok]
    spread, n = float(nmad(r)), int(ok.sum())
    return {"bias": float(np.median(r)) - 1.0, "nmad": spread, "bias_err": median_error(spread, min(n, independent or n)),
            "n": n}


def nmad_difference(num_a: np.ndarray, num_b: np.ndarray, den: np.ndarray, n_boot: int = 2000,
                    seed: int = 0, groups: np.ndarray | None = None) -> dict:
    """Is set ``a``'s scatter below set ``b``'s? A paired bootstrap over the objects both score of
    ``NMAD(num_a / den) - NMAD(num_b / den)`` (:func:`bias_nmad`'s NMAD): ``delta`` on all objects, ``lo`` /
    ``hi`` the 16th / 84th percentiles of ``n_boot`` resamples (a 68% interval), ``p_below`` the share of
    resamples where ``a``'s NMAD is the lower, ``n`` objects. With 80 objects an NMAD is uncertain by ~9%
    of itself, so a difference of that size is noise. ``groups`` (one label per value, e.g. the object of
    each noise realisation): the bootstrap resamples whole groups, so the realisations of an object stay
    together (an object missing a value in some realisation is left out of the resamples)."""
    a, b, d = (np.asarray(v, dtype=np.float64) for v in (num_a, num_b, den))
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(d) & (d > 0)
    if ok.sum() < 2:
        return {"delta": float("nan"), "lo": float("nan"), "hi": float("nan"), "p_below": float("nan"), "n": int(ok.sum())}
    ra, rb = a[ok] / d[ok], b[ok] / d[ok]
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, ra.size, (n_boot, ra.size))
        boot = nmad(ra[idx]) - nmad(rb[idx])
    else:  # (G, m) blocks of the groups' values; a resample takes whole blocks
        g = np.asarray(groups)[ok]
        labels, counts = np.unique(g, return_counts=True)
        whole = np.isin(g, labels[counts == counts.max()])  # an object missing a value in some draw: left out
        order = np.argsort(g[whole], kind="stable")
        blocks = int((counts == counts.max()).sum())
        ga, gb = ra[whole][order].reshape(blocks, -1), rb[whole][order].reshape(blocks, -1)
        boot = np.empty(n_boot)
        for j in range(0, n_boot, 100):  # in slices: (100, G, m) at a time
            idx = rng.integers(0, blocks, (min(100, n_boot - j), blocks))
            boot[j:j + len(idx)] = nmad(ga[idx].reshape(len(idx), -1)) - nmad(gb[idx].reshape(len(idx), -1))
    lo, hi = np.percentile(boot, [16, 84])
    return {"delta": float(nmad(ra) - nmad(rb)), "lo": float(lo), "hi": float(hi),
            "p_below": float((boot < 0).mean()), "n": int(ok.sum())}


def diff_stats(x: np.ndarray, ref: np.ndarray, independent: int | None = None) -> dict:
    """Robust statistics of ``d = x - ref`` over finite pairs: ``median``, ``nmad`` (as in
    :func:`bias_nmad`), ``median_err`` (:func:`median_error`, over at most ``independent`` values), ``n``."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not d.size:
        return {"median": float("nan"), "nmad": float("nan"), "median_err": float("nan"), "n": 0}
    spread = float(nmad(d))
    return {"median": float(np.median(d)), "nmad": spread,
            "median_err": median_error(spread, min(d.size, independent or d.size)), "n": int(d.size)}


def curve_of_growth(imgs: np.ndarray, pixel_scale: float, radii: np.ndarray) -> np.ndarray:
    """Fraction of the flux within ``radii[-1]`` that lies within each radius: ``(N, C, H, W) -> (N, C, R)``
    (``(N, H, W) -> (N, 1, R)``). Objects whose flux within ``radii[-1]`` is not positive get NaN."""
    f = aperture_fluxes(imgs, pixel_scale, radii)
    total = f[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, f / np.where(total > 0, total, 1.0), np.nan)


def colour_stats(flux: np.ndarray, flux_truth: np.ndarray, independent: int | None = None) -> dict:
    """Colour ``-2.5 log10(f_a / f_b)`` of ``flux`` (N, 2) against ``flux_truth`` (N, 2): :func:`diff_stats`
    in magnitudes over the objects whose four fluxes are positive."""
    f, t = np.asarray(flux, dtype=np.float64), np.asarray(flux_truth, dtype=np.float64)
    ok = (f > 0).all(axis=1) & (t > 0).all(axis=1)
    c = -2.5 * np.log10(f[ok, 0] / f[ok, 1])
    ct = -2.5 * np.log10(t[ok, 0] / t[ok, 1])
    return diff_stats(c, ct, independent)
