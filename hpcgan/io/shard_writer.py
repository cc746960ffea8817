"""The shard writer: one rank's part of one job, its units batch by batch into HDF5 shards, resumably
(preprocess and translate). The format it writes (version, datasets, attributes) is :mod:`hpcgan.io.shards`.

The writer does not know where stamps come from: a *batch producer* (``produce_batch(units, b0) ->
Batch``, :class:`JobPart`'s one extension point) reads or computes the stamps of a batch, per output,
and the writer commits them. Preprocess's producer reads FITS stamps (:func:`read_batches`); translate's
translates shard stamps, one output per realisation (hpcgan/translate/run.py).

Shard file ``OUT/<survey>/<split>/part-<r>-of-<R>.h5`` (:mod:`hpcgan.io.shards`; docs/formats.md):
``images`` (N, 5, H, W) ``<f4``, chunks ``(1, 5, H, W)`` (one stamp per chunk: a random batch read
touches exactly the stamps it needs, and the chunk cache only has to hold one stamp), ``mask``, the
per-object columns and the attributes.

How a shard is written, so that a kill -9 at any moment resumes to the same bytes:

1. *Skeleton*: ``.part-...h5.partial`` is created by h5py with ``images`` sized to the planned
   unit count, chunk space allocated early, and closed. Its bytes depend only on the plan.
2. *Batches*: accepted stamps are written with ``os.pwrite`` straight into their chunks (offsets
   read from the chunk index), so HDF5 metadata is never touched mid-run. After each batch the
   files are fsync'ed, then ``batch-NNNNNN.json`` (accepted objects' metadata, quarantine entries)
   is written atomically. That record is the commit: a resumed run replays the records and
   continues at the first missing one; chunks written after the last commit are simply rewritten.
   The run keeps only counts in memory (:class:`Committed`: batches, units done, stamps per output,
   the quarantine entries), never the objects' columns: memory does not grow with the part's size.
3. *Finalize* (fresh h5py open, identical in a resumed and an uninterrupted run): shrink ``images``
   to the accepted count, add the per-object datasets, filled from the batch records read back from
   disk a bounded group at a time (:data:`FINALIZE_OBJECTS` stamps), and the attributes; close, fsync,
   hash, rename to the final name, then write ``done.json``. A kill during finalize (marker file)
   redoes the part.

Disk space: :meth:`JobPart.bytes_needed` is what the part still has to write (the stages sum it over
parts and ranks for :func:`hpcgan.utils.disk.check_space` before writing anything); the skeleton's
extent is reserved (``fallocate``) before the first batch, so a full disk shows at the start of a part,
not halfway into it; finalize checks the room for the per-object columns and the compressed copy
before HDF5 writes them. Every write error is a :class:`hpcgan.utils.disk.WriteError` naming the file.
"""
from __future__ import annotations

import errno
import json
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.mask_bits import BITS
from hpcgan.io.shards import (
    IMAGE_DTYPE,
    IMAGES,
    MASK,
    MASK_DTYPE,
    MASK_GZIP_LEVEL,
    META_KEYS,
    column_spec,
    layout_attrs,
    part_name,
)
from hpcgan.io.stamps import Reject, Stamp
from hpcgan.log import get_logger, progress
from hpcgan.utils.atomic import atomic_write_bytes, atomic_write_text, fsync_dir, sha256_file
from hpcgan.utils.disk import WriteError, free_bytes, reserve, writing

log = get_logger(__name__)
# test hooks: "K" or "K:RANK": SIGKILL (KILL_ENV) or raise (RAISE_ENV) after K committed batches (on RANK only)
KILL_ENV = "HPCGAN_PREPROCESS_KILL_AFTER"
RAISE_ENV = "HPCGAN_PREPROCESS_RAISE_AFTER"
# per-stamp bytes besides the pixels (columns, WCS header text, chunk index): an upper estimate
META_BYTES = 4096
# finalize writes the per-object columns from the batch records in groups of at least this many stamps
FINALIZE_OBJECTS = 4096


