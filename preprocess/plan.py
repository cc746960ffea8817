"""The work plan of a catalog of any size, streamed: a rank keeps ~14 bytes per catalog row plus the
strings, ra and dec of its own rows only (``preprocess.source: stamps``).

1. **Scan** (every rank, one pass, :func:`scan`): rows are streamed (:func:`preprocess.catalog.iter_rows`)
   and checked (:func:`preprocess.catalog.check_row`); a valid row is kept as compact columns
   (catalog row, survey, split and a 64-bit BLAKE2b hash of its ``object_id``: 14 bytes), no strings.
   Quarantine entries are kept by rank 0 only; the other ranks count them.
2. **Duplicates**: rows sharing (survey, noise-free or not, hash) are candidates; only when there are
   any, one more pass fetches their ``object_id``s and compares them exactly (first row wins), so a
   hash collision never drops a row.
3. **Jobs** (the order and units of :func:`preprocess.catalog.plan_jobs`): ``unpaired`` per survey in
   catalog order; each paired split pairs the X rows with the Y row of the same hash (the strings
   are compared when the pair is read: a collision stops the run, never pairs two objects).
   A unit is a row of column indices.
4. **Weights**: each rank stats the files of an equal-count block of the units while streaming the
   catalog (pass 2), the int64 unit weights are all-gathered, and every job is cut into contiguous
   size-balanced parts (:func:`preprocess.catalog.partition`), as before.
5. **Own rows** (pass 3): a rank stores the ``object_id``, path, ra and dec of the rows of its own parts
   (rank 0 also those of pairing rejects) in two string buffers; :class:`Units` builds the
   :class:`~hpcgan.io.shard_writer.Row` tuples a batch at a time.

Shards, quarantine and manifest are the same as with the in-memory plan (tests/test_catalog_plan.py).
"""
from __future__ import annotations

import hashlib
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.fileio import FileProblem, bounded
from hpcgan.io.shard_writer import Row, quarantine_entry
from preprocess.catalog import SPLITS, check_row, columns_of, iter_rows, partition

_TRUTH = np.array([s.endswith("-truth") for s in SPLITS])


def oid_hash(oid: str) -> int:
    return int.from_bytes(hashlib.blake2b(oid.encode(), digest_size=8).digest(), "little")


class Strings:
    """Many short strings in one buffer (about their UTF-8 size each): append, then ``[k]``."""

    def __init__(self):
        self.buf, self.ends = bytearray(), array("q")

    def append(self, s: str) -> None:
        self.buf += s.encode()
        self.ends.append(len(self.buf))

    def __getitem__(self, k: int) -> str:
        return self.buf[self.ends[k - 1] if k else 0:self.ends[k]].decode()

    def __len__(self) -> int:
        return len(self.ends)


@dataclass
class Columns:
    """The valid rows of the catalog, in catalog order, without strings."""
    row: np.ndarray  # int32 1-based catalog row
    survey: np.ndarray  # int8 index into the plan's surveys
    split: np.ndarray  # int8 index into SPLITS
    key: np.ndarray  # uint64 oid_hash(object_id)


@dataclass
class PlanJob:
    split: str
    surveys: tuple[str, ...]
    members: np.ndarray  # (units, len(surveys)) column indices

    @property
    def key(self) -> str:
        return self.split if len(self.surveys) > 1 else f"{self.surveys[0]}-{self.split}"


@dataclass
class StreamPlan:
    path: Path
    root: str
    surveys: tuple[str, ...]
    seen: int
    cols: Columns
    jobs: list[PlanJob]
    rejects: list[dict]  # rank 0: every catalog-level quarantine entry; other ranks: []
    nrejects: int
    own_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted catalog rows held
    oids: Strings = field(default_factory=Strings)
    paths: Strings = field(default_factory=Strings)  # as written in the catalog (relative to root)
    radec: array = field(default_factory=lambda: array("d"))  # ra, dec of each held row


