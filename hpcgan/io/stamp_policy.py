"""What preprocess does with a stamp's flagged pixels and its sky, once the stamp is on its model grid.

In order, per stamp (:meth:`StampPolicy.apply`; docs/preprocess.md, "Masks, fill, sky"):

1. *Masked core*: flagged pixels (:mod:`hpcgan.io.mask_bits`, any band) whose centre lies within
   ``preprocess.core_radius_arcsec`` of the object's catalog position quarantine the stamp
   (``MASKED_CORE``: the count and the radius). 0 turns the check off.
2. *Sky* (``preprocess.sky``; :mod:`hpcgan.io.sky`), stamps only (frames are judged whole, with
   ``Background2D``, in :class:`hpcgan.io.frames.FrameReader`): ``check`` quarantines a band whose
   clipped background is more than ``preprocess.sky_max_sigma`` sigma from zero, sigma being the
   larger of the stated sky noise (``SKYSIG``, or the ivar's) and the clipped standard deviation
   (noise-free simulated twins have nothing to measure; a wrong card does not quarantine);
   ``subtract`` subtracts the level; ``none`` does neither. The level is recorded (``sky_level``).
3. *Fill* (``preprocess.fill``): flagged pixels get Gaussian noise of the band's clipped sky
   standard deviation about its sky level (``noise``; 0 after ``subtract``), from a generator
   seeded by the survey and object id (:func:`fill_seed`), so a rerun writes the same bytes; or 0
   (``zero``). They keep their bits, and FILLED.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.grid import centre
from hpcgan.io.sky import check, stamp_sky
from hpcgan.io.stamps import Reject, Stamp


def fill_seed(survey: str, object_id: str) -> int:
    """A 63-bit seed per object: sha256 of ``'fill:{survey}:{object_id}'``."""
    h = hashlib.sha256(f"fill:{survey}:{object_id}".encode()).digest()
    return int.from_bytes(h[:8], "little") & (2**63 - 1)


def core_pixels(shape: tuple[int, int], xy: tuple[float, float], radius_px: float) -> np.ndarray:
    """Boolean (H, W): pixel centres within ``radius_px`` of ``xy`` (0-based x, y)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(xx - xy[0], yy - xy[1]) <= radius_px


def object_xy(grid: str, ra: float, dec: float, size: int, pixel_scale: float) -> tuple[float, float]:
    """The object's 0-based pixel position on its model grid (``grid``: the stored header text, '' =
    centred on it); the grid is north up, east left, and the offsets are arcseconds, so the tangent
    plane is flat enough."""
    c = (size - 1) / 2.0
    if not grid:
        return c, c
    ra0, dec0 = centre(grid)
    dra = ((ra - ra0 + 180.0) % 360.0 - 180.0) * math.cos(math.radians(dec0))
    return c - dra * 3600.0 / pixel_scale, c + (dec - dec0) * 3600.0 / pixel_scale


@dataclass(frozen=True)
class StampPolicy:
    """``preprocess.fill``, ``core_radius_arcsec``, ``sky``, ``sky_max_sigma`` (see module docstring)."""
    fill: str = "noise"
    core_radius_arcsec: float = 1.0
    sky: str = "check"
    sky_max_sigma: float = 5.0

    @classmethod
    def from_config(cls, pc) -> "StampPolicy":
        return cls(pc.fill, pc.core_radius_arcsec, pc.sky, pc.sky_max_sigma)

    def apply(self, st: Stamp, survey: str, object_id: str, ra: float, dec: float, bands: tuple[str, ...],
              pixel_scale: float, where: str = "", stamp_sky_mode: bool = True) -> Stamp:
        """Check, subtract and fill ``st`` in place (see module docstring); Reject on a masked core or
        an unsubtracted sky. ``stamp_sky_mode``: False for cut-outs of frames (their sky was judged
        with the frame)."""
        image = st.image
        nb, n = image.shape[0], image.shape[-1]
        mask = st.mask if st.mask is not None else np.zeros(image.shape, np.uint8)
        flagged = mask != 0
        if self.core_radius_arcsec > 0 and flagged.any():
            core = core_pixels((n, n), object_xy(st.wcs, ra, dec, n, pixel_scale), self.core_radius_arcsec / pixel_scale)
            hits = np.count_nonzero(flagged & core[None], axis=(1, 2))
            if hits.any():
                raise Reject(R.MASKED_CORE.format(n=int(hits.sum()), radius=self.core_radius_arcsec,
                                                  bands=",".join(b for b, h in zip(bands, hits) if h)), where)
        judge = stamp_sky_mode and self.sky != "none"
        if not judge and not (flagged.any() and self.fill == "noise"):
            st.mask = mask
            return st
        level, sigma = stamp_sky(image, mask)
        if judge:
            stated = np.asarray(st.meta.get("sky_sigma", np.full(nb, np.nan)), np.float64)
            ref = np.fmax(np.where(stated > 0, stated, np.nan), sigma)  # the larger known one
            if self.sky == "check":
                for k in range(nb):
                    reason = check(float(level[k]), float(ref[k]), self.sky_max_sigma, bands[k])
                    if reason:
                        raise Reject(reason, where)
            else:  # subtract
                ok = np.isfinite(level)
                image -= np.where(ok, level, 0.0).astype(np.float32)[:, None, None]
                level = np.where(ok, level, np.nan)
            st.sky_level = level.astype(np.float32)
        if flagged.any():
            rng = np.random.default_rng(fill_seed(survey, object_id))
            base = np.zeros(nb) if (judge and self.sky == "subtract") else np.nan_to_num(level)
            for k in range(nb):
                m = flagged[k]
                cnt = int(np.count_nonzero(m))
                if not cnt:
                    continue
                s = float(sigma[k]) if math.isfinite(sigma[k]) else 0.0
                if self.fill == "noise":
                    image[k][m] = (base[k] + s * rng.standard_normal(cnt)).astype(np.float32)
                else:
                    image[k][m] = 0.0
        st.mask = mask
        return st
