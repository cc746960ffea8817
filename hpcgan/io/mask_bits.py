"""The per-pixel mask: one uint8 per pixel and band, the bits defined once (docs/formats.md, "Mask bits").

    OUTSIDE    1  the model pixel is not covered by the input (stamp edge, frame edge, coverage gap)
    MASKED     2  an input pixel under it is masked: a mask HDU non-zero, or ivar <= 0 (variance <= 0)
    NONFINITE  4  an input pixel under it is NaN/Inf (or the resampled value is not finite for another reason)
    FILLED     8  the pixel's value was invented (``preprocess.fill``): set on every flagged pixel

A pixel is *valid* when its mask is 0. Shards store it as the ``mask`` dataset (N, C, H, W), translated
FITS as the ``MASK`` HDU; training losses, validation and evaluate leave flagged pixels out.

Propagation onto another grid: a target pixel gets a bit when any source pixel under it has it (each
bit plane resampled with the same footprint as the pixels, threshold > 0):
:func:`hpcgan.io.resample.resample_bits` for any WCS, :func:`regrid` for two concentric north-up
grids of different pixel scale (translate).
"""
from __future__ import annotations

import numpy as np

OUTSIDE, MASKED, NONFINITE, FILLED = 1, 2, 4, 8
BITS = {"OUTSIDE": OUTSIDE, "MASKED": MASKED, "NONFINITE": NONFINITE, "FILLED": FILLED}


def empty(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, np.uint8)


def pixel_bits(image: np.ndarray, ivar: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """Bits of input pixels on their own grid: NONFINITE where ``image`` is not finite, MASKED where
    ``mask`` is non-zero or ``ivar <= 0`` (or not finite)."""
    bits = np.where(np.isfinite(image), 0, NONFINITE).astype(np.uint8)
    bad = None
    if ivar is not None:
        bad = ~(np.asarray(ivar) > 0)
    if mask is not None:
        bad = (np.asarray(mask) != 0) if bad is None else bad | (np.asarray(mask) != 0)
    if bad is not None:
        bits[bad] |= MASKED
    return bits


def complete(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``mask`` (C, H, W) with NONFINITE on any non-finite pixel of ``image`` that no bit explains,
    and FILLED on every flagged pixel (those are the ones the fill replaces); in place."""
    unexplained = ~np.isfinite(image) & (mask == 0)
    mask[unexplained] |= NONFINITE
    mask[mask != 0] |= FILLED
    return mask


def valid(mask: np.ndarray) -> np.ndarray:
    """True where no bit is set."""
    return np.asarray(mask) == 0


def counts(mask: np.ndarray) -> dict[str, int]:
    """Pixels per bit name (a pixel may count under several)."""
    m = np.asarray(mask)
    return {name: int(np.count_nonzero(m & b)) for name, b in BITS.items()}


def _overlap(n_src: int, s_src: float, n_dst: int, s_dst: float) -> np.ndarray:
    """(n_dst, n_src) overlap lengths (in destination pixels) of concentric 1-D pixel grids."""
    e_src = (np.arange(n_src + 1) - n_src / 2) * s_src
    e_dst = (np.arange(n_dst + 1) - n_dst / 2) * s_dst
    lo = np.maximum(e_dst[:-1, None], e_src[None, :-1])
    hi = np.minimum(e_dst[1:, None], e_src[None, 1:])
    return np.clip(hi - lo, 0, None) / s_dst


def regrid(mask: np.ndarray, src_scale: float, dst_size: int, dst_scale: float,
           min_cover: float = 0.5) -> np.ndarray:
    """Bits of (..., h, w) ``mask`` on a concentric grid of ``dst_size`` pixels at ``dst_scale``
    (same orientation): a target pixel gets each bit that any source pixel overlapping it has (exact
    1-D overlaps, threshold > 0), and OUTSIDE where less than ``min_cover`` of it lies on the source
    grid (a translated stamp is a fraction of a pixel wider than its input: its rim is not flagged)."""
    m = np.asarray(mask)
    h, w = m.shape[-2:]
    ay, ax = _overlap(h, src_scale, dst_size, dst_scale), _overlap(w, src_scale, dst_size, dst_scale)
    out = np.zeros((*m.shape[:-2], dst_size, dst_size), np.uint8)
    cover = ay.sum(axis=1)[:, None] * ax.sum(axis=1)[None, :]
    out[..., cover < min_cover] |= OUTSIDE
    for b in (OUTSIDE, MASKED, NONFINITE, FILLED):
        plane = (m & b) != 0
        if not plane.any():
            continue
        hit = np.einsum("ij,...jk,lk->...il", ay, plane.astype(np.float64), ax) > 1e-9
        out[hit] |= b
    return out
