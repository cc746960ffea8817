"""``hpcgan match``: pair two survey catalogs by position into the catalog preprocess reads.

    hpcgan match --x sdss.fits --y cfht.csv --out runs/match --max-sep 1.0 match.y.ra=ALPHA_J2000 ...

1. *Read* ``match.x.catalog`` (the survey ``data.x.name``) and ``match.y.catalog`` (CSV or FITS
   table, astropy ``Table.read``), taking the columns ``match.<side>.id``/``ra``/``dec`` (degrees)
   and, if set, ``path`` (copied verbatim: set ``preprocess.data_root`` to what they are relative to).
2. *Match*: every X object's nearest Y object (astropy ``SkyCoord.match_to_catalog_sky``) within
   ``match.max_sep_arcsec``; one-to-one: when several X objects have the same nearest Y object the
   closest wins, the others stay unpaired. Rows with non-finite coordinates match nothing.
3. *Split*: the pairs are shuffled with ``match.seed``; a ``match.paired_test_fraction`` share is
   ``paired-test``, the rest ``paired-train``; everything unmatched is ``unpaired``.
4. *Write* ``OUT/catalog.csv`` (docs/formats.md): ``object_id``, ``survey``, ``split``, ``path``,
   ``ra``, ``dec``, ``source_id`` (the survey's own id), ``sep_arcsec`` (pairs). A pair's
   ``object_id`` is ``<x id>~<y id>`` in both surveys' rows (unique per survey, as preprocess
   requires); an unpaired row keeps its own id. ``OUT/match.json``: counts and separations.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcgan.config import ConfigError
from hpcgan.config.schema import Config, MatchSideCfg
from hpcgan.log import get_logger

log = get_logger(__name__)
COLUMNS = ("object_id", "survey", "split", "path", "ra", "dec", "source_id", "sep_arcsec")


@dataclass
class Side:
    """One survey's catalog: ids, positions (deg) and stamp paths."""
    survey: str
    ids: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    paths: np.ndarray


def read_side(side: MatchSideCfg, survey: str, key: str) -> Side:
    """The catalog of one side; ConfigError (one line) when it cannot be used."""
    from astropy.table import Table

    if not side.catalog:
        raise ConfigError(f"{key}.catalog: not set (a CSV or FITS table with {side.id}, {side.ra}, {side.dec})")
    p = Path(side.catalog)
    fmt = "ascii.csv" if p.suffix.lower() in (".csv", ".txt") else None
    try:
        t = Table.read(p, format=fmt)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{key}.catalog {p}: {' '.join(str(e).split())[:160]}") from None
    cols = [side.id, side.ra, side.dec] + ([side.path] if side.path else [])
    missing = [c for c in cols if c not in t.colnames]
    if missing:
        raise ConfigError(f"{key}.catalog {p}: no column(s) {', '.join(missing)}; it has {', '.join(t.colnames[:20])}")
    n = len(t)

    def deg(c: str) -> np.ndarray:
        try:
            return np.asarray(np.ma.filled(t[c], np.nan), dtype=np.float64).reshape(n)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}.catalog {p}: column {c} is not numeric degrees") from None
    ids = np.array([str(v).strip() for v in t[side.id]], dtype=object)
    paths = np.array([str(v).strip() for v in t[side.path]] if side.path else [""] * n, dtype=object)
    return Side(survey, ids, deg(side.ra), deg(side.dec), paths)


