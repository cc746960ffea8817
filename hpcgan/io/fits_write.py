"""Byte-level writing of multi-extension FITS stamps (docs/formats.md), shared by simulate and translate.

A stamp is an empty primary HDU then one float32 image HDU per band. astropy's HDU objects cost
~25 ms per 6-HDU file; here astropy formats every header card once per survey (a
:class:`HeaderTemplate`) and only the few per-stamp cards per stamp, and the file is assembled as
bytes (2880-byte blocks, big-endian float32) -- ~1 ms. The WCS cards are
:func:`hpcgan.io.grid.wcs_cards` (the project's one WCS definition).
"""
from __future__ import annotations

import numpy as np
from astropy.io import fits

from hpcgan.io.grid import wcs_cards

BLOCK = 2880
CARD = 80
Cards = list[tuple[str, object, str]]


class HeaderTemplate:
    """A header as 80-character card images; per-stamp values replace single cards (fast: astropy
    builds every card once per survey, and only the few that change are formatted per stamp)."""

    def __init__(self, cards: Cards):
        self.images = [fits.Card(*c).image for c in cards]
        self.index = {c[0]: i for i, c in enumerate(cards)}

    def render(self, values: dict[str, tuple[object, str]]) -> bytes:
        """The header block with ``values`` (key -> (value, comment)) in place of the template's cards."""
        images = list(self.images)
        for k, (v, comment) in values.items():
            img = fits.Card(k, v, comment).image
            if len(img) != CARD:
                raise ValueError(f"FITS card {k}: value too long for one card: {v!r}")
            images[self.index[k]] = img
        text = "".join(images) + "END".ljust(CARD)
        return pad_block(text.encode("ascii"), b" ")


def pad_block(b: bytes, fill: bytes) -> bytes:
    """``b`` padded with ``fill`` to a whole number of 2880-byte FITS blocks."""
    return b + fill * (-len(b) % BLOCK)


def data_block(plane: np.ndarray) -> bytes:
    """One image HDU's data: big-endian float32, zero-padded to whole blocks."""
    return pad_block(np.ascontiguousarray(plane, dtype=">f4").tobytes(), b"\0")


def primary_cards(survey: str, objid_comment: str, survey_comment: str) -> Cards:
    """The primary HDU's leading cards: no data, ``OBJID``, ``SURVEY``, ``RA``, ``DEC`` (set per stamp)."""
    return [("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", 8, ""), ("NAXIS", 0, ""), ("EXTEND", True, ""),
            ("OBJID", "", objid_comment), ("SURVEY", survey, survey_comment),
            ("RA", 0.0, "[deg] ICRS right ascension of the stamp centre"),
            ("DEC", 0.0, "[deg] ICRS declination of the stamp centre")]


def image_cards(band: str, size: int, pixel_scale: float, bunit: str, survey: str) -> Cards:
    """An image HDU's leading cards: ``size`` x ``size`` float32, ``EXTNAME`` = band, the TAN WCS
    (``CRVAL1``/``CRVAL2`` set per stamp), ``BUNIT``, ``SURVEY``, ``BAND``."""
    return [("XTENSION", "IMAGE", "image extension"), ("BITPIX", -32, "float32"), ("NAXIS", 2, ""),
            ("NAXIS1", size, ""), ("NAXIS2", size, ""), ("PCOUNT", 0, ""), ("GCOUNT", 1, ""),
            ("EXTNAME", band, "band"), *wcs_cards(0.0, 0.0, size, pixel_scale),
            ("BUNIT", bunit, "pixel unit"), ("SURVEY", survey, "survey"), ("BAND", band, "band")]
