"""hpcgan match: two synthetic catalogs (CSV and FITS table, other column names) with known pairs, a
decoy closer than max_sep that loses to the closest, one just too far; the output is the catalog
preprocess reads, split by a seeded fraction, and the stage is wired into the registry (#13 item 5)."""
from __future__ import annotations

import csv
import json

import numpy as np
from astropy.table import Table

from hpcgan.cli import main as hpcgan
from hpcgan.stages import STAGES, StageResult
from preprocess.catalog import plan_jobs, read_catalog


def _catalogs(tmp_path):
    rng = np.random.default_rng(3)
    n = 40
    ra, dec = 150 + rng.uniform(0, 0.2, n), 2 + rng.uniform(0, 0.2, n)
    xid = [f"s{i}" for i in range(n)]
    # X: 40 objects + a decoy 0.6" from object 0 (object 0's Y counterpart is 0.2" away: closest wins)
    xra, xdec = np.append(ra, ra[0] + 0.6 / 3600 / np.cos(np.radians(dec[0]))), np.append(dec, dec[0])
    xid.append("decoy")
    with open(tmp_path / "x.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["object_id", "ra", "dec", "path"])
        w.writerows([i, repr(float(r)), repr(float(d)), f"sdss/{i}_{{band}}.fits"] for i, r, d in zip(xid, xra, xdec))
    # Y: the first 25 within 0.2" (known pairs), object 30 at 1.5" (too far), 10 unrelated
    off = rng.normal(0, 0.1, (25, 2)) / 3600
    yra = np.concatenate([ra[:25] + off[:, 0] / np.cos(np.radians(dec[:25])), [ra[30] + 1.5 / 3600], 150.3 + rng.uniform(0, .1, 10)])
    ydec = np.concatenate([dec[:25] + off[:, 1], [dec[30]], 2.3 + rng.uniform(0, .1, 10)])
    yid = np.arange(1000, 1000 + len(yra))
    Table({"ID": yid, "ALPHA_J2000": yra, "DELTA_J2000": ydec}).write(tmp_path / "y.fits")
    return {(f"s{i}", str(1000 + i)) for i in range(25)}


def test_match_known_pairs_one_to_one_split_and_preprocess_reads_it(tmp_path):
    want = _catalogs(tmp_path)
    out = tmp_path / "m"
    args = ["match", "--x", str(tmp_path / "x.csv"), "--y", str(tmp_path / "y.fits"), "--out", str(out),
            "--max-sep", "1.0", "match.x.path=path", "match.y.id=ID", "match.y.ra=ALPHA_J2000",
            "match.y.dec=DELTA_J2000", "match.paired_test_fraction=0.4", "--result", str(tmp_path / "r.json")]
    assert hpcgan(args) == 0
    rows = list(csv.DictReader((out / "catalog.csv").open()))
    paired = [r for r in rows if r["split"] != "unpaired"]
    got = {tuple(r["object_id"].split("~")) for r in paired}
    assert got == want
    for oid in {r["object_id"] for r in paired}:  # the same id and split in both surveys
        both = [r for r in paired if r["object_id"] == oid]
        assert sorted(r["survey"] for r in both) == ["cfht", "sdss"] and len({r["split"] for r in both}) == 1
    assert sum(r["split"] == "paired-test" for r in paired) == 2 * 10  # round(0.4 * 25)
    unp = {r["source_id"] for r in rows if r["split"] == "unpaired"}
    assert {"decoy", "s30", "1025"} <= unp and len(unp) == (41 - 25) + (36 - 25)
    assert all(r["path"].startswith("sdss/") for r in rows if r["survey"] == "sdss")
    summary = json.loads((out / "match.json").read_text())
    assert summary["pairs"] == 25 and summary["sep_arcsec"]["max"] < 0.6
    # the same seed gives the same split; preprocess (source=frames: no paths needed) pairs every one
    first = (out / "catalog.csv").read_text()
    assert hpcgan(args[:-2]) == 0 and (out / "catalog.csv").read_text() == first
    cat, rejects, seen = read_catalog(out / "catalog.csv", str(tmp_path), ("sdss", "cfht"), need_path=False)
    jobs, pair_rejects = plan_jobs(cat, ("sdss", "cfht"))
    assert seen == 41 + 36 and not rejects and not pair_rejects
    assert sum(len(j.units) for j in jobs if j.split.startswith("paired")) == 25
    # chained: preprocess reads match's catalog from the result file
    res = {r["name"]: StageResult(**r) for r in json.loads((tmp_path / "r.json").read_text())}
    assert STAGES["preprocess"].reads(res) == [f'preprocess.catalog="{out / "catalog.csv"}"']


def test_match_refuses_a_missing_column_in_one_line(tmp_path, capsys):
    _catalogs(tmp_path)
    rc = hpcgan(["match", "--x", str(tmp_path / "x.csv"), "--y", str(tmp_path / "y.fits"), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "match.y.catalog" in err and "no column(s) object_id, ra, dec" in err and "\n" not in err
