"""Score a translation (and optionally a baseline) against the noise-free truth, the real noisy
counterparts and the catalog; write metrics.json + PNGs.

Inputs come from the translation's ``manifest.json`` (``evaluate.translations``): the direction, the
split, the input shard root, the target survey's geometry and flux scale, and the realisation
folders. Real counterparts are the target survey's shards of the same split (``evaluate.shards``,
default the translation's input root: preprocess writes both surveys there); the truth is the
``<split>-truth`` split beside them (simulated data only: without it the truth metrics are skipped
with one log line). ``evaluate.baseline`` names a second translation folder (e.g. ``hpcgan translate
--method resample``) scored through exactly the same code. Objects are matched by ``object_id``.

Everything streams in batches of ``evaluate.batch_size`` stamps (:class:`hpcgan.evaluate.score.Scores`).
Formulas: docs/evaluation.md.
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np

from hpcgan.config.loader import ConfigError
from hpcgan.config.schema import Config
from hpcgan.data.shards import open_source, stamps_to_survey_units
from hpcgan.evaluate import metrics as M
from hpcgan.evaluate import plots
from hpcgan.evaluate.masks import MaskCounts, read_mask, valid_pixels
from hpcgan.evaluate.score import BASELINE, REAL, TRANSLATION, TRUTH, Geometry, Scores
from hpcgan.log import get_logger, progress
from hpcgan.utils.atomic import atomic_write_text

log = get_logger(__name__)
METRICS_VERSION = 2  # metrics.json's format version (its format_version)


def read_catalog_flux(catalog: Path, survey: str, bands: list[str], ids: set[str]) -> dict[str, np.ndarray] | None:
    """``object_id -> true total flux per band`` of ``survey`` from a simulated catalog (``flux_<band>``);
    None when the catalog has no such columns."""
    with open(catalog, newline="") as f:
        r = csv.DictReader(f)
        cols = [f"flux_{b}" for b in bands]
        if not r.fieldnames or any(c not in r.fieldnames for c in cols):
            return None
        return {row["object_id"]: np.array([float(row[c]) for c in cols]) for row in r
                if row["survey"] == survey and row["object_id"] in ids}


def _clean(v):
    """JSON-safe: numpy -> Python, NaN/Inf -> None."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_clean(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _read(source, idx: np.ndarray) -> np.ndarray:
    """Stamps at any (unsorted) indices, in the given order, in survey units."""
    uniq, inv = np.unique(idx, return_inverse=True)
    return stamps_to_survey_units(source.read(uniq), source)[inv]


def _manifest(folder: Path, what: str) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no {path} (run `hpcgan translate` first)")
    return json.loads(path.read_text())


def _open_truth(root: Path, survey: str, split: str):
    """The noise-free twins, or None (one log line) when there are none (real data)."""
    try:
        return open_source(root, survey, split + "-truth")
    except FileNotFoundError:
        log.info("no truth shards under %s: truth metrics skipped", root / survey / f"{split}-truth")
        return None