def _hook(env: str, rank: int) -> int:
    v = os.environ.get(env, "")
    if not v:
        return 0
    k, _, r = v.partition(":")
    return int(k) if not r or int(r) == rank else 0


@dataclass(frozen=True)
class Row:
    """One catalog row: an object of one survey (the unit member the writer records)."""
    row: int  # 1-based data row number in the catalog
    object_id: str
    survey: str
    split: str
    path: str  # absolute, normalised; may hold '{band}'
    ra: float
    dec: float


@dataclass
class Job:
    """One output folder set: a split of one survey (unpaired) or of both (paired), as units of rows."""
    split: str
    surveys: tuple[str, ...]
    units: list[tuple[Row, ...]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.split if len(self.surveys) > 1 else f"{self.surveys[0]}-{self.split}"


def quarantine_entry(reason: str, row: int | None = None, object_id: str = "", survey: str = "", split: str = "",
                     path: str = "") -> dict:
    return {"row": row, "object_id": object_id, "survey": survey, "split": split, "path": path,
            "reason": " ".join(str(reason).split())}  # one line


@dataclass
class SurveyOut:
    """One output shard of a part: ``root/<name>/<split>/part-<r>-of-<R>.h5`` (and its ``.partial``)."""
    name: str
    bands: tuple[str, ...]
    size: int
    final: Path
    partial: Path

    @property
    def stamp_bytes(self) -> int:
        """Bytes of one stamp in the shard (float32 pixels, uncompressed) plus its columns (estimate)."""
        return len(self.bands) * self.size * self.size * 4 + META_BYTES

    @classmethod
    def at(cls, root: Path, name: str, bands: tuple[str, ...], size: int, split: str, rank: int,
           nranks: int) -> SurveyOut:
        part = part_name(rank, nranks)
        return cls(name, bands, size, root / name / split / part, root / name / split / f".{part}.partial")


@dataclass
class Batch:
    """What one batch adds, per output (``JobPart.outs`` order): the accepted stamps, each
    ``(bands, size, size)``, and their columns (``object_id``, ``ra``, ``dec``, ``catalog_row``,
    ``nan_filled``, ``wcs``, ``sky_level`` and :data:`~hpcgan.io.shards.META_KEYS`, one entry per
    stamp); the batch's quarantine entries (:func:`quarantine_entry`); and the stamps' mask bits
    (:mod:`hpcgan.io.mask_bits`) per output, or none (all valid)."""
    images: list[list[np.ndarray]]
    objects: list[dict[str, list]]
    quarantine: list[dict] = field(default_factory=list)
    masks: list[list[np.ndarray]] = field(default_factory=list)  # per output, each (bands, size, size) uint8; [] = all 0


ProduceBatch = Callable[[list[tuple[Row, ...]], int], Batch]  # (the batch's units, its first index in the part)


@dataclass
class Committed:
    """What the committed batch records of a part add up to: all a run keeps of them in memory."""
    batches: int  # records batch-000000.json ... batch-<batches - 1>.json
    units_done: int
    accepted: list[int]  # stamps per output
    quarantine: list[dict] = field(default_factory=list)

    def add(self, rec: dict) -> None:
        self.batches += 1
        self.units_done = rec["units_done"]
        for k, o in enumerate(rec["objects"]):
            self.accepted[k] += len(o["object_id"])
        self.quarantine += rec["quarantine"]


def columns(n_out: int) -> list[dict[str, list]]:
    """Empty per-output columns of a :class:`Batch`."""
    return [{"object_id": [], "ra": [], "dec": [], "catalog_row": [], "nan_filled": [], "wcs": [], "sky_level": [],
             **{k: [] for k, _ in META_KEYS}} for _ in range(n_out)]


def _skeleton(path: Path, planned: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Create the skeleton file; return the byte offset of each stamp's chunk."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w", libver=("earliest", "v110")) as f:
            f.create_dataset(IMAGES, shape=(planned, *shape), maxshape=(None, *shape), chunks=(1, *shape),
                             dtype=IMAGE_DTYPE, dcpl=dcpl, fill_time="never", track_times=False)
    return _chunk_offsets(path, planned)


def _chunk_offsets(path: Path, planned: int) -> np.ndarray:
    import h5py

    offsets = np.zeros(planned, np.int64)
    with h5py.File(path, "r", locking=False) as f:
        def visit(info):
            offsets[info.chunk_offset[0]] = info.byte_offset
        if planned:
            f[IMAGES].id.chunk_iter(visit)
    if planned and min(offsets) <= 0:
        raise RuntimeError(f"{path}: chunks not allocated")
    return offsets


class JobPart:
    """Rank ``rank``'s units ``[lo, hi)`` of ``job`` into the shards ``outs`` (see module docstring).

    ``produce_batch(units, b0)`` returns the :class:`Batch` of the part's units ``[b0, b0 + len(units))``;
    it must depend on nothing but those units, so a resumed run writes the same bytes.
    ``survey_attrs[out.name]``: attributes of that output's shards on top of ``attrs``.
    ``unit_side_bytes``: bytes the producer writes beside the shards per unit (translate's FITS files),
    for :meth:`bytes_needed`.
    """

    def __init__(self, job: Job, lo: int, hi: int, rank: int, nranks: int, out: Path, outs: list[SurveyOut],
                 produce_batch: ProduceBatch, attrs: dict, survey_attrs: dict, plan_key: str, batch_size: int,
                 compression: str = "none", compression_level: int = 1, unit_side_bytes: int = 0):
        self.job, self.units = job, job.units[lo:hi]
        self.rank, self.nranks, self.out, self.outs = rank, nranks, out, outs
        self.work = out / ".work" / job.key / f"part-{rank}-of-{nranks}"
        self.produce_batch, self.attrs, self.plan_key = produce_batch, attrs, plan_key
        self.survey_attrs = survey_attrs
        self.batch_size, self.compression, self.level = batch_size, compression, compression_level
        self.unit_side_bytes = unit_side_bytes

    # ---- disk space -------------------------------------------------------------------------------
    def raw_bytes(self) -> int:
        """Bytes of the part's uncompressed shards (estimate)."""
        return len(self.units) * sum(o.stamp_bytes for o in self.outs)

    def bytes_needed(self) -> int:
        """Bytes this part still has to write (estimate): none when finished; else its uncompressed
        shards less the blocks its partial files already hold, plus the side files of the units not
        yet committed. Finalizing with compression needs :meth:`raw_bytes` more for a while
        (:func:`bytes_needed`)."""
        if self._finished():
            return 0
        com = self._committed()
        units_done = com.units_done if com else 0
        need = 0
        for o in self.outs:
            held = o.partial.stat().st_blocks * 512 if com and o.partial.is_file() else 0
            need += max(0, len(self.units) * o.stamp_bytes - held)
        return need + (len(self.units) - units_done) * self.unit_side_bytes

    # ---- resume bookkeeping -------------------------------------------------------------------
    def _finished(self) -> bool:
        """A completion record of this plan whose shards are there with their sizes (no checksums)."""
        try:
            done = json.loads((self.work / "done.json").read_text())
            return done.get("plan_key") == self.plan_key and all(
                (self.out / s["path"]).stat().st_size == s["bytes"] for s in done["shards"])
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def _done(self) -> dict | None:
        """The completion record, if it matches the plan and every shard's checksum."""
        p = self.work / "done.json"
        if not p.is_file():
            return None
        try:
            done = json.loads(p.read_text())
        except ValueError:
            return None
        if done.get("plan_key") != self.plan_key:
            return None
        for s in done["shards"]:
            f = self.out / s["path"]
            if not f.is_file() or f.stat().st_size != s["bytes"] or sha256_file(f) != s["sha256"]:
                log.warning("shard %s: checksum mismatch or missing; redoing part", s["path"])
                return None
        return done

    def _record(self, i: int) -> dict:
        return json.loads((self.work / f"batch-{i:06d}.json").read_text())

    def _committed(self) -> Committed | None:
        """The committed records of this plan, added up one at a time (none held); None if there are none."""
        plan = self.work / "plan.json"
        if not plan.is_file() or (self.work / "finalizing").exists():
            return None
        try:
            if json.loads(plan.read_text()).get("plan_key") != self.plan_key:
                return None
        except ValueError:
            return None
        if not all(o.partial.is_file() for o in self.outs):
            return None
        com = Committed(0, 0, [0] * len(self.outs))
        while True:
            try:
                rec = self._record(com.batches)
            except (OSError, ValueError):
                return com if com.batches else None
            com.add(rec)

    def _reset(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for p in self.work.iterdir():
            p.unlink()
        for o in self.outs:
            if o.partial.exists():
                o.partial.unlink()
        atomic_write_text(self.work / "plan.json", json.dumps({"plan_key": self.plan_key}))

    # ---- the run --------------------------------------------------------------------------------
    def run(self) -> dict:
        done = self._done()
        if done is not None:
            log.info("%s part %d: complete, checksums verified, kept", self.job.key, self.rank)
            return done
        com = self._committed()
        if com:
            log.info("%s part %d: resuming after %d committed batches (%d of %d units)", self.job.key,
                     self.rank, com.batches, com.units_done, len(self.units))
            offsets = [_chunk_offsets(o.partial, len(self.units)) for o in self.outs]
        else:
            self._reset()
            com = Committed(0, 0, [0] * len(self.outs))
            offsets = [_skeleton(o.partial, len(self.units), (len(o.bands), o.size, o.size)) for o in self.outs]
        accepted = list(com.accepted)  # stamps written so far, per output: the next chunk to write
        start = com.units_done
        kill_after, raise_after = _hook(KILL_ENV, self.rank), _hook(RAISE_ENV, self.rank)
        fds = [os.open(o.partial, os.O_WRONLY) for o in self.outs]
        try:
            for fd, o in zip(fds, self.outs):  # the chunks are holes until written: take their blocks now
                reserve(fd, o.partial)
            batches = range(start, len(self.units), self.batch_size)
            for b0 in progress(batches, len(batches), f"{self.job.key} part {self.rank}", self.rank):
                b1 = min(b0 + self.batch_size, len(self.units))
                batch = self.produce_batch(self.units[b0:b1], b0)
                rec = self._write(batch, b1, fds, offsets, accepted)
                self._save_masks(com.batches, batch)
                for fd, o in zip(fds, self.outs):
                    with writing(o.partial):
                        os.fsync(fd)
                atomic_write_text(self.work / f"batch-{com.batches:06d}.json", json.dumps(rec))
                com.add(rec)  # counts only: the record's columns are read back from its file at finalize
                del batch, rec
                if kill_after and com.batches >= kill_after:
                    log.warning("test hook %s=%d: SIGKILL after %d batches", KILL_ENV, kill_after, com.batches)
                    os.kill(os.getpid(), signal.SIGKILL)
                if raise_after and com.batches >= raise_after:
                    raise RuntimeError(f"test hook {RAISE_ENV}: failing after {com.batches} batches")
        finally:
            for fd in fds:
                os.close(fd)
        return self._finalize(com)

    def _write(self, batch: Batch, b1: int, fds: list[int], offsets: list[np.ndarray], accepted: list[int]) -> dict:
        """``pwrite`` the batch's stamps into their chunks; the batch record (committed by the caller)."""
        for k, images in enumerate(batch.images):
            with writing(self.outs[k].partial):
                for img in images:
                    os.pwrite(fds[k], memoryview(np.ascontiguousarray(img, dtype=IMAGE_DTYPE)).cast("B"),
                              int(offsets[k][accepted[k]]))
                    accepted[k] += 1
        return {"units_done": b1, "objects": batch.objects, "quarantine": batch.quarantine}

    def _mask_file(self, i: int, k: int) -> Path:
        return self.work / f"batch-{i:06d}.mask{k}.npz"

    def _save_masks(self, i: int, batch: Batch) -> None:
        """Batch ``i``'s masks per output beside its record (written before the record: part of the commit)."""
        import io

        for k, o in enumerate(self.outs):
            n = len(batch.images[k])
            got = batch.masks[k] if k < len(batch.masks) else []
            arr = np.stack(got).astype(np.uint8) if got else np.zeros((n, len(o.bands), o.size, o.size), np.uint8)
            if len(arr) != n:
                raise ValueError(f"batch {i}: {len(arr)} masks for {n} stamps")
            buf = io.BytesIO()
            np.savez_compressed(buf, mask=arr)
            atomic_write_bytes(self._mask_file(i, k), buf.getvalue())

    def _write_masks(self, f, k: int, nrec: int, n: int, o: SurveyOut) -> None:
        """The ``mask`` dataset (n, bands, size, size) uint8, gzip, one stamp per chunk, from the batch files."""
        d = f.create_dataset(MASK, shape=(n, len(o.bands), o.size, o.size), maxshape=(None, len(o.bands), o.size, o.size),
                             chunks=(1, len(o.bands), o.size, o.size), dtype=MASK_DTYPE, compression="gzip",
                             compression_opts=MASK_GZIP_LEVEL, track_times=False)
        at = 0
        for i in range(nrec):
            with np.load(self._mask_file(i, k)) as z:
                m = z["mask"]
            if len(m):
                d[at:at + len(m)] = m
                at += len(m)
        if at != n:
            raise RuntimeError(f"{o.partial}: {at} masks for {n} stamps")
        d.attrs["bits"] = json.dumps(BITS)

    def _column_groups(self, k: int, nrec: int):
        """Output ``k``'s columns from the batch records read back one at a time, yielded in groups of
        at least :data:`FINALIZE_OBJECTS` stamps (the last one smaller), so finalize holds one group."""
        group: dict[str, list] | None = None
        for i in range(nrec):
            obj = self._record(i)["objects"][k]
            n = len(obj["object_id"])
            if "sky_level" in obj and len(obj["sky_level"]) != n:  # not measured by this producer
                obj["sky_level"] = [None] * n
            if group is None:
                group = obj
            else:
                for key, v in obj.items():
                    group[key] += v
            if len(group["object_id"]) >= FINALIZE_OBJECTS:
                yield group
                group = None
        if group is not None and group["object_id"]:
            yield group

    def _finalize(self, com: Committed) -> dict:
        import h5py

        (self.work / "finalizing").touch()
        shards, quarantine = [], com.quarantine
        for k, o in enumerate(self.outs):
            keys = list(self._record(0)["objects"][k]) if com.batches \
                else ["object_id", "ra", "dec", "catalog_row", "nan_filled", *dict(META_KEYS)]
            n = com.accepted[k]
            nb = len(o.bands)
            _room(o.partial, n * META_BYTES)  # HDF5 must not meet a full disk: it cannot recover from one
            with writing(o.partial), h5py.File(o.partial, "r+", locking=False) as f:
                f[IMAGES].resize(n, axis=0)
                _write_columns(f, keys, self._column_groups(k, com.batches), n, nb)
                self._write_masks(f, k, com.batches, n, o)
                _write_attrs(f, {**self.attrs, **self.survey_attrs[o.name],
                                 **layout_attrs(o.name, self.job.split, o.bands, o.size, n, self.rank, self.nranks)})
            src = o.partial
            if self.compression != "none":
                _room(o.partial.with_name(o.partial.name + ".z"), n * o.stamp_bytes)
                src = _compressed_copy(o.partial, self.compression, self.level)
            with writing(o.final):
                with open(src, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(src, o.final)
                if src != o.partial:
                    o.partial.unlink()
            fsync_dir(o.final.parent)
            shards.append({"survey": o.name, "split": self.job.split, "rank": self.rank, "nranks": self.nranks,
                           "path": str(o.final.relative_to(self.out)), "count": n,
                           "bytes": o.final.stat().st_size, "sha256": sha256_file(o.final)})
        done = {"plan_key": self.plan_key, "job": self.job.key, "units": len(self.units),
                "rows_seen": len(self.units) * len(self.outs), "shards": shards, "quarantine": quarantine}
        atomic_write_text(self.work / "done.json", json.dumps(done))
        for p in [*self.work.glob("batch-*.json"), *self.work.glob("batch-*.mask*.npz")]:
            p.unlink()
        (self.work / "finalizing").unlink()
        log.info("%s part %d: %s stamps, %d quarantined", self.job.key, self.rank,
                 "+".join(str(s["count"]) for s in shards), len(quarantine))
        return done


_PART = re.compile(r"part-\d+-of-(\d+)(\.h5)?$")


def bytes_needed(parts: list[JobPart]) -> int:
    """What a rank's ``parts`` (run one after the other) still write at most: their
    :meth:`JobPart.bytes_needed`, plus, with compression, the largest unfinished part's uncompressed
    size (its compressed copy and the uncompressed partial coexist until the rename)."""
    need = [p.bytes_needed() for p in parts]
    copy = max((p.raw_bytes() for p, n in zip(parts, need) if n and p.compression != "none"), default=0)
    return sum(need) + copy


def _room(path: Path, nbytes: int) -> None:
    """WriteError(ENOSPC) naming ``path`` when its file system has less than ``nbytes`` free."""
    if free_bytes(path.parent) < nbytes:
        raise WriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def write_manifest(out: Path, manifest: dict, nranks: int, shard_glob: str = "*/*/part-*-of-*.h5",
                   stale: Callable[[Path], bool] | None = None) -> None:
    """Write ``out/manifest.json`` atomically, then remove what would confuse readers: shards
    (``shard_glob`` under ``out``) and work records of an earlier run with another rank count, and
    shards for which ``stale(path relative to out)`` holds."""
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    for p in [*out.glob(shard_glob), *out.glob(".work/*/part-*-of-*")]:
        m = _PART.search(p.name)
        if not m or (int(m.group(1)) == nranks and (stale is None or p.is_dir() or not stale(p.relative_to(out)))):
            continue
        log.info("removing stale %s", p)
        if p.is_dir():
            for q in p.iterdir():
                q.unlink()
            p.rmdir()
        else:
            p.unlink()


def _bands_f4(rows: list, m: int, nb: int) -> np.ndarray:
    """Per-band values, (m, nb) ``<f4``: a None value, or a None row, is NaN."""
    return np.array([[np.nan] * nb if row is None else [np.nan if v is None else v for v in row] for row in rows],
                    dtype="<f4").reshape(m, nb)


def _write_columns(f, keys: list[str], groups, n: int, nb: int) -> None:
    """The per-object datasets (``n`` stamps, ``nb`` bands), created whole, then filled one group of
    columns (dicts of lists, in stamp order, ``keys`` among their keys) at a time."""
    kw = dict(track_times=False)
    spec = column_spec(n, nb, keys)
    ds = {name: f.create_dataset(name, shape=shape, dtype=dt, **kw) for name, (shape, dt) in spec.items()}
    for m, card in META_KEYS:
        ds[m].attrs["fits_card"] = card
    at = 0
    for g in groups:
        m = len(g["object_id"])
        for name, d in ds.items():
            if d.dtype.kind == "O":
                v = np.empty(m, object)
                v[:] = g[name]
            elif name in ("ra", "dec", "catalog_row"):
                v = np.asarray(g[name], dtype=d.dtype).reshape(m)
            elif name == "nan_filled":
                v = np.asarray(g[name], dtype=d.dtype).reshape(m, nb)
            else:
                v = _bands_f4(g[name], m, nb)
            d[at:at + m] = v
        at += m
    if at != n:
        raise RuntimeError(f"{f.filename}: columns of {at} stamps for {n}")


def _write_attrs(f, attrs: dict) -> None:
    for k in sorted(attrs):
        v = attrs[k]
        f.attrs[k] = json.dumps(v) if isinstance(v, dict) else v


def _compressed_copy(src: Path, compression: str, level: int) -> Path:
    """A copy of a finished shard with ``images`` compressed (chunk = one stamp), same everything else."""
    import h5py

    dst = src.with_name(src.name + ".z")
    opts = level if compression == "gzip" else None
    with writing(dst), h5py.File(src, "r", locking=False) as a, \
            h5py.File(dst, "w", libver=("earliest", "v110")) as b:
        img = a[IMAGES]
        d = b.create_dataset(IMAGES, shape=img.shape, maxshape=(None, *img.shape[1:]), chunks=(1, *img.shape[1:]),
                             dtype=IMAGE_DTYPE, compression=compression, compression_opts=opts, track_times=False)
        step = max(1, (64 << 20) // max(1, img.dtype.itemsize * int(np.prod(img.shape[1:]))))
        for i in range(0, img.shape[0], step):
            d[i:i + step] = img[i:i + step]
        for name in a:
            if name != IMAGES:
                a.copy(a[name], b, name=name)
        for k in sorted(a.attrs):
            b.attrs[k] = a.attrs[k]
        b.attrs["compression"] = compression
    return dst


def read_batches(reader: Callable[[Row], Stamp], root: str, n_out: int) -> ProduceBatch:
    """The batch producer of stamps read from files: ``reader(row)`` per unit member; a unit with a
    member that is rejected (or raises anything: the per-file boundary, no input may abort the rank)
    is quarantined whole, the other members with the counterpart reason. ``root``: quarantine paths
    are relative to it."""

    def produce(units: list[tuple[Row, ...]], b0: int) -> Batch:
        batch = Batch([[] for _ in range(n_out)], columns(n_out), masks=[[] for _ in range(n_out)])
        for unit in units:
            stamps, reason, who = [], None, None
            for row in unit:
                try:
                    stamps.append(reader(row))
                except Reject as e:
                    reason, who = str(e), row.survey
                    break
                except Exception as e:  # the per-file boundary: no input may abort the rank
                    msg = " ".join((str(e).splitlines() or [""])[0].split())[:160]
                    reason, who = R.UNEXPECTED.format(error=f"{type(e).__name__}: {msg}") + f": {row.path}", row.survey
                    log.warning("row %d (%s): %s", row.row, row.object_id, reason)
                    break
            if reason is not None:
                for row in unit:
                    r = reason if row.survey == who else R.COUNTERPART.format(survey=who, reason=reason)
                    batch.quarantine.append(quarantine_entry(r, row.row, row.object_id, row.survey, row.split,
                                                             os.path.relpath(row.path, root) if row.path else ""))
                continue
            for k, (row, st) in enumerate(zip(unit, stamps)):
                batch.images[k].append(st.image)
                o = batch.objects[k]
                o["object_id"].append(row.object_id)
                o["ra"].append(row.ra)
                o["dec"].append(row.dec)
                o["catalog_row"].append(row.row)
                o["nan_filled"].append(st.nan_filled.tolist())
                o["wcs"].append(st.wcs)
                o["sky_level"].append(None if st.sky_level is None else
                                      [None if not np.isfinite(v) else float(v) for v in st.sky_level])
                batch.masks[k].append(st.mask if st.mask is not None else np.zeros(st.image.shape, np.uint8))
                for m, _ in META_KEYS:
                    o[m].append([None if not np.isfinite(v) else float(v) for v in st.meta[m]])
        return batch
    return produce
