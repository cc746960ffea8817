"""Bulk translation across MPI ranks: split by whole batches, translate, write shards resumably, manifest.

Plan (every rank alike): the input survey/split (``translate.shards``, the preprocess stage's shards)
has ``n`` stamps = ``ceil(n / batch_size)`` batches; rank ``r`` of ``R`` gets a contiguous, balanced
range of whole batches (:func:`hpcgan.data.shards.rank_range` over batches), so every batch is the
same set of stamps whatever the rank count, and a 2-rank run writes exactly what a 1-rank run writes.

Output (``translate.out``)::

    manifest.json                                     counts, method, checkpoint sha (or baseline settings), shards
    r<k>/<target>/<split>/part-<rank>-of-<R>.h5        realisation k, shard format (docs/formats.md)
    fits/r<k>/<target>/<split>/<object_id>.fits       optional (translate.fits)
    .work/<target>-<split>/part-<rank>-of-<R>/        resume records

Each ``r<k>`` folder is a shard root that :func:`hpcgan.data.shards.open_source` reads. Writing and
resume are the shared shard writer, :class:`hpcgan.io.shard_writer.JobPart` (skeleton file, ``pwrite`` into
preallocated chunks, fsync, an atomic batch record as the commit, finalize + rename + checksum),
with one output per realisation and a batch producer (:class:`TranslateBatches`) that translates
instead of reading FITS. The noise
of a stamp depends only on (``translate.seed``, object id, realisation), so a run killed at any point
and run again ends with the same bytes (tested with ``HPCGAN_PREPROCESS_KILL_AFTER``, the shard
writer's hook).
"""
from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np

import hpcgan
from hpcgan.config.integrity import Part, knobs, no_effect, resolve_auto
from hpcgan.config.loader import ConfigError, save_config, to_dict
from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.data.shards import open_source, rank_range, seeing, stamps_to_model
from hpcgan.dist import Dist, LaunchEnv, local_rank_from_env
from hpcgan.dist.comm import Comm
from hpcgan.io.mask_bits import regrid
from hpcgan.io.shard_writer import Batch, Job, JobPart, Row, SurveyOut, bytes_needed, write_manifest
from hpcgan.io.shards import FORMAT_VERSION
from hpcgan.kernels.dispatch import impl_for
from hpcgan.log import get_logger
from hpcgan.translate.baseline import NAIVE, BaselineTranslator
from hpcgan.translate.fits import TargetSpec, fits_path, target_grid, translated_bytes, write_translated
from hpcgan.translate.model import DIRECTIONS, Translator
from hpcgan.utils.atomic import digest
from hpcgan.utils.disk import check_space_on_ranks

log = get_logger(__name__)


def target_units(survey: SurveyCfg, bunit: str, magzp: float | None) -> tuple[str, float]:
    """(BUNIT, MAGZP) of the target survey: ``translate.bunit``/``translate.magzp`` when set, else the
    survey's declared model units (``data.<side>.bunit``/``magzp``, hpcgan/io/units.py)."""
    return (bunit or survey.bunit), float(magzp if magzp is not None else survey.magzp)