def match(x: Side, y: Side, max_sep_arcsec: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X rows, Y rows, separations in arcsec) of the one-to-one pairs, in X row order."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    okx = np.flatnonzero(np.isfinite(x.ra) & np.isfinite(x.dec) & (np.abs(x.dec) <= 90))
    oky = np.flatnonzero(np.isfinite(y.ra) & np.isfinite(y.dec) & (np.abs(y.dec) <= 90))
    if not len(okx) or not len(oky):
        return np.empty(0, int), np.empty(0, int), np.empty(0)
    cx = SkyCoord(x.ra[okx] * u.deg, x.dec[okx] * u.deg)
    cy = SkyCoord(y.ra[oky] * u.deg, y.dec[oky] * u.deg)
    j, sep, _ = cx.match_to_catalog_sky(cy)
    sep = sep.to_value(u.arcsec)
    close = np.flatnonzero(sep <= max_sep_arcsec)
    order = close[np.lexsort((sep[close], j[close]))]  # by Y object, closest first
    _, first = np.unique(j[order], return_index=True)
    win = np.sort(order[first])
    return okx[win], oky[j[win]], sep[win]


def splits(n_pairs: int, test_fraction: float, seed: int) -> np.ndarray:
    """Each pair's split: a seeded ``test_fraction`` share paired-test, the rest paired-train."""
    test = np.zeros(n_pairs, bool)
    test[np.random.default_rng(seed).permutation(n_pairs)[:int(round(test_fraction * n_pairs))]] = True
    return np.where(test, "paired-test", "paired-train")


def catalog_text(x: Side, y: Side, ix: np.ndarray, iy: np.ndarray, sep: np.ndarray, split: np.ndarray) -> str:
    """The CSV preprocess reads (columns :data:`COLUMNS`): X rows, then Y rows, pairs first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for side, rows in ((x, ix), (y, iy)):
        for k, (i, s) in enumerate(zip(rows, sep)):
            w.writerow([f"{x.ids[ix[k]]}~{y.ids[iy[k]]}", side.survey, split[k], side.paths[i], repr(float(side.ra[i])),
                        repr(float(side.dec[i])), side.ids[i], f"{s:.4f}"])
        paired = np.zeros(len(side.ids), bool)
        paired[rows] = True
        for i in np.flatnonzero(~paired):
            w.writerow([side.ids[i], side.survey, "unpaired", side.paths[i], repr(float(side.ra[i])),
                        repr(float(side.dec[i])), side.ids[i], ""])
    return buf.getvalue()


def run(cfg: Config) -> dict:
    """Match, split, write ``OUT/catalog.csv`` and ``OUT/match.json``; the summary."""
    from hpcgan.utils.atomic import atomic_write_text

    mc = cfg.match
    x = read_side(mc.x, cfg.data.x.name, "match.x")
    y = read_side(mc.y, cfg.data.y.name, "match.y")
    ix, iy, sep = match(x, y, mc.max_sep_arcsec)
    split = splits(len(ix), mc.paired_test_fraction, mc.seed)
    out = Path(mc.out)
    atomic_write_text(out / "catalog.csv", catalog_text(x, y, ix, iy, sep, split))
    summary = {"x": {"survey": x.survey, "catalog": mc.x.catalog, "rows": len(x.ids)},
               "y": {"survey": y.survey, "catalog": mc.y.catalog, "rows": len(y.ids)},
               "max_sep_arcsec": mc.max_sep_arcsec, "pairs": len(ix),
               "paired_train": int(np.sum(split == "paired-train")), "paired_test": int(np.sum(split == "paired-test")),
               "unpaired": {x.survey: len(x.ids) - len(ix), y.survey: len(y.ids) - len(iy)},
               "sep_arcsec": {"median": float(np.median(sep)), "max": float(sep.max())} if len(sep) else None,
               "seed": mc.seed, "catalog": str(out / "catalog.csv")}
    atomic_write_text(out / "match.json", json.dumps(summary, indent=1) + "\n")
    log.info("match: %d %s x %d %s rows -> %d pairs within %g\" (%d train, %d test), unpaired %d + %d -> %s",
             len(x.ids), x.survey, len(y.ids), y.survey, len(ix), mc.max_sep_arcsec, summary["paired_train"],
             summary["paired_test"], len(x.ids) - len(ix), len(y.ids) - len(iy), out / "catalog.csv")
    return summary
