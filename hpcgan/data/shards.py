"""Reading stamps: from in-memory arrays or from the preprocess stage's per-rank HDF5 shards.

A *source* is one survey/split seen as a single indexable sequence of stamps ``(N, 5, H, W)``
(float32, axis order band, y, x): the shards ``part-0-of-R.h5 ... part-(R-1)-of-R.h5`` concatenated
in rank order, which is the catalog order for paired splits in both surveys (docs/formats.md).

HDF5 notes (pytorch #11929, h5py #1101, #712):
- files are opened lazily, on first read, in the process that reads (so DataLoader workers forked
  after construction each open their own handle; a handle is never pickled);
- read-only opens pass ``locking=False`` (same effect as ``HDF5_USE_FILE_LOCKING=FALSE``: Lustre/NFS
  mounts without lock support otherwise fail with "unable to lock file"). Open the same files with
  ``locking=False`` too, or call ``close()`` first: HDF5 refuses a second open of a file with other
  locking flags in one process ("file locking flag values don't match");
- a batch is read with one sorted fancy-index read per shard touched, and the chunk cache is sized
  to a few stamps (one stamp per chunk, see docs/preprocess.md).

Masks: :meth:`ShardSource.read_mask` reads the per-pixel bits (:mod:`hpcgan.io.mask_bits`, the
shards' ``mask`` dataset) of the same stamps; shards written before the dataset existed (format
version 1) and in-memory arrays read as all valid (0). ``has_mask`` says whether any shard has one.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hpcgan.astro.transforms import from_model_space, to_model_space

_PART = re.compile(r"part-(\d+)-of-(\d+)\.h5$")


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


@dataclass
class ShardInfo:
    path: Path
    count: int


@dataclass
class ShardSource:
    """One survey/split stored as per-rank HDF5 shards, read as one sequence."""
    shards: list[ShardInfo]
    rdcc_nbytes: int = 8 << 20
    _files: dict = field(default_factory=dict, repr=False)
    _pid: int = field(default=-1, repr=False)

    def __post_init__(self):
        self.offsets = np.concatenate([[0], np.cumsum([s.count for s in self.shards])]).astype(np.int64)
        attrs = self._attrs()
        self.flux_scale_applied = float(attrs.get("flux_scale_applied", 1.0))
        self.transform_applied = str(attrs.get("pixel_transform_applied", "none"))
        self._shape = tuple(int(v) for v in attrs["stamp_shape"])
        self.has_mask = self._any_mask()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def __getstate__(self):  # never pickle open HDF5 handles (DataLoader workers, spawn)
        d = dict(self.__dict__)
        d["_files"], d["_pid"] = {}, -1
        return d

    def _attrs(self) -> dict:
        import h5py
        with h5py.File(self.shards[0].path, "r", locking=False) as f:
            return dict(f.attrs)

    def _file(self, k: int):
        import h5py
        if self._pid != os.getpid():  # forked since the last open: start fresh in this process
            self._files, self._pid = {}, os.getpid()
        f = self._files.get(k)
        if f is None:
            f = h5py.File(self.shards[k].path, "r", locking=False, rdcc_nbytes=self.rdcc_nbytes, rdcc_nslots=521)
            self._files[k] = f
        return f

    def close(self) -> None:
        """Close this process's open handles (they reopen on the next read)."""
        for f in self._files.values():
            f.close()
        self._files = {}

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Stamps at sorted, unique global indices ``idx``: one fancy-index read per shard touched."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), *self._shape), dtype=np.float32)
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(which):
            sel = np.nonzero(which == k)[0]
            local = idx[sel] - self.offsets[k]
            ds = self._file(int(k))["images"]
            if len(local) > 1 and local[-1] - local[0] + 1 == len(local):  # contiguous: a plain slice
                out[sel] = ds[int(local[0]):int(local[-1]) + 1]
            else:
                out[sel] = ds[local]
        return out

    def _any_mask(self) -> bool:
        import h5py
        for s in self.shards:
            with h5py.File(s.path, "r", locking=False) as f:
                if "mask" in f:
                    return True
        return False

    def read_mask(self, idx: np.ndarray) -> np.ndarray:
        """Mask bits ``(len(idx), C, H, W)`` uint8 of the stamps at sorted, unique global indices
        ``idx`` (0 where a shard has no ``mask`` dataset: format version 1)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.zeros((len(idx), *self._shape), dtype=np.uint8)
        if not self.has_mask:
            return out
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(which):
            f = self._file(int(k))
            if "mask" not in f:
                continue
            sel = np.nonzero(which == k)[0]
            local = idx[sel] - self.offsets[k]
            out[sel] = f["mask"][local] if len(local) > 1 else f["mask"][int(local[0])][None]
        return out

    def object_ids(self) -> np.ndarray:
        import h5py
        ids = []
        for s in self.shards:
            with h5py.File(s.path, "r", locking=False) as f:
                ids.append(f["object_id"][()].astype(str))
        return np.concatenate(ids) if ids else np.empty(0, dtype=str)

    def column(self, name: str) -> np.ndarray:
        """A per-object dataset (``ra``, ``dec``, ...) concatenated over shards."""
        import h5py
        cols = []
        for s in self.shards:
            with h5py.File(s.path, "r", locking=False) as f:
                cols.append(f[name][()])
        return np.concatenate(cols)


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


def find_shards(root: str | Path, survey: str, split: str) -> list[ShardInfo]:
    """The shards of one survey/split in rank order, from ``root/manifest.json`` (else by file name)."""
    root = Path(root)
    manifest = root / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        rows = [s for s in m["shards"] if s["survey"] == survey and s["split"] == split]
        rows.sort(key=lambda s: s["rank"])
        return [ShardInfo(root / s["path"], int(s["count"])) for s in rows]
    import h5py
    folder = root / survey / split
    parts = sorted((int(m.group(1)), int(m.group(2)), p) for p in folder.glob("part-*-of-*.h5")
                   if (m := _PART.search(p.name)))
    if parts and sorted(r for r, _, _ in parts) != list(range(parts[0][1])):
        raise FileNotFoundError(f"{folder}: incomplete shard set {[p.name for _, _, p in parts]}")
    out = []
    for _, _, p in parts:
        with h5py.File(p, "r", locking=False) as f:
            out.append(ShardInfo(p, int(f["images"].shape[0])))
    return out


def open_source(root: str | Path, survey: str, split: str) -> ShardSource:
    shards = find_shards(root, survey, split)
    if not shards or sum(s.count for s in shards) == 0:
        raise FileNotFoundError(f"no stamps for survey {survey!r} split {split!r} under {root} "
                                f"(run `hpcgan preprocess` first, or check data.x/y.name)")
    return ShardSource([s for s in shards if s.count > 0])


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
