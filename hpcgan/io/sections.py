"""Pixels read by section: what :func:`hpcgan.io.resample.resample` cuts (``.shape``, ``.read(ys, xs)``),
so an image read on demand (:class:`hpcgan.io.open_fits.RowReader`) costs a stamp, not the file."""
from __future__ import annotations

import numpy as np

from hpcgan.io.fits_read import Hdu


class HduSection:
    """A 2-D image (or one plane of a cube) of an HDU, float32 (:meth:`hpcgan.io.fits_read.Hdu.section`)."""

    def __init__(self, hdu: Hdu, plane: int | None = None):
        self.hdu, self.plane, self.shape = hdu, plane, tuple(hdu.shape[-2:])

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        return self.hdu.section(ys, xs, self.plane)


class IvarSection(HduSection):
    """An ivar or variance HDU as inverse variance (float64, 0 where not positive and finite),
    divided by the unit factor squared (model units)."""

    def __init__(self, hdu: Hdu, plane: int | None, kind: str, factor: float = 1.0):
        super().__init__(hdu, plane)
        self.kind, self.factor = kind, factor

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        w = np.asarray(super().read(ys, xs), np.float64)
        if self.kind == "variance":
            w = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), 0.0)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        return w / self.factor ** 2 if self.factor != 1.0 else w


class BitsSection:
    """A band's mask bits by section (:func:`hpcgan.io.mask_bits.pixel_bits` of its pixels, its ivar and
    its mask HDU, each read by section), as :func:`hpcgan.io.resample.resample_bits` cuts them."""

    def __init__(self, pixels: HduSection, ivar: "IvarSection | None", bad: HduSection | None):
        self.pixels, self.ivar, self.bad, self.shape = pixels, ivar, bad, pixels.shape

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        from hpcgan.io.mask_bits import pixel_bits

        return pixel_bits(self.pixels.read(ys, xs), None if self.ivar is None else self.ivar.read(ys, xs),
                          None if self.bad is None else self.bad.read(ys, xs))

    def masked(self) -> "MaskedSection | HduSection":
        """The pixels, NaN where the mask HDU flags them (the pixels themselves without one)."""
        return self.pixels if self.bad is None else MaskedSection(self.pixels, self.bad)


class MaskedSection:
    """Pixels by section, NaN where a mask HDU's section is non-zero."""

    def __init__(self, pixels: HduSection, bad: HduSection):
        self.pixels, self.bad, self.shape = pixels, bad, pixels.shape

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        px = np.asarray(self.pixels.read(ys, xs), np.float64)
        return np.where(self.bad.read(ys, xs) != 0, np.nan, px)
