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
import io
import os
from pathlib import Path

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.reasons import CatalogError
from hpcgan.io.fileio import FileProblem, bounded, read_regular
from hpcgan.io.shard_writer import Job, Row, quarantine_entry

SPLITS = ("unpaired", "paired-train", "paired-test", "paired-train-truth", "paired-test-truth")  # *-truth: noise-free twins
REQUIRED = ("object_id", "survey", "split", "path", "ra", "dec")


def _raw_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str] | None, str]]]:
    """(header, [(row number, fields or None, error)]) from a CSV or a FITS table."""
    try:
        buf = read_regular(str(path))
    except FileProblem as e:
        raise CatalogError(f"catalog {path}: {e}") from None
    if path.suffix.lower() in (".fits", ".fit", ".fts") or path.name.lower().endswith(".fits.gz"):
        import warnings

        from astropy.table import Table
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = Table.read(io.BytesIO(buf), format="fits", memmap=False)
        except Exception as e:  # astropy raises many types for a bad table
            raise CatalogError(f"catalog {path}: unreadable FITS table ({type(e).__name__}: "
                               f"{(str(e).splitlines() or [''])[0][:120]})") from None
        header = list(t.colnames)
        rows = []
        for i, r in enumerate(t, start=1):
            vals = []
            for c in header:
                v = r[c]
                v = v.decode() if isinstance(v, bytes) else v
                vals.append("" if np.ma.is_masked(v) else str(v).strip())
            rows.append((i, vals, ""))
        return header, rows
    rows = []
    reader = csv.reader(io.StringIO(buf.decode("utf-8-sig", errors="replace"), newline=""))  # utf-8-sig: a BOM (spreadsheets) is dropped
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as e:
        raise CatalogError(f"catalog {path}: no readable header line ({e or 'no lines'})") from None
    i = 0
    while True:
        i += 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            rows.append((i, None, R.CSV_ERROR.format(error=e)))
            continue
        if not fields or all(not x.strip() for x in fields):
            i -= 1  # blank line: not a row
            continue
        rows.append((i, fields, ""))
    return header, rows


def read_catalog(path: str | Path, root: str | Path, surveys: tuple[str, ...],
                 need_path: bool = True) -> tuple[list[Row], list[dict], int]:
    """Valid rows, quarantine entries for the others, and the number of rows seen.

    ``need_path=False`` (``preprocess.source: frames``): an object catalog, no ``path`` column needed.
    """
    path = Path(path)
    header, raw = _raw_rows(path)
    missing = [c for c in REQUIRED if c not in header and (need_path or c != "path")]
    if missing:
        raise CatalogError(f"catalog {path}: missing column(s) {', '.join(missing)}; has "
                           f"{', '.join(header)[:200] or 'none'}")
    col = {c: header.index(c) for c in REQUIRED if c in header}
    root_n = os.path.normpath(os.path.abspath(root))
    good, bad, first = [], [], {}
    for i, fields, err in raw:
        get = (lambda c: fields[col[c]].strip() if fields is not None and col.get(c, len(fields)) < len(fields) else "")
        oid, survey, split, p = get("object_id"), get("survey"), get("split"), get("path")
        q = dict(row=i, object_id=oid, survey=survey, split=split, path=p)
        if err or fields is None:
            bad.append(quarantine_entry(err, **q))
            continue
        if len(fields) != len(header):
            bad.append(quarantine_entry(R.FIELD_COUNT.format(n=len(fields), header=len(header)), **q))
            continue
        try:
            ra, dec = float(get("ra")), float(get("dec"))
            if not (np.isfinite(ra) and np.isfinite(dec) and -90 <= dec <= 90):
                raise ValueError
        except ValueError:
            bad.append(quarantine_entry(R.BAD_RADEC.format(ra=repr(get("ra")), dec=repr(get("dec"))), **q))
            continue
        if not oid or (need_path and not p):
            bad.append(quarantine_entry(R.EMPTY_ID, **q))
            continue
        if survey not in surveys:
            bad.append(quarantine_entry(R.UNKNOWN_SURVEY.format(survey=repr(survey), allowed=list(surveys)), **q))
            continue
        if split not in SPLITS:
            bad.append(quarantine_entry(R.UNKNOWN_SPLIT.format(split=repr(split), allowed=list(SPLITS)), **q))
            continue
        full = os.path.normpath(os.path.join(root_n, p)) if p else ""
        if p and not (full + os.sep).startswith(root_n.rstrip(os.sep) + os.sep):
            bad.append(quarantine_entry(R.ESCAPES_ROOT.format(root=root_n), **q))
            continue
        key = (survey, oid, split.endswith("-truth"))  # a noise-free twin shares its stamp's object_id
        if key in first:
            bad.append(quarantine_entry(R.DUPLICATE_ID.format(survey=survey, row=first[key]), **q))
            continue
        first[key] = i
        good.append(Row(i, oid, survey, split, full, ra, dec))
    return good, bad, len(raw)


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


def unit_weight(unit: tuple[Row, ...], bands: dict[str, tuple[str, ...]], timeout_s: float = 0.0) -> int:
    """Bytes to read for a unit, plus a per-file overhead (an open costs like ~64 KiB of reading).

    Each ``stat`` waits at most ``timeout_s`` (a hung mount must not stall the plan; the read will
    then quarantine the file).
    """
    w = 0
    for r in unit:
        paths = [r.path.replace("{band}", b) for b in bands[r.survey]] if "{band}" in r.path else [r.path]
        for p in paths:
            try:
                w += bounded(os.stat, p, timeout_s=timeout_s).st_size
            except (OSError, FileProblem):
                pass
            w += 65536
    return w


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
