"""Stamps for the models: in-memory arrays or the preprocess stage's per-rank HDF5 shards, and their
pixels in model space.

A *source* is one survey/split seen as a single indexable sequence of stamps ``(N, 5, H, W)``
(float32, axis order band, y, x): :class:`ArraySource` (in memory) or
:class:`~hpcgan.io.shards.ShardSource` (the shards; the format and its reader are
:mod:`hpcgan.io.shards`, re-exported here with :func:`open_source`).

Masks: ``read_mask`` reads the per-pixel bits (:mod:`hpcgan.io.mask_bits`) of the same stamps; shards
written before the ``mask`` dataset existed (format version 1) and in-memory arrays read as all valid
(0). ``has_mask`` says whether any shard has one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from hpcgan.astro.transforms import from_model_space, to_model_space
from hpcgan.io.shards import ShardSource, open_source

__all__ = ["ArraySource", "ShardSource", "open_source", "rank_range", "seeing", "stamps_to_model",
           "stamps_to_survey_units"]


def rank_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """The contiguous, balanced part ``[lo, hi)`` of ``n`` items that ``rank`` of ``size`` owns.

    Parts differ in length by at most one; they are disjoint and cover ``0..n``.
    """
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} not in 0..{size - 1}")
    return n * rank // size, n * (rank + 1) // size


class ArraySource:
    """Stamps held in memory: ``images`` ``(N, C, H, W)`` in survey pixel units (or already scaled)."""

    def __init__(self, images: np.ndarray, object_ids: Sequence[str] | None = None,
                 flux_scale_applied: float = 1.0, transform_applied: str = "none"):
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(f"images: expected (N, C, H, W), got shape {images.shape}")
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self._ids = None if object_ids is None else np.asarray(object_ids).astype(str)
        if self._ids is not None and len(self._ids) != len(self.images):
            raise ValueError(f"object_ids: {len(self._ids)} ids for {len(self.images)} images")
        self.flux_scale_applied = float(flux_scale_applied)
        self.transform_applied = transform_applied

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def object_ids(self) -> np.ndarray | None:
        return self._ids

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Stamps at sorted, unique global indices ``idx``."""
        return self.images[idx]

    has_mask = False

    def read_mask(self, idx: np.ndarray) -> np.ndarray:
        """Mask bits of the stamps at ``idx``: all 0 (in-memory stamps carry no mask)."""
        return np.zeros((len(idx), *self.images.shape[1:]), np.uint8)


def seeing(source: "ArraySource | ShardSource") -> np.ndarray:
    """(N, C) float32: each stamp's PSF FWHM per band in arcsec (shards' ``psf_fwhm``), NaN where unknown
    (in-memory arrays, shards written before the column existed)."""
    n, c = len(source), source.shape[0]
    got = None
    if isinstance(source, ShardSource):
        try:
            got = source.column("psf_fwhm")
        except KeyError:
            pass
    return np.full((n, c), np.nan, np.float32) if got is None else np.asarray(got, np.float32).reshape(n, c)


def stamps_to_model(raw: np.ndarray, source, flux_scale: float, transform: str) -> torch.Tensor:
    """Stored stamps -> model space, honouring what preprocess already applied at write time."""
    t = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))
    if source.transform_applied != "none":
        if source.transform_applied != transform or abs(source.flux_scale_applied - flux_scale) > 1e-12 * abs(flux_scale):
            raise ValueError(f"shards hold {source.transform_applied!r}-transformed pixels scaled by "
                             f"{source.flux_scale_applied}; config asks {transform!r} with flux_scale {flux_scale}")
        return t
    return to_model_space(t, flux_scale / source.flux_scale_applied, transform)


def stamps_to_survey_units(raw: np.ndarray, source) -> np.ndarray:
    """Stored shard pixels -> survey units (undoes what preprocess applied at write time, if anything)."""
    if source.transform_applied == "none" and source.flux_scale_applied == 1.0:
        return raw
    return np.asarray(from_model_space(raw.astype(np.float64), source.flux_scale_applied, source.transform_applied),
                      dtype=np.float32)