def _stream(plan: StreamPlan, wanted: np.ndarray, need_path: bool):
    """Yield (position in ``wanted``, object_id, raw path, ra text, dec text) for the catalog rows in
    sorted ``wanted``, in one pass over the catalog."""
    if not len(wanted):
        return
    header, rows = iter_rows(plan.path)
    col = columns_of(plan.path, header, need_path)
    k, n = 0, len(wanted)
    for i, fields, _ in rows:
        if i < wanted[k]:
            continue
        while k < n and wanted[k] < i:
            k += 1
        if k < n and wanted[k] == i:
            get = (lambda c: fields[col[c]].strip() if fields is not None and col.get(c, len(fields)) < len(fields) else "")
            yield k, get("object_id"), get("path"), get("ra"), get("dec")
            k += 1
        if k >= n:
            rows.close()
            return


def scan(path: Path, root: str, surveys: tuple[str, ...], need_path: bool, keep_rejects: bool) -> StreamPlan:
    """Pass 1 (module docstring); CatalogError when the catalog cannot be used at all."""
    header, rows = iter_rows(path)
    col = columns_of(path, header, need_path)
    root_n = os.path.normpath(os.path.abspath(root))
    sidx, spidx = {s: k for k, s in enumerate(surveys)}, {s: k for k, s in enumerate(SPLITS)}
    a_row, a_sv, a_sp, a_key = array("i"), array("b"), array("b"), array("Q")
    rejects, nrej, seen = [], 0, 0
    for i, fields, err in rows:
        seen += 1
        got = check_row(i, fields, err, len(header), col, root_n, surveys, need_path)
        if isinstance(got, dict):
            nrej += 1
            if keep_rejects:
                rejects.append(got)
            continue
        oid, survey, split = got[:3]
        a_row.append(i)
        a_sv.append(sidx[survey])
        a_sp.append(spidx[split])
        a_key.append(oid_hash(oid))
    cols = Columns(*(np.frombuffer(a, dtype=d) if len(a) else np.zeros(0, d) for a, d in  # no copy: views of the arrays
                     ((a_row, np.int32), (a_sv, np.int8), (a_sp, np.int8), (a_key, np.uint64))))
    return StreamPlan(path, root_n, surveys, seen, cols, [], rejects, nrej)


def drop_duplicates(plan: StreamPlan, need_path: bool, keep_rejects: bool) -> np.ndarray:
    """Mask of the columns that are not duplicates (module docstring, step 2)."""
    c = plan.cols
    n = len(c.row)
    valid = np.ones(n, bool)
    if n < 2:
        return valid
    truth = _TRUTH[c.split].astype(np.int8)
    order = np.lexsort((c.row, c.key, truth, c.survey))
    same = (np.diff(c.key[order]) == 0) & (np.diff(truth[order]) == 0) & (np.diff(c.survey[order]) == 0)
    cand = np.zeros(n, bool)
    cand[order[1:][same]] = True
    cand[order[:-1][same]] = True
    idx = np.flatnonzero(cand)  # in catalog order
    if not len(idx):
        return valid
    got = {}
    for k, oid, p, _, _ in _stream(plan, c.row[idx], need_path):
        got[int(c.row[idx[k]])] = (oid, p)
    first: dict = {}
    for i in idx:
        oid, p = got[int(c.row[i])]
        survey, split = plan.surveys[c.survey[i]], SPLITS[c.split[i]]
        key = (survey, oid, bool(truth[i]))
        if key in first:
            valid[i] = False
            plan.nrejects += 1
            if keep_rejects:
                plan.rejects.append(quarantine_entry(R.DUPLICATE_ID.format(survey=survey, row=first[key]),
                                                     int(c.row[i]), oid, survey, split, p))
        else:
            first[key] = int(c.row[i])
    return valid


