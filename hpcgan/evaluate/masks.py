"""Masked pixels in evaluate: which pixels every score leaves out, and how many there were.

Each set's stamps carry their mask bits (:mod:`hpcgan.io.mask_bits`; the shards' ``mask`` dataset:
the translation's is the input's propagated onto the target grid, the real and truth stamps' their
own; shards without one count as all valid). An object's pixel is left out of every set's scores
when any set flags it (the *union*), so the sets are compared on the same pixels: an aperture that
overlaps a flagged pixel gives no flux (the object drops out of that aperture's bias/NMAD), and
flagged pixels are left out of the total flux, the background sample and the MSE.
``metrics.json``'s ``masked`` block: flagged pixels per set and band, objects with any flagged pixel
per band (in the union), and the union's pixel count.
"""
from __future__ import annotations

import numpy as np


def read_mask(source, idx: np.ndarray) -> np.ndarray:
    """Mask bits of the stamps at any (unsorted) indices, in the given order."""
    uniq, inv = np.unique(idx, return_inverse=True)
    return source.read_mask(uniq)[inv]


def valid_pixels(masks: dict[str, np.ndarray]) -> np.ndarray:
    """The pixels no set flags: ``{name: (B, C, n, n) uint8}`` -> (B, C, n, n) bool."""
    return ~np.logical_or.reduce([m != 0 for m in masks.values()])


class MaskCounts:
    """Running counts of flagged pixels per set and band, and of the union."""

    def __init__(self, names: list[str], bands: list[str]):
        self.bands = bands
        self.pixels = {n: np.zeros(len(bands), np.int64) for n in names}
        self.union_pixels = np.zeros(len(bands), np.int64)
        self.objects = np.zeros(len(bands), np.int64)

    def add(self, masks: dict[str, np.ndarray]) -> np.ndarray:
        """One batch ``{name: (B, C, n, n) uint8}``; returns the union's valid pixels (B, C, n, n) bool."""
        for name, m in masks.items():
            self.pixels[name] += np.count_nonzero(m != 0, axis=(0, 2, 3))
        valid = valid_pixels(masks)
        self.union_pixels += np.count_nonzero(~valid, axis=(0, 2, 3))
        self.objects += np.count_nonzero((~valid).any(axis=(2, 3)), axis=0)
        return valid

    def result(self) -> dict:
        return {"pixels": {n: dict(zip(self.bands, v.tolist())) for n, v in self.pixels.items()},
                "union_pixels": dict(zip(self.bands, self.union_pixels.tolist())),
                "objects": dict(zip(self.bands, self.objects.tolist())),
                "note": "flagged pixels (any set) are left out of apertures, total flux, background and MSE"}
