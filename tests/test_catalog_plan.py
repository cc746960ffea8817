"""The streamed catalog plan (preprocess/plan.py, #20 item 8) gives the in-memory plan's units,
order and quarantine, keeps no strings but its own rows', and compares object_ids exactly where
their hashes collide."""
from __future__ import annotations

import numpy as np
import pytest

import preprocess.plan as P
from hpcgan.dist.comm import Comm
from preprocess.catalog import plan_jobs, read_catalog

COLS = "object_id,survey,split,path,ra,dec"
SURVEYS = ("sdss", "cfht")
BANDS = {"sdss": tuple("ugriz"), "cfht": tuple("ugriz")}


def _catalog(tmp_path) -> str:
    lines = [COLS]
    for k in range(6):
        lines.append(f"u{k},sdss,unpaired,sdss/u{k}.fits,150,2")
        lines.append(f"v{k},cfht,unpaired,cfht/v{k}.fits,150,2")
    for k in range(5):  # p3 has no cfht twin, q9 no sdss one
        if k != 3:
            lines.append(f"p{k},cfht,paired-train,cfht/p{k}.fits,150,2")
        lines.append(f"p{k},sdss,paired-train,sdss/p{k}.fits,150,2")
        lines.append(f"p{k},sdss,paired-train-truth,sdss/t{k}.fits,150,2")
        lines.append(f"p{k},cfht,paired-train-truth,cfht/t{k}.fits,150,2")
    lines += ["q9,cfht,paired-test,cfht/q9.fits,150,2", "u1,sdss,paired-test,sdss/dup.fits,150,2",
              "bad,sdss,unpaired,../x.fits,150,2", "z,sdss,nosplit,z.fits,150,2", "w,sdss,unpaired,w.fits,1,95",
              "u2,sdss,unpaired,sdss/dup2.fits,150,2", "", "e,sdss,unpaired,e.fits,150"]
    (tmp_path / "cat.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "sdss").mkdir()
    (tmp_path / "sdss/u0.fits").write_bytes(b"x" * 5000)
    return str(tmp_path / "cat.csv")


def _rows(units) -> list[tuple]:
    return [tuple((r.row, r.object_id, r.survey, r.split, r.path, r.ra, r.dec) for r in u) for u in units]


def _same_as_in_memory(tmp_path):
    cat = _catalog(tmp_path)
    rows, rejects, seen = read_catalog(cat, tmp_path, SURVEYS)
    jobs, pair_rejects = plan_jobs(rows, SURVEYS)
    plan, parts = P.build(cat, str(tmp_path), SURVEYS, BANDS, 0.0, Comm())
    assert plan.seen == seen
    assert [j.key for j, _, _ in parts] == [j.key for j in jobs]
    for (pj, lo, hi), j in zip(parts, jobs):
        assert (lo, hi) == (0, len(j.units))
        assert _rows(P.Units(plan, pj.members[lo:hi])) == _rows(j.units), j.key
        assert _rows(P.Units(plan, pj.members)[1:3]) == _rows(j.units[1:3])
    key = lambda q: (q["row"], q["survey"], q["reason"], q["object_id"], q["path"])  # noqa: E731
    assert sorted(map(key, plan.rejects)) == sorted(map(key, rejects + pair_rejects))
    assert plan.nrejects == len(rejects + pair_rejects)
    return plan


def test_streamed_plan_equals_in_memory_plan(tmp_path):
    plan = _same_as_in_memory(tmp_path)
    held = sum(j.members.size for j in plan.jobs)  # one rank: it holds every row of a unit, and only those
    assert len(plan.oids) == len(plan.own_rows) == held < len(plan.cols.row)
    assert plan.cols.key.dtype == np.uint64 and plan.cols.row.dtype == np.int32  # 14 bytes a row


def test_hash_collisions_are_resolved_exactly(tmp_path, monkeypatch):
    """With a hash that collides everywhere (length of the id), duplicates are still exact."""
    monkeypatch.setattr(P, "oid_hash", lambda s: len(s))
    cat = tmp_path / "cat.csv"
    cat.write_text(COLS + "\n" + "".join(f"{o},sdss,unpaired,{o}.fits,150,2\n" for o in ("a", "b", "a", "cc", "b")))
    plan, parts = P.build(cat, str(tmp_path), SURVEYS, BANDS, 0.0, Comm())
    (job, lo, hi), = parts
    assert [u[0].object_id for u in P.Units(plan, job.members)] == ["a", "b", "cc"]
    assert sorted((q["row"], q["reason"]) for q in plan.rejects) == [
        (3, "duplicate object_id in sdss (first at row 1)"), (5, "duplicate object_id in sdss (first at row 2)")]


def test_pairing_collision_stops_never_pairs(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "oid_hash", lambda s: 7)
    cat = tmp_path / "cat.csv"
    cat.write_text(COLS + "\na,sdss,paired-train,a.fits,150,2\nb,cfht,paired-train,b.fits,150,2\n")
    plan, parts = P.build(cat, str(tmp_path), SURVEYS, BANDS, 0.0, Comm())
    (job, lo, hi), = parts
    with pytest.raises(RuntimeError, match="object_id hash collision pairs 'a' .* with 'b'"):
        list(P.Units(plan, job.members))


def test_weights_are_the_files_sizes(tmp_path):
    cat = _catalog(tmp_path)
    plan, _ = P.build(cat, str(tmp_path), SURVEYS, BANDS, 0.0, Comm())
    w = P.weights(plan, BANDS, 0.0, 0, 1, True, Comm())
    assert w[0] == 5000 + 65536 and set(w[1:6]) == {65536}
