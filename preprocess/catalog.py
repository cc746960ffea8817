"""The input catalog (CSV or FITS table, columns in docs/formats.md) and the work plan built from it.

Catalog-level problems are decided here, identically on every rank (pure functions of the catalog
text): unreadable rows, unknown survey or split, duplicate ``object_id`` within a survey, paths
escaping the data root (lexically; symlinks are checked when the file is read), paired objects
without a counterpart. Each becomes a quarantine entry with a one-line reason.

The plan is a list of *jobs*, one per output folder set: ``unpaired`` per survey, and one job per
paired split covering both surveys. A job's *units* are objects: one row for unpaired data, an
(X row, Y row) pair for paired data, so one rank reads both members of a pair and the two surveys'
shards keep the same object order (a pair rejected in one survey is dropped in the other too).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLITS = ("unpaired", "paired-train", "paired-test", "paired-train-truth", "paired-test-truth")  # *-truth: noise-free twins
REQUIRED = ("object_id", "survey", "split", "path", "ra", "dec")


@dataclass(frozen=True)
class Row:
    row: int  # 1-based data row number in the catalog
    object_id: str
    survey: str
    split: str
    path: str  # absolute, normalised; may hold '{band}'
    ra: float
    dec: float


@dataclass
class Job:
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


def _raw_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str] | None, str]]]:
    """(header, [(row number, fields or None, error)]) from a CSV or a FITS table."""
    if path.suffix.lower() in (".fits", ".fit", ".fts") or path.name.lower().endswith(".fits.gz"):
        import warnings

        from astropy.table import Table
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = Table.read(path, format="fits", memmap=False)
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
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return [], []
        i = 0
        while True:
            i += 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                rows.append((i, None, f"unreadable catalog row ({e})"))
                continue
            if not fields or all(not x.strip() for x in fields):
                i -= 1  # blank line: not a row
                continue
            rows.append((i, fields, ""))
    return header, rows


def read_catalog(path: str | Path, root: str | Path, surveys: tuple[str, ...]) -> tuple[list[Row], list[dict], int]:
    """Valid rows, quarantine entries for the others, and the number of rows seen."""
    path = Path(path)
    header, raw = _raw_rows(path)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValueError(f"catalog {path}: missing column(s) {missing}; has {header}")
    col = {c: header.index(c) for c in REQUIRED}
    root_n = os.path.normpath(os.path.abspath(root))
    good, bad, first = [], [], {}
    for i, fields, err in raw:
        get = (lambda c: fields[col[c]].strip() if fields is not None and col[c] < len(fields) else "")
        oid, survey, split, p = get("object_id"), get("survey"), get("split"), get("path")
        q = dict(row=i, object_id=oid, survey=survey, split=split, path=p)
        if err or fields is None:
            bad.append(quarantine_entry(err or "unreadable catalog row", **q))
            continue
        if len(fields) != len(header):
            bad.append(quarantine_entry(f"unreadable catalog row: {len(fields)} fields, header has {len(header)}", **q))
            continue
        try:
            ra, dec = float(get("ra")), float(get("dec"))
            if not (np.isfinite(ra) and np.isfinite(dec) and -90 <= dec <= 90):
                raise ValueError
        except ValueError:
            bad.append(quarantine_entry(f"unreadable catalog row: bad ra/dec {get('ra')!r}, {get('dec')!r}", **q))
            continue
        if not oid or not p:
            bad.append(quarantine_entry("unreadable catalog row: empty object_id or path", **q))
            continue
        if survey not in surveys:
            bad.append(quarantine_entry(f"unreadable catalog row: unknown survey {survey!r}; allowed: {list(surveys)}", **q))
            continue
        if split not in SPLITS:
            bad.append(quarantine_entry(f"unreadable catalog row: unknown split {split!r}; allowed: {list(SPLITS)}", **q))
            continue
        full = os.path.normpath(os.path.join(root_n, p))
        if not (full + os.sep).startswith(root_n.rstrip(os.sep) + os.sep):
            bad.append(quarantine_entry(f"path escapes the data root {root_n}", **q))
            continue
        key = (survey, oid, split.endswith("-truth"))  # a noise-free twin shares its stamp's object_id
        if key in first:
            bad.append(quarantine_entry(f"duplicate object_id in {survey} (first at row {first[key]})", **q))
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
                    bad.append(quarantine_entry(f"paired object has no {other} row in split {job.split}",
                                                r.row, oid, s, job.split, r.path))
    return [j for j in jobs if j.units or any(r.split == j.split and r.survey in j.surveys for r in rows)], bad


def unit_weight(unit: tuple[Row, ...], bands: dict[str, tuple[str, ...]]) -> int:
    """Bytes to read for a unit, plus a per-file overhead (an open costs like ~64 KiB of reading)."""
    w = 0
    for r in unit:
        paths = [r.path.replace("{band}", b) for b in bands[r.survey]] if "{band}" in r.path else [r.path]
        for p in paths:
            try:
                w += os.stat(p).st_size
            except OSError:
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