def make_jobs(plan: StreamPlan, valid: np.ndarray) -> list[tuple[int, int, str]]:
    """The jobs (module docstring, step 3); returns the column indices of pairing rejects, with
    the survey they miss: (column, other survey index, split)."""
    c, (x, y) = plan.cols, (0, 1)
    jobs, orphans = [], []
    for s in (x, y):
        jobs.append(PlanJob("unpaired", (plan.surveys[s],),
                            np.flatnonzero(valid & (c.split == 0) & (c.survey == s))[:, None]))
    for k, sp in enumerate(SPLITS[1:], start=1):
        xi = np.flatnonzero(valid & (c.split == k) & (c.survey == x))
        yi = np.flatnonzero(valid & (c.split == k) & (c.survey == y))
        ys = yi[np.argsort(c.key[yi], kind="stable")]
        pos = np.searchsorted(c.key[ys], c.key[xi])
        pos = np.minimum(pos, max(len(ys) - 1, 0))
        hit = (c.key[ys][pos] == c.key[xi]) if len(ys) else np.zeros(len(xi), bool)
        members = np.stack([xi[hit], ys[pos[hit]]], axis=1) if hit.any() else np.zeros((0, 2), np.int64)
        paired_y = np.zeros(len(c.row), bool)
        paired_y[members[:, 1]] = True
        orphans += [(int(i), y, sp) for i in xi[~hit]] + [(int(i), x, sp) for i in yi if not paired_y[i]]
        job = PlanJob(sp, plan.surveys, members)
        if len(members) or len(xi) or len(yi):
            jobs.append(job)
    plan.jobs = [j for j in jobs if len(j.members) or j.split != "unpaired"]  # a paired job with rows stays
    return orphans


STAT_BATCH = 4096  # paths stat-ed per bounded call (a hung mount costs one timeout per batch)


def _sizes(paths: list[str]) -> list[int]:
    """Sizes of the files (0 for one that cannot be stat-ed), in the bounded worker thread."""
    out = []
    for p in paths:
        try:
            out.append(os.stat(p).st_size)
        except OSError:
            out.append(0)
    return out


def file_sizes(paths: list[str], timeout_s: float) -> list[int]:
    """:func:`_sizes` under :func:`hpcgan.io.fileio.bounded`: all 0 past the timeout (the files are
    then quarantined when read; the sizes only balance the work)."""
    try:
        return bounded(_sizes, paths, timeout_s=timeout_s)
    except FileProblem:
        return [0] * len(paths)


def weights(plan: StreamPlan, bands: dict[str, tuple[str, ...]], timeout_s: float, rank: int, size: int,
            need_path: bool, comm) -> np.ndarray:
    """Every unit's weight, all jobs in order (module docstring, step 4): this rank stats the
    units ``[rank * n / size, (rank + 1) * n / size)`` of the jobs' concatenation."""
    n = sum(len(j.members) for j in plan.jobs)
    lo, hi = rank * n // size, (rank + 1) * n // size
    blocks, pos = [], 0  # this rank's units, per job: (column indices (units, width))
    for j in plan.jobs:
        a, b = max(lo - pos, 0), min(hi - pos, len(j.members))
        if b > a:
            blocks.append(j.members[a:b])
        pos += len(j.members)
    rows = [plan.cols.row[m] for m in blocks]
    wanted = np.unique(np.concatenate([r.ravel() for r in rows])) if blocks else np.zeros(0, np.int32)
    w_row = np.zeros(len(wanted), np.int64)
    batch: list[tuple[int, str]] = []  # (position in wanted, file path)

    def flush():
        for (k, _), size in zip(batch, file_sizes([q for _, q in batch], timeout_s)):
            w_row[k] += size + 65536  # bytes to read plus a per-file cost (an open ~ 64 KiB of reading)
        batch.clear()
    for k, _, p, _, _ in _stream(plan, wanted, need_path):
        full = os.path.normpath(os.path.join(plan.root, p))
        bs = bands[_survey_of(plan, wanted[k])]
        batch += [(k, full.replace("{band}", b)) for b in bs] if "{band}" in full else [(k, full)]
        if len(batch) >= STAT_BATCH:
            flush()
    flush()
    mine = np.concatenate([w_row[np.searchsorted(wanted, r)].sum(axis=1) for r in rows]) if blocks \
        else np.zeros(0, np.int64)
    return np.concatenate([np.asarray(a, np.int64) for a in comm.allgather(mine)])


def _survey_of(plan: StreamPlan, row: int) -> str:
    i = int(np.searchsorted(plan.cols.row, row))
    return plan.surveys[plan.cols.survey[i]]


