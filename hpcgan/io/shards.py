"""The HDF5 shard format, in one place: its version, file names, datasets and attributes, and reading it.

A shard is one rank's part of one survey/split: ``ROOT/<survey>/<split>/part-<r>-of-<R>.h5``
(:func:`part_name`), listed with counts and sha256 in ``ROOT/manifest.json`` (:data:`MANIFEST`); a
survey/split is the concatenation of its parts in rank order, which is the catalog order for paired
splits in both surveys (docs/formats.md, "HDF5 shards"). Datasets:

- ``images`` (N, C, H, W) ``<f4``, one stamp per chunk (:data:`IMAGES`, :data:`IMAGE_DTYPE`);
- ``mask`` (N, C, H, W) ``u1``, gzip level 1, one stamp per chunk, attribute ``bits`` (JSON): the
  per-pixel bits of :mod:`hpcgan.io.mask_bits`, 0 = valid (:data:`MASK`; from format version 2);
- the per-object columns of :func:`column_spec`: ``object_id``, ``ra``, ``dec``, ``catalog_row``,
  ``nan_filled``, ``wcs`` (the model-grid header text), the per-band header values of
  :data:`META_KEYS` (attribute ``fits_card``) and ``sky_level`` (from version 2).

Attributes: the stage's provenance (``format_version`` = :data:`FORMAT_VERSION`, ``code_version``,
``config``, ``config_hash``, ...), ``flux_scale_applied`` / ``pixel_transform_applied`` and the layout
of :func:`layout_attrs`; ``compression`` when the images are compressed.

The writer (resumable, one rank's part, the commit protocol) is :mod:`hpcgan.io.shard_writer`; the
torch-facing side (model space, the training streams) is :mod:`hpcgan.data`.

Reading (:class:`ShardSource`; HDF5 notes: pytorch #11929, h5py #1101, #712):

- files are opened lazily, on first read, in the process that reads (so DataLoader workers forked
  after construction each open their own handle; a handle is never pickled);
- read-only opens pass ``locking=False`` (same effect as ``HDF5_USE_FILE_LOCKING=FALSE``: Lustre/NFS
  mounts without lock support otherwise fail with "unable to lock file"). Open the same files with
  ``locking=False`` too, or call ``close()`` first: HDF5 refuses a second open of a file with other
  locking flags in one process ("file locking flag values don't match");
- a batch is read with one sorted fancy-index read per shard touched, and the chunk cache is sized
  to a few stamps (one stamp per chunk, see docs/preprocess.md).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The shard format version: attribute ``format_version`` of every shard, and of the stage's manifest.json
# (preprocess and translate write it).
#   1: the original layout.
#   2: the per-pixel ``mask`` dataset (preprocess and translate) and the ``sky_level`` column (preprocess).
#      Version-1 shards still read: no ``mask`` reads as all valid (0) (:meth:`ShardSource.read_mask`).
FORMAT_VERSION = 2

MANIFEST = "manifest.json"
IMAGES, MASK = "images", "mask"
IMAGE_DTYPE, MASK_DTYPE = "<f4", "u1"
MASK_GZIP_LEVEL = 1
# per-band columns read from the stamps' FITS headers: (dataset, card)
META_KEYS = (("psf_fwhm", "PSFFWHM"), ("sky_sigma", "SKYSIG"), ("mag_zp", "MAGZP"))

_PART = re.compile(r"part-(\d+)-of-(\d+)\.h5$")


def part_name(rank: int, nranks: int) -> str:
    """The file name of part ``rank`` of ``nranks``."""
    return f"part-{rank}-of-{nranks}.h5"


def column_spec(n: int, nb: int, keys) -> dict[str, tuple[tuple[int, ...], object]]:
    """The per-object datasets of a shard of ``n`` stamps of ``nb`` bands, name -> (shape, dtype), in
    the order they are created; ``wcs`` and ``sky_level`` only when ``keys`` holds them."""
    import h5py

    text = h5py.string_dtype("utf-8")
    spec = {"object_id": ((n,), text), "ra": ((n,), "<f8"), "dec": ((n,), "<f8"), "catalog_row": ((n,), "<i8"),
            "nan_filled": ((n, nb), "<i4")}
    if "wcs" in keys:  # each stamp's model-grid WCS header (hpcgan.io.grid.grid_text)
        spec["wcs"] = ((n,), text)
    spec.update({m: ((n, nb), "<f4") for m, _ in META_KEYS})
    if "sky_level" in keys:  # background measured at ingest (hpcgan.io.sky); NaN = not measured (or not given)
        spec["sky_level"] = ((n, nb), "<f4")
    return spec


def layout_attrs(survey: str, split: str, bands, size: int, count: int, rank: int, nranks: int) -> dict:
    """The attributes that say what a shard holds and which part it is."""
    return {"survey": survey, "split": split, "bands": list(bands), "stamp_shape": [len(bands), size, size],
            "count": count, "rank": rank, "nranks": nranks}


@dataclass
class ShardInfo:
    path: Path
    count: int


@dataclass
class ShardSource:
    """One survey/split stored as per-rank HDF5 shards, read as one sequence of stamps ``(N, C, H, W)``
    (float32, axis order band, y, x)."""
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
            ds = self._file(int(k))[IMAGES]
            if len(local) > 1 and local[-1] - local[0] + 1 == len(local):  # contiguous: a plain slice
                out[sel] = ds[int(local[0]):int(local[-1]) + 1]
            else:
                out[sel] = ds[local]
        return out

    def _any_mask(self) -> bool:
        import h5py
        for s in self.shards:
            with h5py.File(s.path, "r", locking=False) as f:
                if MASK in f:
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
            if MASK not in f:
                continue
            sel = np.nonzero(which == k)[0]
            local = idx[sel] - self.offsets[k]
            out[sel] = f[MASK][local] if len(local) > 1 else f[MASK][int(local[0])][None]
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

    def grids(self) -> list[str]:
        """Each stamp's model-grid header text (the ``wcs`` dataset), '' where a shard has none."""
        import h5py

        out: list[str] = []
        for s in self.shards:
            with h5py.File(s.path, "r", locking=False) as f:
                out += [v.decode() if isinstance(v, bytes) else str(v) for v in f["wcs"][()]] if "wcs" in f \
                    else [""] * s.count
        return out


def find_shards(root: str | Path, survey: str, split: str) -> list[ShardInfo]:
    """The shards of one survey/split in rank order, from ``root/manifest.json`` (else by file name)."""
    root = Path(root)
    manifest = root / MANIFEST
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
            out.append(ShardInfo(p, int(f[IMAGES].shape[0])))
    return out


def open_source(root: str | Path, survey: str, split: str) -> ShardSource:
    shards = find_shards(root, survey, split)
    if not shards or sum(s.count for s in shards) == 0:
        raise FileNotFoundError(f"no stamps for survey {survey!r} split {split!r} under {root} "
                                f"(run `hpcgan preprocess` first, or check data.x/y.name)")
    return ShardSource([s for s in shards if s.count > 0])
