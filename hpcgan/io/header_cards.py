"""An image HDU's cards with the primary header's behind them (the FITS ``INHERIT`` convention).

DECam/Legacy Survey, HSC and many other multi-extension files keep ``BUNIT``, ``MAGZERO``/``MAGZP``,
``EXPTIME``, ``GAIN``... in HDU 0 and the pixels in HDU 1. A card is looked up in the image
extension first, then in the primary header, unless the extension says ``INHERIT = F``. Structural
and WCS cards are never inherited (a WCS describes its own HDU's pixels). Reasons about missing
cards name the HDUs searched (:func:`searched`).
"""
from __future__ import annotations

import re
from typing import Mapping

_OWN = re.compile(r"(SIMPLE|XTENSION|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT|GROUPS|EXTNAME|EXTVER|INHERIT|BSCALE|BZERO|"
                  r"BLANK|CHECKSUM|DATASUM|Z[A-Z0-9_]*|WCSAXES|CTYPE\d|CRVAL\d|CRPIX\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|"
                  r"PC\d_\d|PV\d_\d+|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|(A|B|AP|BP)_(ORDER|\d+_\d+)|COMMENT|HISTORY|)$")


def inherit(cards: Mapping, primary: Mapping | None, index: int) -> dict:
    """The cards of image HDU ``index``, plus the primary header's cards it lacks (not structural or
    WCS cards; none when ``index`` is 0 or the extension has ``INHERIT = F``)."""
    out = dict(cards)
    if index == 0 or primary is None or cards.get("INHERIT") is False:
        return out
    for k, v in primary.items():
        if k not in out and not _OWN.match(str(k)):
            out[k] = v
    return out


def searched(index: int, cards: Mapping | None = None) -> str:
    """The HDUs a card was looked for in: ``HDU 1, then the primary HDU 0`` or ``HDU 0``."""
    if index == 0:
        return "HDU 0"
    if cards is not None and cards.get("INHERIT") is False:
        return f"HDU {index} (INHERIT = F)"
    return f"HDU {index}, then the primary HDU 0"
