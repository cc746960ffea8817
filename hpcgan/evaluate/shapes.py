"""Galaxy sizes and shapes: half-light radius from the curve of growth, ellipticity from second moments.

Both are measured about the stamp centre ``((n-1)/2, (n-1)/2)`` (where the simulation and preprocess
put the galaxy), so a translation and its truth are measured in exactly the same way.
"""
from __future__ import annotations

import numpy as np


def half_light_radius(curves: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Radius where each curve of growth first reaches 0.5 (linear interpolation from ``f(0) = 0``):
    ``(..., R) -> (...)``; NaN where a curve is not finite or never reaches 0.5."""
    c = np.asarray(curves, dtype=np.float64)
    flat = c.reshape(-1, c.shape[-1])
    f = np.concatenate([np.zeros((len(flat), 1)), flat], axis=1)
    r = np.concatenate([[0.0], radii])
    good = np.isfinite(f).all(axis=1) & (f >= 0.5).any(axis=1)
    j = np.argmax(f >= 0.5, axis=1)
    good &= j > 0
    j = np.clip(j, 1, None)
    rows = np.arange(len(f))
    f0, f1 = f[rows, j - 1], f[rows, j]
    out = r[j - 1] + (0.5 - f0) / np.maximum(f1 - f0, 1e-12) * (r[j] - r[j - 1])
    return np.where(good, out, np.nan).reshape(c.shape[:-1])


def ellipticity(imgs: np.ndarray, pixel_scale: float, radius_arcsec: np.ndarray) -> np.ndarray:
    """Second-moment ellipticity ``(e1, e2)`` inside a circle of ``radius_arcsec`` per object and band.

    ``imgs (N, C, n, n)``, ``radius_arcsec (N, C)`` -> ``(N, C, 2)``. With ``Q_ij = sum w I x_i x_j /
    sum w I`` over pixels whose centre lies within the radius (``w = 1``, else 0; ``x`` from the stamp
    centre): ``e1 = (Qxx - Qyy) / (Qxx + Qyy)``, ``e2 = 2 Qxy / (Qxx + Qyy)``. NaN where the radius is
    not finite or the flux or ``Qxx + Qyy`` inside it is not positive.
    """
    a = np.asarray(imgs, dtype=np.float64)
    n = a.shape[-1]
    yy, xx = (np.mgrid[:n, :n] - (n - 1) / 2.0) * pixel_scale
    rad = np.nan_to_num(np.asarray(radius_arcsec, dtype=np.float64), nan=-1.0)
    w = a * (np.hypot(xx, yy) <= rad[..., None, None])
    s = w.sum(axis=(-2, -1))
    qxx, qyy, qxy = ((w * m).sum(axis=(-2, -1)) for m in (xx * xx, yy * yy, xx * yy))
    tr = qxx + qyy
    ok = (s > 0) & (tr > 0) & (rad > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.stack([(qxx - qyy) / tr, 2 * qxy / tr], axis=-1)
    return np.where(ok[..., None], e, np.nan)
