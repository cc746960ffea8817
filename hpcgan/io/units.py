"""Pixel units: the input's own calibration (header cards or a declared zero point) -> model units.

Every survey declares its model units in config (``data.<side>.bunit``, ``data.<side>.magzp``: the
AB magnitude of one pixel unit). An input's zero point is taken, in this order, from:

1. a declared zero point (the frame index's ``magzp`` column);
2. a zero-point card: ``MAGZP``, ``PHOTZP``, ``MAGZERO``, ``ZEROPT`` (AB mag of one pixel unit);
3. ``FLUXMAG0`` (pixel value of a magnitude-0 source: zp = 2.5 log10 FLUXMAG0, HSC/LSST) or
   ``FLUX20`` (of a magnitude-20 source: zp = 20 + 2.5 log10 FLUX20, SDSS fpC);
4. ``BUNIT`` naming a flux density unit: nanomaggy (22.5), maggy (0), nJy (31.4), uJy (23.9),
   mJy (16.4), Jy (8.9); or the survey's own declared ``bunit``;
5. ``NMGY`` (SDSS: nanomaggies per count): counts (``BUNIT`` DN/ADU/counts) -> zp = 22.5 - 2.5
   log10 NMGY; without ``BUNIT`` an SDSS ``frame-*`` file, already calibrated: nanomaggies.

Anything else (no card, or counts without a zero point) raises :class:`UnitsError`: the stamp is
quarantined. Pixels scale by ``10 ** (-0.4 * (zp_in - zp_model))``; inverse variances by its square.
"""
from __future__ import annotations

import math
from typing import Mapping

ZP_CARDS = ("MAGZP", "PHOTZP", "MAGZERO", "ZEROPT")
FLUX_UNITS = {"nanomaggy": 22.5, "nanomaggies": 22.5, "nmgy": 22.5, "maggy": 0.0, "maggies": 0.0,
              "njy": 31.4, "nanojansky": 31.4, "ujy": 23.9, "microjy": 23.9, "microjansky": 23.9,
              "mjy": 16.4, "millijy": 16.4, "jy": 8.9, "jansky": 8.9}
COUNTS = {"dn", "dns", "adu", "adus", "count", "counts", "ct", "cts", "electron", "electrons", "e-"}


class UnitsError(ValueError):
    """The input's units cannot be determined; ``str(e)`` says what the header held."""


def _number(h: Mapping, key: str) -> float | None:
    v = h.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def input_zeropoint(header: Mapping, model_bunit: str = "", model_magzp: float = float("nan"),
                    declared: float | None = None) -> tuple[float, str]:
    """(AB zero point of one input pixel unit, where it came from); UnitsError if undeterminable."""
    if declared is not None and math.isfinite(declared):
        return float(declared), "declared magzp"
    for k in ZP_CARDS:
        v = _number(header, k)
        if v is not None:
            return v, k
    v = _number(header, "FLUXMAG0")
    if v is not None and v > 0:
        return 2.5 * math.log10(v), "FLUXMAG0"
    v = _number(header, "FLUX20")
    if v is not None and v > 0:
        return 20.0 + 2.5 * math.log10(v), "FLUX20"
    bunit = str(header.get("BUNIT", "") or "").strip()
    key = bunit.lower().replace(" ", "")
    if key in FLUX_UNITS:
        return FLUX_UNITS[key], f"BUNIT {bunit!r}"
    if bunit and model_bunit and key == model_bunit.lower().replace(" ", "") and math.isfinite(model_magzp):
        return float(model_magzp), f"BUNIT {bunit!r} (the survey's bunit)"
    nmgy = _number(header, "NMGY")
    if nmgy is not None and nmgy > 0:
        if key in COUNTS:
            return 22.5 - 2.5 * math.log10(nmgy), "NMGY (counts)"
        if not bunit:
            return 22.5, "NMGY (SDSS frame: nanomaggies)"
    found = f"BUNIT {bunit!r}" if bunit else "no BUNIT"
    raise UnitsError(f"{found}, no {', '.join(ZP_CARDS)}, FLUXMAG0, FLUX20 or NMGY card")


def to_model_factor(header: Mapping, model_bunit: str, model_magzp: float, declared: float | None = None) -> float:
    """Multiply input pixels by this to get model units (see module docstring)."""
    zp, _ = input_zeropoint(header, model_bunit, model_magzp, declared)
    return 10.0 ** (-0.4 * (zp - model_magzp))
