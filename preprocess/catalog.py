"""The input catalog (CSV or FITS table, columns in docs/formats.md) and the work plan built from it.

A catalog that cannot be used at all (missing, empty, not a regular file, no header line, a
required column missing, an unreadable FITS table) raises :class:`CatalogError`. Row-level problems
are decided here, identically on every rank (pure functions of the catalog text): unreadable
rows, unknown survey or split, duplicate ``object_id`` within a survey, paths escaping the data
root (lexically; symlinks are checked when the file is read), paired objects without a
counterpart. Each becomes a quarantine entry with a one-line reason (:mod:`hpcgan.io.reasons`).

The plan is a list of *jobs*, one per output folder set: ``unpaired`` per survey, and one job per
paired split covering both surveys. A job's *units* are objects: one row for unpaired data, an
(X row, Y row) pair for paired data, so one rank reads both members of a pair and the two surveys'
shards keep the same object order (a pair rejected in one survey is dropped in the other too).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.fileio import FileProblem, regular_fd
from hpcgan.io.reasons import CatalogError
from hpcgan.io.shard_writer import Job, Row, quarantine_entry

SPLITS = ("unpaired", "paired-train", "paired-test", "paired-train-truth", "paired-test-truth")  # *-truth: noise-free twins
REQUIRED = ("object_id", "survey", "split", "path", "ra", "dec")
CHUNK_ROWS = 65536  # FITS catalogs: rows converted at a time


def iter_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str] | None, str]]]:
    """(header, iterator of (row number, fields or None, error)) of a CSV or FITS table, streamed:
    a CSV is read line by line (a UTF-8 BOM, as spreadsheets write it, is dropped), a FITS table in
    chunks of :data:`CHUNK_ROWS` rows from a memory map; CatalogError when it cannot be used at all."""
    try:
        with regular_fd(str(path)) as (fd, size):
            if size == 0:
                raise FileProblem(R.EMPTY_FILE)
            f = os.fdopen(os.dup(fd), "r", encoding="utf-8-sig", errors="replace", newline="")
    except FileProblem as e:
        raise CatalogError(f"catalog {path}: {e}") from None
    if path.suffix.lower() in (".fits", ".fit", ".fts") or path.name.lower().endswith(".fits.gz"):
        f.close()
        return _fits_rows(path)
    reader = csv.reader(f)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as e:
        f.close()
        raise CatalogError(f"catalog {path}: no readable header line ({e or 'no lines'})") from None
    return header, _csv_rows(reader, f)


def _csv_rows(reader, f) -> Iterator[tuple[int, list[str] | None, str]]:
    i = 0
    try:
        while True:
            i += 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                yield i, None, R.CSV_ERROR.format(error=e)
                continue
            if not fields or all(not x.strip() for x in fields):
                i -= 1  # blank line: not a row
                continue
            yield i, fields, ""
    finally:
        f.close()


def _fits_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str], str]]]:
    import warnings

    from astropy.table import Table
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = Table.read(str(path), format="fits", memmap=not path.name.lower().endswith(".gz"))
    except Exception as e:  # astropy raises many types for a bad table
        raise CatalogError(f"catalog {path}: unreadable FITS table ({type(e).__name__}: "
                           f"{(str(e).splitlines() or [''])[0][:120]})") from None
    header = list(t.colnames)

    def rows():
        for start in range(0, len(t), CHUNK_ROWS):
            for i, r in enumerate(t[start:start + CHUNK_ROWS], start=start + 1):
                vals = []
                for c in header:
                    v = r[c]
                    v = v.decode() if isinstance(v, bytes) else v
                    vals.append("" if np.ma.is_masked(v) else str(v).strip())
                yield i, vals, ""
    return header, rows()


def columns_of(path: Path, header: list[str], need_path: bool) -> dict[str, int]:
    """Column name -> index of the required columns; CatalogError naming the missing ones."""
    missing = [c for c in REQUIRED if c not in header and (need_path or c != "path")]
    if missing:
        raise CatalogError(f"catalog {path}: missing column(s) {', '.join(missing)}; has "
                           f"{', '.join(header)[:200] or 'none'}")
    return {c: header.index(c) for c in REQUIRED if c in header}


def check_row(i: int, fields: list[str] | None, err: str, nheader: int, col: dict[str, int], root_n: str,
              surveys: tuple[str, ...], need_path: bool) -> dict | tuple[str, str, str, str, float, float]:
    """One row's checks short of duplicates: a quarantine entry, or (object_id, survey, split,
    absolute path, ra, dec). The escape check is lexical (``..`` and absolute paths on the text)."""
    get = (lambda c: fields[col[c]].strip() if fields is not None and col.get(c, len(fields)) < len(fields) else "")
    oid, survey, split, p = get("object_id"), get("survey"), get("split"), get("path")
    q = dict(row=i, object_id=oid, survey=survey, split=split, path=p)
    if err or fields is None:
        return quarantine_entry(err, **q)
    if len(fields) != nheader:
        return quarantine_entry(R.FIELD_COUNT.format(n=len(fields), header=nheader), **q)
    try:
        ra, dec = float(get("ra")), float(get("dec"))
        if not (np.isfinite(ra) and np.isfinite(dec) and -90 <= dec <= 90):
            raise ValueError
    except ValueError:
        return quarantine_entry(R.BAD_RADEC.format(ra=repr(get("ra")), dec=repr(get("dec"))), **q)
    if not oid or (need_path and not p):
        return quarantine_entry(R.EMPTY_ID, **q)
    if survey not in surveys:
        return quarantine_entry(R.UNKNOWN_SURVEY.format(survey=repr(survey), allowed=list(surveys)), **q)
    if split not in SPLITS:
        return quarantine_entry(R.UNKNOWN_SPLIT.format(split=repr(split), allowed=list(SPLITS)), **q)
    full = os.path.normpath(os.path.join(root_n, p)) if p else ""
    if p and not (full + os.sep).startswith(root_n.rstrip(os.sep) + os.sep):
        return quarantine_entry(R.ESCAPES_ROOT.format(root=root_n), **q)
    return oid, survey, split, full, ra, dec


def read_catalog(path: str | Path, root: str | Path, surveys: tuple[str, ...],
                 need_path: bool = True) -> tuple[list[Row], list[dict], int]:
    """Valid rows, quarantine entries for the others, and the number of rows seen (all in memory;
    preprocess.plan streams large catalogs).

    ``need_path=False`` (``preprocess.source: frames``): an object catalog, no ``path`` column needed.
    """
    path = Path(path)
    header, raw = iter_rows(path)
    col = columns_of(path, header, need_path)
    root_n = os.path.normpath(os.path.abspath(root))
    good, bad, first, seen = [], [], {}, 0
    for i, fields, err in raw:
        seen += 1
        got = check_row(i, fields, err, len(header), col, root_n, surveys, need_path)
        if isinstance(got, dict):
            bad.append(got)
            continue
        oid, survey, split, full, ra, dec = got
        key = (survey, oid, split.endswith("-truth"))  # a noise-free twin shares its stamp's object_id
        if key in first:
            p = fields[col["path"]].strip() if "path" in col else ""
            bad.append(quarantine_entry(R.DUPLICATE_ID.format(survey=survey, row=first[key]), i, oid, survey, split, p))
            continue
        first[key] = i
        good.append(Row(i, oid, survey, split, full, ra, dec))
    return good, bad, seen


def plan_jobs(rows: list[Row], surveys: tuple[str, str]) -> tuple[list[Job], list[dict]]:
    """Jobs in a fixed order (unpaired X, unpaired Y, paired-train, paired-test) + pairing rejects."""
    jobs = [Job("unpaired", (s,)) for s in surveys] + [Job(sp, surveys) for sp in SPLITS[1:]]
    bad = []
    for job in jobs[:2]:
        job.units = [(r,) for r in rows if r.split == "unpaired" and r.survey == job.surveys[0]]
    for job in jobs[2:]:
        by = {s: {} for s in surveys}
        for r in rows:
            if r.split == job.split:
                by[r.survey][r.object_id] = r
        x, y = surveys
        for r in rows:  # order: the X rows' catalog order
            if r.split == job.split and r.survey == x and r.object_id in by[y]:
                job.units.append((r, by[y][r.object_id]))
        for s, other in ((x, y), (y, x)):
            for oid, r in by[s].items():
                if oid not in by[other]:
                    bad.append(quarantine_entry(R.NO_COUNTERPART.format(other=other, split=job.split),
                                                r.row, oid, s, job.split, r.path))
    return [j for j in jobs if j.units or any(r.split == j.split and r.survey in j.surveys for r in rows)], bad


def partition(weights: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Contiguous parts ``[lo, hi)`` of the units, one per rank, balanced by cumulative weight.

    Unit ``i`` goes to the rank whose share of the total holds its weight's midpoint, so parts are
    contiguous, deterministic, and differ by at most about one unit's weight.
    """
    n = len(weights)
    if n == 0:
        return [(0, 0)] * size
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w)
    total = cum[-1]
    owner = np.minimum((cum - w / 2) * size // total, size - 1).astype(np.int64) if total > 0 else \
        (np.arange(n) * size // n)
    bounds = np.searchsorted(owner, np.arange(size + 1), side="left")
    return [(int(bounds[r]), int(bounds[r + 1])) for r in range(size)]