class TranslateBatches:
    """The shard writer's batch producer: this rank's input stamps ``[lo + b0, lo + b1)`` translated,
    one output per realisation (and their FITS files, when ``spec``; see module docstring)."""

    def __init__(self, tr: Translator | BaselineTranslator, source, lo: int, split: str, out: Path, n_real: int,
                 seed: int, magzp: float, spec: TargetSpec | None, grids: list[str]):
        self.tr, self.source, self.lo, self.split, self.out = tr, source, lo, split, out
        self.n_real, self.seed, self.magzp, self.spec = n_real, seed, magzp, spec
        self.grids = grids  # each input stamp's model-grid header text ('' = none)
        self.psf = seeing(source)  # (N, C) each input stamp's PSF FWHM (arcsec, NaN = unknown)

    def __call__(self, units: list[tuple[Row, ...]], b0: int) -> Batch:
        b1 = b0 + len(units)
        raw = self.source.read(np.arange(self.lo + b0, self.lo + b1))
        x = stamps_to_model(raw, self.source, self.tr.src.flux_scale, self.tr.transform)
        rows = [u[0] for u in units]
        ids = [r.object_id for r in rows]
        psf = self.psf[self.lo + b0:self.lo + b1]
        y = self.tr.physical(x, ids, range(self.n_real), self.seed, psf)  # (R, B, 5, H, W) target units
        dst, grids = self.tr.dst, self.grids[b0:b1]
        nb = len(dst.bands)
        masks = self.masks(b0, b1)
        wcs = [target_grid(g, r.ra, r.dec, dst.stamp_size, dst.pixel_scale) for g, r in zip(grids, rows)]
        objects = []
        for k in range(self.n_real):
            objects.append({"object_id": ids, "ra": [r.ra for r in rows], "dec": [r.dec for r in rows],
                            "catalog_row": [r.row for r in rows], "nan_filled": [[0] * nb for _ in rows],
                            "psf_fwhm": [[None] * nb for _ in rows], "sky_sigma": [[None] * nb for _ in rows],
                            "mag_zp": [[self.magzp] * nb for _ in rows], "wcs": wcs})
            if self.spec is not None:
                for j, (r, g) in enumerate(zip(rows, grids)):
                    write_translated(fits_path(self.out, k, self.spec.survey, self.split, r.object_id),
                                     translated_bytes(y[k, j], self.spec, r.object_id, r.ra, r.dec, k, g, masks[j]))
        return Batch([list(y[k]) for k in range(self.n_real)], objects, masks=[list(masks)] * self.n_real)

    def masks(self, b0: int, b1: int) -> np.ndarray:
        """(B, C, H', W') uint8: the input stamps' mask bits on the target grid (:func:`hpcgan.io.mask_bits.regrid`)."""
        dst, src = self.tr.dst, self.tr.src
        shape = (b1 - b0, len(dst.bands), dst.stamp_size, dst.stamp_size)
        if not self.source.has_mask:
            return np.zeros(shape, np.uint8)
        m = self.source.read_mask(np.arange(self.lo + b0, self.lo + b1))
        return regrid(m, src.pixel_scale, dst.stamp_size, dst.pixel_scale)


def fits_bytes(spec: TargetSpec | None) -> int:
    """Bytes of one translated FITS file (0 without ``translate.fits``), plus a header block of slack."""
    if spec is None:
        return 0
    return len(translated_bytes(np.zeros((len(spec.bands), spec.size, spec.size), np.float32), spec, "x", 0.0, 0.0,
                                0)) + 2880


def pick_device(prefer: str):
    local_rank, local_size = local_rank_from_env()
    return Dist(LaunchEnv(local_rank=local_rank, local_size=local_size)).device(prefer)


def provenance(tr: Translator | BaselineTranslator) -> dict:
    """What made the translation: the checkpoint (``method: model``) or the baseline's settings
    (``method: resample``, checkpoint keys null)."""
    if isinstance(tr, BaselineTranslator):
        return {"method": "resample", "checkpoint": None, "checkpoint_sha256": None, "checkpoint_phase": None,
                "checkpoint_iteration": None, "baseline": tr.settings()}
    return {"method": "model", "checkpoint": str(tr.path), "checkpoint_sha256": tr.sha256, "checkpoint_phase": tr.phase,
            "checkpoint_iteration": tr.iteration}


def input_key(source) -> list:
    """What identifies the input shards (a changed input restarts the parts)."""
    return [[s.path.name, s.count, s.path.stat().st_size, int(s.path.stat().st_mtime)] for s in source.shards]


SECTIONS = ("translate", "baseline", "kernels")  # the sections translate unpacks (data: only data.shards's default)


def sections(cfg: Config) -> tuple[str, list[Part]]:
    """What translate takes of ``cfg`` for its method (:func:`hpcgan.config.integrity.no_effect`): the
    checkpoint and the kernels (model; its networks come from the checkpoint's own config) or the baseline
    section (resample: of it the naive pipeline's knobs, :data:`~hpcgan.translate.baseline.NAIVE`, or the rest)."""
    tc, model = cfg.translate, cfg.translate.method == "model"
    strong = cfg.baseline.pipeline == "strong"
    common = ("baseline.pipeline", "baseline.add_noise")
    return f"translate --method {tc.method}", [
        Part(SECTIONS[:1]),
        Part(("translate.checkpoint",), model, "the baseline uses no checkpoint"),
        Part(("translate.noise",), model, "the baseline's noise is baseline.add_noise (--add-noise)"),
        Part(("kernels",), model, "only --method model (its noise emulator)"),
        Part(("translate.compression_level",), tc.compression == "gzip", "only translate.compression=gzip"),
        Part(common, not model, "only --method resample"),
        Part(NAIVE, not model and not strong, "only --method resample with baseline.pipeline=naive"),
        Part(tuple(k for k in knobs("baseline") if k not in NAIVE + common), not model and strong,
             "only --method resample with baseline.pipeline=strong"),
    ]