def evaluate(cfg: Config) -> dict:
    """Compute the metrics and write ``evaluate.out``; returns the metrics dict (also metrics.json)."""
    ec = cfg.evaluate
    t0 = time.perf_counter()
    troot = Path(ec.translations)
    man = _manifest(troot, "evaluate.translations")
    if ec.realisation + ec.realisations > man["n_realisations"]:
        raise ConfigError(f"evaluate.realisation + evaluate.realisations: must be <= {man['n_realisations']} (the "
                          f"translation's n_realisations), got {ec.realisation} + {ec.realisations}")
    draws = range(ec.realisation, ec.realisation + ec.realisations)
    if not ec.aperture_radii_arcsec or min(ec.aperture_radii_arcsec) <= 0:
        raise ConfigError(f"evaluate.aperture_radii_arcsec: expected positive radii, got {ec.aperture_radii_arcsec}")
    tgt, src, split = man["target"], man["source"], man["split"]
    survey, bands = tgt["survey"], list(tgt["bands"])
    sources = {TRANSLATION: open_source(troot / f"r{ec.realisation}", survey, split)}
    base_man = None
    if ec.baseline:
        base_man = _manifest(Path(ec.baseline), "evaluate.baseline")
        for key in ("direction", "split"):
            if base_man[key] != man[key]:
                raise ConfigError(f"evaluate.baseline: {key} {base_man[key]!r} differs from the translation's {man[key]!r}")
        if base_man["target"]["survey"] != survey or base_man["target"]["stamp_size"] != tgt["stamp_size"]:
            raise ConfigError(f"evaluate.baseline: target {base_man['target']['survey']} "
                              f"{base_man['target']['stamp_size']} px differs from the translation's {survey} "
                              f"{tgt['stamp_size']} px")
        if ec.realisations > 1 and base_man["n_realisations"] < draws.stop:
            raise ConfigError(f"evaluate.realisations: the baseline {ec.baseline} has {base_man['n_realisations']} "
                              f"realisation(s), {draws.stop} needed (translate it with translate.n_realisations="
                              f"{draws.stop}), so that both sets are scored over as many noise draws")
        sources[BASELINE] = open_source(Path(ec.baseline) / f"r{ec.realisation if ec.realisations > 1 else 0}",
                                        survey, split)
    real_root = Path(ec.shards or src["root"])
    try:
        sources[REAL] = open_source(real_root, survey, split)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"evaluate: no real {survey} counterparts of split {split!r} under "
                                f"{real_root}: {e}") from None
    truth_src = _open_truth(real_root, survey, split)
    if truth_src is not None:
        sources[TRUTH] = truth_src
    ids, index = _match(sources, ec.limit)
    n_translated = len(sources[TRANSLATION])
    catalog = Path(ec.catalog or cfg.preprocess.catalog)
    cat = read_catalog_flux(catalog, survey, bands, set(ids)) if catalog.is_file() else None
    true_flux = np.array([cat.get(i, np.full(len(bands), np.nan)) for i in ids]) if cat else None

    geom = Geometry(tuple(bands), tgt["stamp_size"], tgt["pixel_scale"], tgt["flux_scale"], man["pixel_transform"],
                    tuple(ec.aperture_radii_arcsec), M.radii_arcsec(tgt["stamp_size"], tgt["pixel_scale"],
                                                                    ec.radius_step_arcsec), ec.hf_min, (ec.midk_min, ec.midk_max),
                    ec.blank_sky_k, ec.blank_sky_away_arcsec / tgt["pixel_scale"])
    names = [TRANSLATION] + [BASELINE] * bool(ec.baseline)
    scores = Scores(geom, names, truth=truth_src is not None)
    masked = MaskCounts(list(sources), bands)
    batches = range(0, len(ids), ec.batch_size)
    for k in draws:  # realisation k of the translation (and of the baseline); the same objects each time
        drawn = sources if k == ec.realisation else {**sources, **_realisation_sources(k, troot, ec, survey, split,
                                                                                       sources)}
        for b0 in progress(batches, len(batches), f"evaluate r{k}"):
            sl = slice(b0, b0 + ec.batch_size)
            masks = {name: read_mask(s, index[name][sl]) for name, s in drawn.items()}
            valid = masked.add(masks) if k == ec.realisation else valid_pixels(masks)  # counted once
            scores.add({name: _read(s, index[name][sl]) for name, s in drawn.items()}, valid)
    scores.objects = len(ids)

    out = Path(ec.out)
    truth_dir = real_root / survey / f"{split}-truth"
    res = {
        "format_version": METRICS_VERSION, "translations": str(troot.resolve()), "realisation": ec.realisation,
        "realisations": ec.realisations,
        "baseline": str(Path(ec.baseline).resolve()) if ec.baseline else None,
        "baseline_method": base_man.get("method") if base_man else None,
        "direction": man["direction"], "split": split, "source_survey": src["survey"], "target_survey": survey,
        "checkpoint": man.get("checkpoint"), "checkpoint_sha256": man.get("checkpoint_sha256"),
        "n_objects": len(ids), "bands": bands,
        "unmatched": None if ec.limit else n_translated - len(ids),
        "references": {
            "vs_truth": str(truth_dir) if truth_src is not None else None,
            "vs_real": str(real_root / survey / split),
            "vs_catalog": str(catalog) if true_flux is not None else None},
        "truth_note": None if truth_src is not None else f"no truth shards under {truth_dir}: truth metrics skipped",
        "aperture_radii_arcsec": list(geom.aperture_radii), "radii_arcsec": geom.cog_radii,
        "k_cycles_per_px": scores.k(), "hf_k_min": ec.hf_min,
        "vs_truth": scores.vs_truth(), "colours_vs_truth": scores.colours(), "midk_band": [ec.midk_min, ec.midk_max],
        "blank_sky": scores.blank_sky() | {"k_sky_sigma": ec.blank_sky_k, "away_arcsec": ec.blank_sky_away_arcsec},
        "vs_real": scores.vs_real(), "vs_catalog": scores.vs_catalog(true_flux),
        "masked": masked.result(),
    }
    res["plots"] = plots.all_plots(out, res, scores, grid=_grid_stamps(sources, man, ids, index, ec.grid_count))
    res["elapsed_s"] = round(time.perf_counter() - t0, 3)
    atomic_write_text(out / "metrics.json", json.dumps(_clean(res), indent=1) + "\n")
    log.info("evaluate: %d objects (%s) -> %s", len(ids), ", ".join(sources), out / "metrics.json")
    return res


