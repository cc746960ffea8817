"""The ``simulate`` driver: plan objects and splits, render this rank's share, gather the catalog.

Plan (identical on every rank): paired objects ``p0000000``... are one galaxy seen by both surveys
(same id, same RA/Dec, same scene); unpaired objects ``<survey>-u0000000``... are different galaxies
per survey. A seeded permutation puts ``round(n_paired * paired_test_fraction)`` paired objects in
``paired-test``, the rest in ``paired-train``. Every paired stamp has a noise-free twin (ground
truth: the same render before the noise is added, ``NOISE = F``) in split ``<split>-truth``. Objects
are dealt to ranks by a deterministic greedy cost balance; pixels depend only on (seed, object),
never on the rank count.

Resumable: a file that already exists, is complete and carries the same ``SIMHASH`` (hash of every
setting that changes pixels) and ``NOISE`` flag is not written again.
"""
from __future__ import annotations

import heapq
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcgan.astro.surveys import SurveySpec, survey_pair
from hpcgan.config import Config, save_config, to_dict
from hpcgan.dist.comm import Comm
from hpcgan.log import get_logger, progress
from hpcgan.simulate.catalog import columns, make_row, read_catalog, sort_key, write_catalog
from hpcgan.simulate.fits_out import SIM_STAMP_VERSION, is_valid_stamp, stamp_bytes, write_stamp
from hpcgan.simulate.galaxies import sample_scene
from hpcgan.simulate.render import add_noise, observe, render_clean, render_rng
from hpcgan.utils.atomic import digest
from hpcgan.utils.disk import check_space_on_ranks

log = get_logger(__name__)

STREAM_PAIRED, STREAM_X, STREAM_Y = 0, 1, 2
PARTS_DIR = "catalog.parts"
TRUTH_SUFFIX = "-truth"  # split of the noise-free twins: paired-train-truth, paired-test-truth


@dataclass(frozen=True)
class Item:
    """One object of ``stream`` seen by survey ``side``: its stamp (and, if paired, its noise-free twin)."""
    side: str  # 'x' or 'y'
    split: str
    object_id: str
    stream: int
    index: int

    @property
    def paired(self) -> bool:
        return self.stream == STREAM_PAIRED

    def rel_path(self, spec: SurveySpec, truth: bool = False) -> str:
        return f"{spec.name}/{self.split}{TRUTH_SUFFIX if truth else ''}/{self.object_id}.fits"

    @property
    def n_files(self) -> int:
        return 2 if self.paired else 1


def paired_test_ids(seed: int, n_paired: int, frac: float) -> set[int]:
    """Indices of the paired objects held out for testing (a seeded permutation)."""
    n_test = int(round(n_paired * frac))
    perm = np.random.default_rng(np.random.SeedSequence([seed, 99])).permutation(n_paired)
    return set(int(i) for i in perm[:n_test])


def plan(cfg: Config, x: SurveySpec, y: SurveySpec) -> list[Item]:
    """Every stamp of the run, in a fixed order."""
    s = cfg.simulate
    test = paired_test_ids(s.seed, s.n_paired, s.paired_test_fraction)
    items: list[Item] = []
    for i in range(s.n_paired):
        split = "paired-test" if i in test else "paired-train"
        oid = f"p{i:07d}"
        items += [Item("x", split, oid, STREAM_PAIRED, i), Item("y", split, oid, STREAM_PAIRED, i)]
    for j in range(s.n_unpaired):
        items += [Item("x", "unpaired", f"{x.name}-u{j:07d}", STREAM_X, j),
                  Item("y", "unpaired", f"{y.name}-u{j:07d}", STREAM_Y, j)]
    return items


def assign(items: list[Item], specs: dict[str, SurveySpec], size: int) -> list[list[Item]]:
    """Greedy balance by pixel count, O(n log size); deterministic (ties go to the lowest rank)."""
    heap = [(0, r) for r in range(size)]
    out: list[list[Item]] = [[] for _ in range(size)]
    for it in items:
        load, r = heapq.heappop(heap)
        out[r].append(it)
        heapq.heappush(heap, (load + specs[it.side].stamp_size ** 2, r))
    return out


def sim_hash(cfg: Config) -> str:
    """Hash of every setting that changes a stamp's pixels or headers (not counts, not the output folder)."""
    s = to_dict(cfg.simulate)
    keep = {k: s[k] for k in ("seed", "neighbour_prob", "star_prob", "mag_min", "mag_max", "noise")}
    d = {"sim": keep, "x": to_dict(cfg.data.x), "y": to_dict(cfg.data.y), "fmt": SIM_STAMP_VERSION}
    return digest(d)