def start(cfg: Config, comm: Comm) -> Config:
    """The config this run translates with: ``auto`` device and kernels resolved, knobs without effect
    named; rank 0 saves it as ``translate.out/config.yaml``."""
    ignored = no_effect(cfg, *sections(cfg))  # as set: kernels.impl=auto is resolved even where it is not used
    device = pick_device(cfg.translate.device)
    cfg = resolve_auto(cfg, {"translate.device": device.type, "kernels.impl": impl_for(cfg.kernels.impl, device.type)})
    if comm.rank == 0:
        for line in ignored:
            log.warning("%s", line)
        save_config(cfg, cfg.translate.out)
    return cfg


def run(cfg: Config, comm: Comm) -> int:
    """Translate on this rank; rank 0 writes the manifest. Returns 0 (the same on every rank)."""
    tc = cfg.translate
    rank, size = comm.rank, comm.size
    t0 = time.perf_counter()
    device = pick_device(tc.device)
    root = Path(tc.shards or cfg.data.shards)
    side = DIRECTIONS[tc.direction][0]
    if tc.method == "model":
        tr = Translator(tc.checkpoint, tc.direction, device, cfg.kernels.impl, tc.noise)
        source = open_source(root, tr.src.name, tc.split)
    else:
        source = open_source(root, getattr(cfg.data, side).name, tc.split)
        tr = BaselineTranslator(cfg, tc.direction, device, root)
    src, dst = tr.src, tr.dst
    want = (len(src.bands), src.stamp_size, src.stamp_size)
    if tuple(source.shape) != want:
        whose = "the checkpoint's" if tc.method == "model" else "the config's"
        raise ConfigError(f"translate.shards: {root} holds {src.name}/{tc.split} stamps of shape {tuple(source.shape)}; "
                          f"{whose} data.{side} expects {want}")
    prov = provenance(tr)
    n = len(source) if not tc.limit else min(tc.limit, len(source))
    B = tc.batch_size
    blo, bhi = rank_range(math.ceil(n / B), rank, size)
    lo, hi = min(blo * B, n), min(bhi * B, n)
    ids = source.object_ids()[lo:hi]
    ra, dec, row = (source.column(c)[lo:hi] for c in ("ra", "dec", "catalog_row"))
    job = Job(tc.split, (dst.name,), [(Row(int(row[i]), str(ids[i]), dst.name, tc.split, "", float(ra[i]),
                                           float(dec[i])),) for i in range(hi - lo)])
    bunit, magzp = target_units(dst, tc.bunit, tc.magzp)
    spec = TargetSpec(dst.name, src.name, tuple(dst.bands), dst.stamp_size, dst.pixel_scale, bunit, magzp,
                      prov["checkpoint_sha256"] or "", prov["checkpoint_iteration"] or 0, tc.n_realisations, tc.seed,
                      prov["method"], tr.ne is not None if tc.method == "model" else cfg.baseline.add_noise) if tc.fits else None
    settings = {"direction": tc.direction, "split": tc.split, "n_realisations": tc.n_realisations, "seed": tc.seed,
                "limit": tc.limit, "fits": tc.fits, "bunit": bunit, "magzp": magzp, "compression": tc.compression,
                "compression_level": tc.compression_level,
                **({"noise": False} if tc.method == "model" and not tc.noise else {})}
    attrs = {"format_version": FORMAT_VERSION, "stage": "translate", "code_version": hpcgan.__version__,
             **{k: ("" if v is None else Path(v).name if k == "checkpoint" else v) for k, v in prov.items()},
             "source_survey": src.name, "source_split": tc.split, "direction": tc.direction,
             "n_realisations": tc.n_realisations, "noise_seed": tc.seed, "config": json.dumps(settings, sort_keys=True)}
    attrs["config_hash"] = digest(attrs)
    survey_attrs = {dst.name: {"flux_scale_applied": 1.0, "pixel_transform_applied": "none", "bunit": bunit,
                               "magzp": magzp}}
    plan_key = digest([attrs["config_hash"], input_key(source), lo, hi, size, B])
    out = Path(tc.out)
    what = (f"checkpoint {tr.path} ({tr.phase}){'' if tc.noise else ', G(x) alone (no noise)'}" if tc.method == "model" else
            f"baseline {cfg.baseline.pipeline} resample={tr.base.kind} add_noise={cfg.baseline.add_noise}")
    log.info("translate %s %s -> %s on %s: stamps [%d, %d) of %d, batch %d, %d realisation(s), %s",
             tc.direction, src.name, dst.name, device, lo, hi, n, B, tc.n_realisations, what)
    if tc.method == "model" and tr.ne is None and tc.n_realisations > 1:
        why = "translate.noise=false" if not tc.noise else f"the checkpoint has no noise emulator ({tr.phase})"
        log.warning("%s: all %d realisations are the same G(x)", why, tc.n_realisations)
    if tc.method == "resample" and not cfg.baseline.add_noise and tc.n_realisations > 1:
        log.warning("baseline without noise (baseline.add_noise=false): all %d realisations are the same",
                    tc.n_realisations)
    outs = [SurveyOut.at(out / f"r{k}", dst.name, tuple(dst.bands), dst.stamp_size, tc.split, rank, size)
            for k in range(tc.n_realisations)]
    produce = TranslateBatches(tr, source, lo, tc.split, out, tc.n_realisations, tc.seed, magzp, spec,
                               source.grids()[lo:hi])
    part = JobPart(job, 0, len(job.units), rank, size, out, outs, produce, attrs, survey_attrs, plan_key, B,
                   tc.compression, tc.compression_level, fits_bytes(spec) * tc.n_realisations)
    check_space_on_ranks(comm, out, bytes_needed([part]), tc.disk_margin, "translate", tc.disk_check)
    done = part.run()
    log.info("rank done: %d stamps x %d realisation(s) in %.1f s", hi - lo, tc.n_realisations, time.perf_counter() - t0)
    everything = comm.gather(done, root=0)
    if rank == 0:
        _manifest(out, everything, cfg, tr, prov, root, n, size, settings, time.perf_counter() - t0)
    comm.barrier()
    return 0


