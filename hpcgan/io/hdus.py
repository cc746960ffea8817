"""What an image HDU holds, told by its ``EXTNAME`` or ``IMAGETYP`` card, never by its position alone.

Frames (:mod:`hpcgan.io.frames`) and pre-cut stamps (:mod:`hpcgan.io.stamps`) both use these names;
an explicit HDU (frame index column, ``preprocess.image_hdu``/``ivar_hdu``) overrides them.
"""
from __future__ import annotations

IMAGE_NAMES = ("SCI", "SCIENCE", "IMAGE", "IMG", "OBJECT", "FLUX")
IVAR_NAMES = ("IVAR", "INVVAR", "WHT", "WEIGHT")
VAR_NAMES = ("VAR", "VARIANCE")
MASK_NAMES = ("MASK", "BPM", "BADPIX")
WEIGHT_NAMES = IVAR_NAMES + VAR_NAMES + MASK_NAMES


def role_names(extname: str, imagetyp: object) -> set[str]:
    """The upper-case names an HDU answers to (its EXTNAME and IMAGETYP)."""
    return {str(extname or "").strip().upper(), str(imagetyp or "").strip().upper()} - {""}


def is_role(extname: str, imagetyp: object, names: tuple[str, ...]) -> bool:
    return bool(role_names(extname, imagetyp) & set(names))