def hold_rows(plan: StreamPlan, parts: list[tuple[PlanJob, int, int]], orphans: list, keep_rejects: bool,
              need_path: bool) -> None:
    """Pass 3: the strings of this rank's rows (and, on rank 0, the pairing rejects' entries)."""
    own = [j.members[lo:hi].ravel() for j, lo, hi in parts]
    own_cols = np.concatenate(own) if own else np.zeros(0, np.int64)
    orphan_cols = np.array([o[0] for o in orphans], np.int64) if keep_rejects and orphans else np.zeros(0, np.int64)
    plan.own_rows = np.unique(plan.cols.row[own_cols])
    wanted = np.unique(np.concatenate([plan.own_rows, plan.cols.row[orphan_cols]]))
    held = np.isin(wanted, plan.own_rows)
    by_orphan = {int(plan.cols.row[c]): (c, other, sp) for c, other, sp in orphans} if keep_rejects else {}
    for k, oid, p, ra, dec in _stream(plan, wanted, need_path):
        row = int(wanted[k])
        if held[k]:
            plan.oids.append(oid)
            plan.paths.append(p)  # as written (relative): joined to the root when the Row is built
            plan.radec.extend((float(ra), float(dec)))  # checked in the scan: numbers
        if row in by_orphan:
            c, other, sp = by_orphan[row]
            plan.rejects.append(quarantine_entry(R.NO_COUNTERPART.format(other=plan.surveys[other], split=sp), row,
                                                 oid, plan.surveys[plan.cols.survey[c]], sp,
                                                 os.path.normpath(os.path.join(plan.root, p)) if p else ""))
    plan.nrejects += len(orphans)


class Units:
    """A job part's units as :class:`~hpcgan.io.shard_writer.Row` tuples, built on demand (a batch
    at a time) from the compact plan; slicing gives a view."""

    def __init__(self, plan: StreamPlan, members: np.ndarray):
        self.plan, self.members = plan, members

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, s: slice) -> "Units":
        if not isinstance(s, slice):
            raise TypeError("Units supports slices only")
        return Units(self.plan, self.members[s])

    def _row(self, c: int) -> Row:
        p, cols = self.plan, self.plan.cols
        k = int(np.searchsorted(p.own_rows, cols.row[c]))
        path = p.paths[k]
        return Row(int(cols.row[c]), p.oids[k], p.surveys[cols.survey[c]], SPLITS[cols.split[c]],
                   os.path.normpath(os.path.join(p.root, path)) if path else "", p.radec[2 * k], p.radec[2 * k + 1])

    def __iter__(self):
        for m in self.members:
            unit = tuple(self._row(int(c)) for c in m)
            if len(unit) > 1 and any(r.object_id != unit[0].object_id for r in unit):
                raise RuntimeError(f"object_id hash collision pairs {unit[0].object_id!r} (row {unit[0].row}) with "
                                   f"{unit[1].object_id!r} (row {unit[1].row}); rename one")
            yield unit


def build(path: Path, root: str, surveys: tuple[str, ...], bands: dict[str, tuple[str, ...]], timeout_s: float,
          comm, need_path: bool = True) -> tuple[StreamPlan, list[tuple[PlanJob, int, int]]]:
    """The whole streamed plan on this rank: (plan, [(job, lo, hi)] of this rank's parts). A
    CatalogError on any rank is raised on all of them."""
    from hpcgan.io.reasons import CatalogError

    keep = comm.rank == 0
    plan, err = None, None
    try:
        plan = scan(Path(path), root, surveys, need_path, keep)
    except CatalogError as e:
        err = str(e)
    errors = [e for e in comm.allgather(err) if e]
    if errors:
        raise CatalogError(errors[0])
    valid = drop_duplicates(plan, need_path, keep)
    orphans = make_jobs(plan, valid)
    w = weights(plan, bands, timeout_s, comm.rank, comm.size, need_path, comm)
    parts, pos = [], 0
    for j in plan.jobs:
        lo, hi = partition(w[pos:pos + len(j.members)], comm.size)[comm.rank]
        pos += len(j.members)
        parts.append((j, lo, hi))
    hold_rows(plan, parts, orphans, keep, need_path)
    return plan, parts
