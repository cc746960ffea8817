"""The model grid of a survey: ``stamp_size`` pixels at ``pixel_scale``, north-up TAN centred on (ra, dec).

The one WCS definition of the project: simulated stamps, cut-outs from frames, resampled stamps,
shards (their ``wcs`` dataset) and translated FITS all use :func:`wcs_cards`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS


def wcs_cards(ra: float, dec: float, size: int, pixel_scale: float) -> list[tuple[str, object, str]]:
    """TAN WCS cards: CRVAL = (ra, dec), CRPIX = stamp centre ((n+1)/2, 1-based), CD from the pixel
    scale, north up, east left (CD1_1 < 0)."""
    c = (size + 1) / 2.0
    s = pixel_scale / 3600.0
    return [("WCSAXES", 2, "number of WCS axes"), ("CTYPE1", "RA---TAN", "gnomonic projection"),
            ("CTYPE2", "DEC--TAN", "gnomonic projection"), ("CUNIT1", "deg", ""), ("CUNIT2", "deg", ""),
            ("CRVAL1", float(ra), "[deg] RA of the reference pixel"),
            ("CRVAL2", float(dec), "[deg] Dec of the reference pixel"),
            ("CRPIX1", c, "reference pixel (1-based): stamp centre"), ("CRPIX2", c, "reference pixel (1-based)"),
            ("CD1_1", -s, "[deg/px] east left"), ("CD1_2", 0.0, "[deg/px]"), ("CD2_1", 0.0, "[deg/px]"),
            ("CD2_2", s, "[deg/px] north up"), ("LONPOLE", 180.0, "[deg]"), ("RADESYS", "ICRS", "")]


def grid_header(ra: float, dec: float, size: int, pixel_scale: float) -> fits.Header:
    return fits.Header(wcs_cards(ra, dec, size, pixel_scale))


def grid_wcs(ra: float, dec: float, size: int, pixel_scale: float) -> WCS:
    """The model grid as an astropy WCS (built from the same cards that go into files and shards)."""
    return WCS(grid_header(ra, dec, size, pixel_scale))


@lru_cache(maxsize=16)
def _card_images(size: int, pixel_scale: float) -> tuple[str, ...]:
    return tuple(fits.Card(*c).image for c in wcs_cards(0.0, 0.0, size, pixel_scale))


def grid_text(ra: float, dec: float, size: int, pixel_scale: float) -> str:
    """The model grid's header as FITS card text (what a shard's ``wcs`` dataset stores per stamp);
    only the two CRVAL cards are formatted per call (~20 us)."""
    images = list(_card_images(size, pixel_scale))
    for i in (5, 6):
        key, value, comment = wcs_cards(ra, dec, size, pixel_scale)[i]
        images[i] = fits.Card(key, value, comment).image
    return "".join(images) + "END".ljust(80)


def centre(header_text: str) -> tuple[float, float]:
    """(ra, dec) of a stored model-grid header's reference pixel (the stamp centre)."""
    h = fits.Header.fromstring(header_text)
    return float(h["CRVAL1"]), float(h["CRVAL2"])


def on_grid(wcs: WCS, shape: tuple[int, int], ra: float, dec: float, size: int, pixel_scale: float,
            tol_px: float = 0.01) -> bool:
    """True when an image of ``shape`` with ``wcs`` is the model grid at (ra, dec) to ``tol_px``: same
    shape, its corners and centre within ``tol_px`` model pixels of the grid's."""
    if tuple(shape) != (size, size):
        return False
    model = grid_wcs(ra, dec, size, pixel_scale)
    px = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1], [(size - 1) / 2] * 2], float)
    back = np.column_stack(model.world_to_pixel(wcs.pixel_to_world(px[:, 0], px[:, 1])))
    return bool(np.all(np.abs(back - px) <= tol_px))