_REAL = re.compile(r"^r(\d+)/")


def _realisation(path: str | Path) -> int:
    """k of a shard path ``r<k>/...`` relative to translate.out (-1 for none)."""
    m = _REAL.match(f"{path}/")
    return int(m.group(1)) if m else -1


def _manifest(out: Path, parts: list[dict], cfg: Config, tr: Translator | BaselineTranslator, prov: dict, root: Path,
              n: int, size: int, settings: dict, elapsed: float) -> None:
    tc = cfg.translate
    shards = sorted((dict(s, realisation=_realisation(s["path"])) for d in parts for s in d["shards"]),
                    key=lambda s: (s["realisation"], s["rank"]))
    totals = {f"r{k}": sum(s["count"] for s in shards if s["realisation"] == k) for k in range(tc.n_realisations)}
    if any(v != n for v in totals.values()):
        raise AssertionError(f"accounting: {n} input stamps but realisation totals {totals}")
    dst = tr.dst
    manifest = {"format_version": FORMAT_VERSION, "stage": "translate", "code_version": hpcgan.__version__,
                **prov, "direction": tc.direction, **settings,
                "source": {"root": str(root.resolve()), "survey": tr.src.name, "split": tc.split, "count": n,
                           "bands": list(tr.src.bands), "stamp_size": tr.src.stamp_size,
                           "pixel_scale": tr.src.pixel_scale, "flux_scale": tr.src.flux_scale},
                "target": {"survey": dst.name, "bands": list(dst.bands), "stamp_size": dst.stamp_size,
                           "pixel_scale": dst.pixel_scale, "flux_scale": dst.flux_scale},
                "model_config": to_dict(tr.cfg.model) if prov["method"] == "model" else None,
                "pixel_transform": tr.transform, "nranks": size,
                "translated": n, "totals": totals, "fits_files": n * tc.n_realisations if tc.fits else 0,
                "elapsed_s": round(elapsed, 3), "shards": shards}
    write_manifest(out, manifest, size, "r*/*/*/part-*-of-*.h5", lambda p: _realisation(p) >= tc.n_realisations)
    log.info("manifest: %d stamps x %d realisation(s) -> %s in %.1f s", n, tc.n_realisations, out / "manifest.json",
             elapsed)
