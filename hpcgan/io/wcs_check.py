"""WCS sanity: a WCS that cannot map pixels to sky is refused, and a catalog position must lie on its stamp.

Checked on the header cards themselves, before astropy/wcslib sees them (wcslib quietly replaces an
all-zero CD matrix by the unit matrix, 1 deg/px, and keeps an impossible CRVAL2):

- the linear matrix (``CDi_j``; else ``PCi_j`` x ``CDELTi``; else ``CDELTi``) of the two celestial
  axes must be numbers, finite and non-singular;
- the latitude of the reference point (``CRVAL2``) must be within +-90 deg;
- the pixel scale (the square root of the matrix's determinant, deg -> arcsec) must lie within
  ``preprocess.wcs_scale_min_arcsec`` .. ``wcs_scale_max_arcsec`` (default 0.01"-10"/px: from HST
  to WISE/GALEX, every survey's).

:func:`footprint_problem`: the catalog's (ra, dec) must fall inside a stamp's footprint, within
``preprocess.position_tol_arcsec``; the reason gives both positions and their separation.
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np

from hpcgan.io import reasons as R


def _num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _matrix(cards: Mapping) -> np.ndarray | str:
    """The 2x2 linear matrix (deg/px) of axes 1-2 from the cards, or a problem naming the bad card."""
    def card(key: str, default: float) -> float | str:
        if key not in cards or cards[key] is None:
            return default
        v = _num(cards[key])
        return f"{key} = {cards[key]!r} is not a number" if v is None else v

    keys = [f"{p}{i}_{j}" for p in ("CD", "PC") for i in (1, 2) for j in (1, 2)]
    if any(f"CD{i}_{j}" in cards for i in (1, 2) for j in (1, 2)):
        vals = [card(f"CD{i}_{j}", 0.0) for i in (1, 2) for j in (1, 2)]
        name = "CD"
    else:
        pc = [card(f"PC{i}_{j}", 1.0 if i == j else 0.0) for i in (1, 2) for j in (1, 2)]
        cdelt = [card(f"CDELT{i}", 1.0) for i in (1, 2)]
        bad = [v for v in pc + cdelt if isinstance(v, str)]
        if bad:
            return bad[0]
        if "CROTA2" in cards and not any(k in cards for k in keys[4:]):
            rot = math.radians(_num(cards["CROTA2"]) or 0.0)
            pc = [math.cos(rot), -math.sin(rot), math.sin(rot), math.cos(rot)]
        vals = [pc[0] * cdelt[0], pc[1] * cdelt[0], pc[2] * cdelt[1], pc[3] * cdelt[1]]
        name = "PC x CDELT"
    bad = [v for v in vals if isinstance(v, str)]
    if bad:
        return bad[0]
    m = np.array(vals, float).reshape(2, 2)
    if not np.all(np.isfinite(m)):
        return f"non-finite {name} matrix {m.ravel().tolist()}"
    return m


def wcs_problem(cards: Mapping, scale_min: float, scale_max: float) -> str | None:
    """Why the celestial WCS in ``cards`` cannot map pixels to sky, or None (module docstring).
    Cards without ``CTYPE1``/``CTYPE2`` have no WCS to check (None)."""
    if "CTYPE1" not in cards and "CTYPE2" not in cards:
        return None
    m = _matrix(cards)
    if isinstance(m, str):
        return m
    det = float(np.linalg.det(m))
    if det == 0.0 or not np.isfinite(det):
        return f"singular {'CD' if 'CD1_1' in cards or 'CD2_2' in cards else 'PC x CDELT'} matrix " \
               f"{m.ravel().tolist()} (determinant 0)"
    lat = _num(cards.get("CRVAL2", 0.0))
    if lat is None or not math.isfinite(lat) or abs(lat) > 90.0:
        return f"CRVAL2 = {cards.get('CRVAL2')!r}: not a latitude (|Dec| <= 90 deg)"
    scale = math.sqrt(abs(det)) * 3600.0
    if not scale_min <= scale <= scale_max:
        return (f"pixel scale {scale:.4g} arcsec/px outside {scale_min:g}..{scale_max:g} "
                f"(preprocess.wcs_scale_min_arcsec/wcs_scale_max_arcsec)")
    return None


def show_angle(deg: float) -> str:
    """An angle as people read it: ``340.0 deg``, ``12.5 arcmin``, ``3.2 arcsec``."""
    if deg >= 1.0:
        return f"{deg:.1f} deg"
    if deg >= 1.0 / 60:
        return f"{deg * 60:.1f} arcmin"
    return f"{deg * 3600:.1f} arcsec"


def separation(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Angular distance in degrees (astropy's Vincenty formula)."""
    from astropy.coordinates import angular_separation

    return math.degrees(float(angular_separation(*(math.radians(v) for v in (*a, *b)))))


def tangent_offset(ra: float, dec: float, ra0: float, dec0: float) -> tuple[float, float] | None:
    """Gnomonic (TAN) offset of (ra, dec) from the tangent point (ra0, dec0), arcsec (east, north);
    None on the far hemisphere. ~2 us: the model-grid check without building a WCS."""
    d, d0, da = math.radians(dec), math.radians(dec0), math.radians(ra - ra0)
    cosc = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * math.cos(da)
    if cosc <= 0:
        return None
    x = math.cos(d) * math.sin(da) / cosc
    y = (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(da)) / cosc
    return math.degrees(x) * 3600.0, math.degrees(y) * 3600.0


def footprint_problem(ra: float, dec: float, band: str, tol_arcsec: float, *, grid: tuple[float, float, int, float]
                      | None = None, wcs=None, shape: tuple[int, int] | None = None) -> str | None:
    """The OUTSIDE_FOOTPRINT reason when (ra, dec) is not on the stamp, else None.

    The stamp is either a model grid ``(ra0, dec0, size, pixel_scale)`` (north-up TAN) or an astropy
    ``wcs`` with the pixel ``shape`` (ny, nx).
    """
    if grid is not None:
        ra0, dec0, n, scale = grid
        off = tangent_offset(ra, dec, ra0, dec0)
        half = n * scale / 2.0 + tol_arcsec
        if off is not None and abs(off[0]) <= half and abs(off[1]) <= half:
            return None
        centre = (ra0, dec0)
    else:
        from hpcgan.io.resample import pixel_scale

        ny, nx = shape
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x, y = (float(v) for v in wcs.world_to_pixel_values(ra, dec))
        except Exception:  # wcslib refuses a point it cannot project (far side): not on the stamp
            x = y = math.nan
        tol = tol_arcsec / pixel_scale(wcs)
        if math.isfinite(x) and math.isfinite(y) and -0.5 - tol <= x <= nx - 0.5 + tol and -0.5 - tol <= y <= ny - 0.5 + tol:
            return None
        centre = tuple(float(v) for v in wcs.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2))
    return R.OUTSIDE_FOOTPRINT.format(ra=ra, dec=dec, band=repr(band), cra=centre[0], cdec=centre[1],
                                      sep=show_angle(separation((ra, dec), centre)), tol=tol_arcsec)