def make_stamp(cfg: Config, it: Item, spec: SurveySpec, out: Path, simhash: str) -> tuple[list[dict[str, str]], int]:
    """Write the stamp of ``it`` (and its noise-free twin if paired) unless valid files exist; return
    (catalog rows, files written). One noise-free render serves both; the noise is added to it."""
    s = cfg.simulate
    scene = sample_scene(s, it.stream, it.index)
    rel, truth = it.rel_path(spec), it.rel_path(spec, truth=True) if it.paired else ""
    files = [(rel, it.split, s.noise)] + ([(truth, it.split + TRUTH_SUFFIX, False)] if it.paired else [])
    todo = [f for f in files if not is_valid_stamp(out / f[0], it.object_id, spec, simhash, f[2])]
    if todo:
        rng = render_rng(s.seed, it.stream, it.index, it.side)
        obs = observe(spec, rng)
        clean = render_clean(scene, spec, obs)
        for path, split, noise in todo:
            img = add_noise(clean, spec, obs, rng) if noise else clean.astype(np.float32)
            write_stamp(out / path, stamp_bytes(img, spec, it.object_id, scene.ra, scene.dec, obs.fwhm, obs.sky_sigma,
                                                split=split, seed=s.seed, simhash=simhash, noise=noise))
    rows = [make_row(it.object_id, split, path, scene, spec, truth_path=truth if split == it.split else "")
            for path, split, _ in files]
    return rows, len(todo)


CATALOG_ROW_BYTES = 1024  # a catalog row (an upper estimate), written twice: the rank's part and catalog.csv


def file_bytes(spec: SurveySpec) -> int:
    """Bytes of one stamp file of ``spec``, plus a header block of slack (long ids, splits)."""
    img = np.zeros((len(spec.bands), spec.stamp_size, spec.stamp_size), np.float32)
    nb = len(spec.bands)
    return len(stamp_bytes(img, spec, "x", 0.0, 0.0, (1.0,) * nb, (1.0,) * nb, split="paired-train-truth")) + 2880


def bytes_needed(items: list[Item], specs: dict[str, SurveySpec], out: Path) -> int:
    """What writing ``items`` still takes: their stamp files not there yet, and their catalog rows
    (existing files are checked when rendered; a broken one is rewritten in place of itself)."""
    size = {side: file_bytes(spec) for side, spec in specs.items()}
    need = 0
    for it in items:
        paths = [it.rel_path(specs[it.side])] + ([it.rel_path(specs[it.side], truth=True)] if it.paired else [])
        need += sum(size[it.side] for p in paths if not (out / p).is_file()) + 2 * it.n_files * CATALOG_ROW_BYTES
    return need


def run(cfg: Config, comm: Comm | None = None) -> dict[str, float]:
    """Make this rank's stamps, then (rank 0) the sorted catalog. Returns a summary (global counts)."""
    comm = comm or Comm()
    rank, size = comm.rank, comm.size
    x, y = survey_pair(cfg)
    specs = {"x": x, "y": y}
    out = Path(cfg.simulate.out)
    simhash = sim_hash(cfg)
    items = plan(cfg, x, y)
    n_files = sum(it.n_files for it in items)
    mine = assign(items, specs, size)[rank]
    bands = list(dict.fromkeys([b.name for b in x.bands] + [b.name for b in y.bands]))
    cols = columns(bands)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out)
        log.info("simulate: %d stamps (%d paired objects x 2 surveys + their noise-free twins, %d unpaired per "
                 "survey) -> %s on %d rank(s)", n_files, cfg.simulate.n_paired, cfg.simulate.n_unpaired, out, size)
    comm.barrier()
    check_space_on_ranks(comm, out, bytes_needed(mine, specs, out), cfg.simulate.disk_margin, "simulate",
                         cfg.simulate.disk_check)
    t0 = time.perf_counter()
    rows, n_new = [], 0
    step = max(1, len(mine) // 5)
    for k, it in enumerate(progress(mine, len(mine), "simulate", rank)):
        new_rows, new = make_stamp(cfg, it, specs[it.side], out, simhash)
        rows += new_rows
        n_new += new
        if rank == 0 and (k + 1) % step == 0:
            log.info("rank 0: %d/%d objects", k + 1, len(mine))
    part = out / PARTS_DIR / f"part-{rank:04d}-of-{size:04d}.csv"
    write_catalog(part, rows, cols)
    t_local = time.perf_counter() - t0
    log.debug("rank %d: %d stamps (%d rendered) in %.2f s", rank, len(mine), n_new, t_local)
    n_new_all = comm.allreduce(n_new)
    t_all = comm.allreduce(t_local, "max")  # also: every part is written
    if rank == 0:
        merged: list[dict[str, str]] = []
        for r in range(size):
            merged += read_catalog(out / PARTS_DIR / f"part-{r:04d}-of-{size:04d}.csv")
        if len(merged) != n_files:
            raise RuntimeError(f"catalog: gathered {len(merged)} rows, planned {n_files}")
        merged.sort(key=sort_key([x.name, y.name]))
        write_catalog(out / "catalog.csv", merged, cols)
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
        rate = n_new_all / t_all if t_all > 0 else float("nan")
        log.info("simulate: %d stamps rendered, %d already valid, in %.1f s on %d rank(s): %.1f stamps/s; "
                 "catalog %s", n_new_all, n_files - n_new_all, t_all, size, rate, out / "catalog.csv")
    comm.barrier()
    return {"stamps": n_files, "rendered": n_new_all, "seconds": t_all,
            "stamps_per_s": n_new_all / t_all if t_all > 0 else float("nan")}
