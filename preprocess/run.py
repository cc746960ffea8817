"""The preprocess stage across MPI ranks: plan, split work by size, write shards, gather, manifest.

Every rank streams the catalog and builds the same plan (pure function of the catalog), keeping the
strings of its own rows only (:mod:`preprocess.plan`; ``source: frames`` holds the catalog whole);
ranks stat an equal share of the files each and all-gather the sizes; each job's units are cut into
contiguous, size-balanced parts, one per rank; each rank writes its parts independently (no parallel HDF5);
rank 0 gathers the parts' records and writes ``OUT/manifest.json`` atomically, after checking
``accepted + quarantined == seen``.

Before any work rank 0 takes OUT's lock (:mod:`hpcgan.utils.lock`; a second run on the same OUT
gets :data:`EXIT_LOCKED` on every rank), and every rank reads the catalog: a :class:`CatalogError`
on any rank is raised on all of them (the same message), so the caller can exit cleanly without
``MPI_Abort``. Any other failing rank aborts the whole job (``comm.fail``, in preprocess/cli.py).
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

import hpcgan
from hpcgan.astro.transforms import to_model_space
from hpcgan.config.loader import to_dict
from hpcgan.config.schema import Config
from hpcgan.dist.comm import Comm, get_comm
from hpcgan.io.open_fits import ReadLimits
from hpcgan.io.shard_writer import Job, JobPart, SurveyOut, bytes_needed, read_batches, write_manifest
from hpcgan.io.shards import FORMAT_VERSION
from hpcgan.io.stamp_policy import StampPolicy
from hpcgan.io.stamps import Target, read_stamp
from hpcgan.log import get_logger
from hpcgan.utils.atomic import digest, sha256_file
from hpcgan.utils.disk import check_space_on_ranks
from hpcgan.utils.lock import EXIT_LOCKED, lock_out, release
from preprocess.catalog import CatalogError, Row, partition, plan_jobs, read_catalog
from preprocess.plan import Units
from preprocess.plan import build as build_plan

log = get_logger(__name__)
EXIT_QUARANTINE = 3


def stored_config(cfg: Config) -> dict:
    """The settings that determine shard contents (paths and commit granularity left out)."""
    p = to_dict(cfg.preprocess)
    for k in ("catalog", "frames", "data_root", "out", "batch_size", "quarantine_max_frac", "read_timeout_s",
              "disk_check", "disk_margin", "section_read_mib"):
        p.pop(k)
    return {"preprocess": p, "data": {"x": to_dict(cfg.data.x), "y": to_dict(cfg.data.y),
                                      "pixel_transform": cfg.data.pixel_transform}}


def run(cfg: Config, comm: Comm | None = None) -> int:
    """Run the stage on this rank; returns the exit code (the same on every rank).

    Raises CatalogError on every rank or on none (see module docstring).
    """
    comm = comm or get_comm()
    out = Path(cfg.preprocess.out)
    if not lock_out(out, "preprocess", comm):
        return EXIT_LOCKED
    try:
        return _run(cfg, comm)
    finally:
        release(out)


def _read_catalog(cfg: Config, catalog: Path, root: str, comm: Comm) -> tuple[list[Row], list[dict], int, str]:
    """Every rank reads the catalog; a CatalogError on any rank is raised on all of them."""
    try:
        rows, rejects, seen = read_catalog(catalog, root, (cfg.data.x.name, cfg.data.y.name),
                                           need_path=cfg.preprocess.source == "stamps")
        err = None
    except CatalogError as e:
        err = str(e)
    errors = [e for e in comm.allgather(err) if e]
    if errors:
        raise CatalogError(errors[0])
    if comm.rank == 0 and seen == 0:
        log.warning("catalog %s has a header but no data rows (0 seen): nothing to preprocess", catalog)
    cat_sha = comm.bcast(sha256_file(catalog) if comm.rank == 0 else None)
    return rows, rejects, seen, cat_sha


def _run(cfg: Config, comm: Comm) -> int:
    rank, size = comm.rank, comm.size
    pc = cfg.preprocess
    t0 = time.perf_counter()
    catalog = Path(pc.catalog)
    root = os.path.abspath(pc.data_root or catalog.parent)
    out = Path(pc.out)
    surveys = {s.name: (tuple(s.bands), s.stamp_size, s.flux_scale) for s in (cfg.data.x, cfg.data.y)}
    bands = {k: v[0] for k, v in surveys.items()}
    frames = None
    if pc.source == "frames":  # cut-outs from survey frames (hpcgan/io/frames.py): units sorted by frame
        from hpcgan.io.frames import FrameReader, plan_frames, sort_jobs
        rows, rejects, seen, cat_sha = _read_catalog(cfg, catalog, root, comm)
        jobs, pair_rejects = plan_jobs(rows, (cfg.data.x.name, cfg.data.y.name))
        rejects += pair_rejects
        frames, picks = plan_frames(cfg, rows, comm)
        sort_jobs(jobs, picks)
        n = [len(j.units) for j in jobs]
        parts = [(Job(j.split, j.surveys, j.units[lo:hi]), lo, hi)
                 for j, k in zip(jobs, n) for lo, hi in [partition(np.ones(k, np.int64), size)[rank]]]
    else:  # streamed: per-rank memory ~34 bytes per catalog row plus its own rows (preprocess/plan.py)
        plan, plan_parts = build_plan(catalog, root, (cfg.data.x.name, cfg.data.y.name), bands, pc.read_timeout_s, comm)
        rejects, seen = plan.rejects, plan.seen
        if rank == 0 and seen == 0:
            log.warning("catalog %s has a header but no data rows (0 seen): nothing to preprocess", catalog)
        cat_sha = comm.bcast(sha256_file(catalog) if rank == 0 else None)
        parts = [(Job(j.split, j.surveys, Units(plan, j.members[lo:hi])), lo, hi) for j, lo, hi in plan_parts]
    attrs_common = {"format_version": FORMAT_VERSION, "catalog": catalog.name, "catalog_sha256": cat_sha,
                    "code_version": hpcgan.__version__, "config": stored_config(cfg)}
    if frames is not None:
        attrs_common["frames_sha256"] = comm.bcast(sha256_file(Path(pc.frames)) if rank == 0 else None)
    cfg_hash = digest(attrs_common)
    attrs_common["config_hash"] = cfg_hash
    attrs_common["config"] = json.dumps(attrs_common["config"], sort_keys=True)
    survey_attrs = {s: {"flux_scale_applied": flux if pc.apply_transform else 1.0,
                        "pixel_transform_applied": cfg.data.pixel_transform if pc.apply_transform else "none"}
                    for s, (_, _, flux) in surveys.items()}

    reader = _reader(cfg, root, surveys) if frames is None else FrameReader(cfg, frames, picks)
    policed = reader if frames is None else _with_policy(cfg, reader)  # stamps: inside _reader, before the transform
    jobparts = []
    for job, lo, hi in parts:
        plan_key = digest([cfg_hash, job.key, lo, hi, size, pc.batch_size])
        outs = [SurveyOut.at(out, s, *surveys[s][:2], job.split, rank, size) for s in job.surveys]
        jobparts.append(JobPart(job, 0, len(job.units), rank, size, out, outs, read_batches(policed, root, len(outs)),
                                attrs_common, survey_attrs, plan_key, pc.batch_size, pc.compression,
                                pc.compression_level))
    # what is still to write (finished parts: nothing), every rank together, against OUT's free space
    check_space_on_ranks(comm, out, bytes_needed(jobparts), pc.disk_margin, "preprocess", pc.disk_check)
    results = [part.run() for part in jobparts]
    if frames is not None:
        reader.close()
    log.info("rank done: %d parts in %.1f s%s", len(results), time.perf_counter() - t0,
             "" if frames is None else f"; {reader.opened} frame opens")

    everything = comm.gather(results, root=0)
    rc = 0
    if rank == 0:
        extra = {} if frames is None else {"frames": {
            "index": str(pc.frames), "count": len(frames),
            "unusable": [{"path": f.path, "survey": f.survey, "band": f.band, "reason": f.reason}
                         for f in frames if f.reason]}}
        rc = _manifest(out, [d for rs in everything for d in rs], rejects, seen, cat_sha, cfg, attrs_common, size,
                       time.perf_counter() - t0, extra)
    return int(comm.bcast(rc))


def _reader(cfg: Config, root: str, surveys: dict):
    pc = cfg.preprocess
    grids = {s.name: s for s in (cfg.data.x, cfg.data.y)}
    policy = StampPolicy.from_config(pc)
    limits = ReadLimits.from_mib(pc.max_input_mib, pc.section_read_mib)

    def read(row: Row):
        bands, size, flux = surveys[row.survey]
        s = grids[row.survey]  # its model grid and units: any stamp geometry is resampled onto them
        target = Target(row.ra, row.dec, s.pixel_scale, s.bunit, s.magzp, pc.require_units, pc.image_hdu, pc.ivar_hdu,
                        limits, pc.pixel_limit_mag, pc.pixel_limit_factor,
                        (pc.wcs_scale_min_arcsec, pc.wcs_scale_max_arcsec), pc.position_tol_arcsec)
        st = read_stamp(row.path, root, bands, size, pc.layout, pc.nan_fill_max_frac, pc.read_timeout_s, target)
        policy.apply(st, row.survey, row.object_id, row.ra, row.dec, bands, s.pixel_scale, row.path)
        if pc.apply_transform:
            st.image = np.asarray(to_model_space(st.image, flux, cfg.data.pixel_transform), dtype=np.float32)
        return st
    return read


def _with_policy(cfg: Config, reader):
    """Cut-outs of frames through the mask/fill/core policy (their sky judged with the whole frame, or,
    for frames read by section, on the cut-out as a stamp's: ``sky_level`` None)."""
    policy = StampPolicy.from_config(cfg.preprocess)
    grids = {s.name: s for s in (cfg.data.x, cfg.data.y)}

    def read(row: Row):
        s = grids[row.survey]
        st = reader(row)
        return policy.apply(st, row.survey, row.object_id, row.ra, row.dec, tuple(s.bands), s.pixel_scale,
                            stamp_sky_mode=st.sky_level is None)
    return read


def _reason_kind(reason: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "N", reason.split(":")[0].split(" (")[0]).strip()


def _manifest(out: Path, parts: list[dict], rejects: list[dict], seen: int, cat_sha: str, cfg: Config,
              attrs: dict, size: int, elapsed: float, extra: dict | None = None) -> int:
    shards = sorted((s for d in parts for s in d["shards"]), key=lambda s: (s["survey"], s["split"], s["rank"]))
    quarantine = sorted(rejects + [q for d in parts for q in d["quarantine"]], key=lambda q: (q["row"] or 0, q["survey"]))
    accepted = sum(s["count"] for s in shards)
    totals: dict = {}
    for s in shards:
        totals.setdefault(s["survey"], {}).setdefault(s["split"], 0)
        totals[s["survey"]][s["split"]] += s["count"]
    frac = len(quarantine) / seen if seen else 0.0
    manifest = {"format_version": FORMAT_VERSION, "catalog": str(cfg.preprocess.catalog), "catalog_sha256": cat_sha,
                "code_version": attrs["code_version"], "config_hash": attrs["config_hash"], "nranks": size,
                "seen": seen, "accepted": accepted, "quarantined": len(quarantine), "quarantine_frac": round(frac, 6),
                "totals": totals, **(extra or {}), "shards": shards, "quarantine": quarantine}
    if accepted + len(quarantine) != seen:
        raise AssertionError(f"accounting: accepted {accepted} + quarantined {len(quarantine)} != seen {seen}")
    write_manifest(out, manifest, size)
    kinds = Counter(_reason_kind(q["reason"]) for q in quarantine)
    log.info("manifest: %d seen, %d accepted, %d quarantined (%.2f%%) in %.1f s; %s", seen, accepted, len(quarantine),
             100 * frac, elapsed, "; ".join(f"{k}: {n}" for k, n in kinds.most_common()) or "no quarantine")
    if frac > cfg.preprocess.quarantine_max_frac:
        log.error("quarantine fraction %.2f%% exceeds preprocess.quarantine_max_frac %.2f%% (%d of %d rows): %s; "
                  "see %s", 100 * frac, 100 * cfg.preprocess.quarantine_max_frac, len(quarantine), seen,
                  "; ".join(f"{k}: {n}" for k, n in kinds.most_common()), out / "manifest.json")
        return EXIT_QUARANTINE
    return 0