def _realisation_sources(k: int, troot: Path, ec, survey: str, split: str, first_sources: dict) -> dict:
    """The translation's (and the baseline's) source of a later realisation ``k``, in the first
    realisation's object order (``first_sources``)."""
    out = {TRANSLATION: open_source(troot / f"r{k}", survey, split)}
    if ec.baseline:
        out[BASELINE] = open_source(Path(ec.baseline) / f"r{k}", survey, split)
    for name, first in first_sources.items():
        if name in out and not np.array_equal(out[name].object_ids(), first.object_ids()):
            raise ValueError(f"evaluate: {name} realisation r{k} holds its objects in another order than the first")
    return out


def _match(sources: dict, limit: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """Object ids present in every source (translation order) and each source's row of each."""
    where = {name: {str(oid): i for i, oid in enumerate(s.object_ids())} for name, s in sources.items()}
    ids = [oid for oid in where[TRANSLATION] if all(oid in w for w in where.values())]
    if limit:
        ids = ids[:limit]
    if not ids:
        raise FileNotFoundError(f"evaluate: none of the {len(where[TRANSLATION])} translated objects is in every "
                                f"one of {', '.join(sources)} (matched by object_id)")
    return ids, {name: np.array([w[oid] for oid in ids], dtype=np.int64) for name, w in where.items()}


def _grid_stamps(sources: dict, man: dict, ids: list[str], index: dict, count: int) -> dict | None:
    """The first ``count`` objects of every set plus the translation's input, survey units (None when
    the input stamps are not found)."""
    src = man["source"]
    try:
        inp = open_source(src["root"], src["survey"], man["split"])
    except FileNotFoundError:
        return None
    at = {str(oid): i for i, oid in enumerate(inp.object_ids())}
    ids = ids[:count]
    if any(i not in at for i in ids):
        return None
    stamps = {"input": _read(inp, np.array([at[i] for i in ids], dtype=np.int64))}
    stamps.update({name: _read(s, index[name][:count]) for name, s in sources.items()})
    return {"stamps": stamps, "ids": ids, "input_survey": src["survey"], "input_bands": list(src["bands"]),
            "input_pixel_scale": src["pixel_scale"]}
