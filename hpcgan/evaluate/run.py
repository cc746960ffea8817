"""Score a translation against the real counterparts of the same objects; write metrics.json + PNGs.

Inputs come from the translation's ``manifest.json`` (``evaluate.translations``): the direction, the
split, the input shard root, the target survey's geometry and flux scale, and the realisation
folders. Real counterparts are the target survey's shards of the same split (``evaluate.shards``,
default the translation's input root: preprocess writes both surveys there). Objects are matched by
``object_id``; translated objects without a counterpart are counted and left out.

Everything streams in batches of ``evaluate.batch_size`` stamps (running sums for the Fourier stacks
and the MSE, small per-object arrays for fluxes and curves of growth), so millions of stamps fit.
Formulas: :mod:`hpcgan.evaluate.metrics` and docs/evaluation.md.
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from hpcgan.config.loader import ConfigError
from hpcgan.config.schema import Config
from hpcgan.data.shards import open_source
from hpcgan.data.transforms import from_model_space, to_model_space
from hpcgan.evaluate import metrics as M
from hpcgan.evaluate import plots
from hpcgan.log import get_logger
from hpcgan.train.samples import save_grid
from hpcgan.utils.atomic import atomic_write_text

log = get_logger(__name__)
FORMAT_VERSION = 1


def physical(raw: np.ndarray, source) -> np.ndarray:
    """Stored shard pixels -> survey units (undoes what preprocess applied at write time, if anything)."""
    if source.transform_applied == "none" and source.flux_scale_applied == 1.0:
        return raw
    return np.asarray(from_model_space(raw.astype(np.float64), source.flux_scale_applied, source.transform_applied),
                      dtype=np.float32)


def read_truth(catalog: Path, survey: str, bands: list[str], ids: set[str]) -> dict[str, np.ndarray] | None:
    """``object_id -> true flux per band`` of ``survey`` from a simulated catalog (``flux_<band>``); None
    when the catalog has no such columns."""
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
    """Stamps at any (unsorted) indices, in the given order."""
    uniq, inv = np.unique(idx, return_inverse=True)
    return physical(source.read(uniq), source)[inv]


def evaluate(cfg: Config) -> dict:
    """Compute the metrics and write ``evaluate.out``; returns the metrics dict (also metrics.json)."""
    ec = cfg.evaluate
    t0 = time.perf_counter()
    troot = Path(ec.translations)
    mpath = troot / "manifest.json"
    if not mpath.is_file():
        raise FileNotFoundError(f"evaluate.translations: no {mpath} (run `hpcgan translate` first)")
    man = json.loads(mpath.read_text())
    if ec.realisation >= man["n_realisations"]:
        raise ConfigError(f"evaluate.realisation: must be < {man['n_realisations']} (the translation's "
                          f"n_realisations), got {ec.realisation}")
    tgt, src, split = man["target"], man["source"], man["split"]
    bands, size, scale, flux_scale = tgt["bands"], tgt["stamp_size"], tgt["pixel_scale"], tgt["flux_scale"]
    transform = man["pixel_transform"]
    gen = open_source(troot / f"r{ec.realisation}", tgt["survey"], split)
    real_root = Path(ec.shards or src["root"])
    try:
        real = open_source(real_root, tgt["survey"], split)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"evaluate: no real {tgt['survey']} counterparts of split {split!r} under "
                                f"{real_root}: {e}") from None
    gen_ids, real_ids = gen.object_ids(), real.object_ids()
    where = {oid: i for i, oid in enumerate(real_ids)}
    gi = np.array([i for i, oid in enumerate(gen_ids) if oid in where], dtype=np.int64)
    if ec.limit:
        gi = gi[:ec.limit]
    if len(gi) == 0:
        raise FileNotFoundError(f"evaluate: none of the {len(gen_ids)} translated objects has a counterpart in "
                                f"{real_root}/{tgt['survey']}/{split}")
    ri = np.array([where[gen_ids[i]] for i in gi], dtype=np.int64)
    ids = [str(gen_ids[i]) for i in gi]
    catalog = Path(ec.catalog or cfg.preprocess.catalog)
    truth = read_truth(catalog, tgt["survey"], bands, set(ids)) if catalog.is_file() else None
    rb = bands.index("r") if "r" in bands else len(bands) // 2
    radii = M.radii_arcsec(size, scale, ec.radius_step_arcsec)
    fx_g, fx_r, cg, cr = [], [], [], []
    st_g, st_r = M.FourierStack(size), M.FourierStack(size)
    sq, count = np.zeros(len(bands)), 0
    for b0 in range(0, len(gi), ec.batch_size):
        g = _read(gen, gi[b0:b0 + ec.batch_size])
        r = _read(real, ri[b0:b0 + ec.batch_size])
        fx_g.append(M.total_flux(g))
        fx_r.append(M.total_flux(r))
        cg.append(M.curve_of_growth(g[:, rb], scale, radii))
        cr.append(M.curve_of_growth(r[:, rb], scale, radii))
        st_g.add(g[:, rb])
        st_r.add(r[:, rb])
        s, c = M.mse_per_band(to_model_space(g.astype(np.float64), flux_scale, transform),
                              to_model_space(r.astype(np.float64), flux_scale, transform))
        sq, count = sq + s, count + c
    fx_g, fx_r, cg, cr = (np.concatenate(a) for a in (fx_g, fx_r, cg, cr))
    out = Path(ec.out)
    res = _metrics(man, ec, ids, bands, rb, radii, fx_g, fx_r, cg, cr, st_g, st_r, sq / max(count, 1), truth)
    res["unmatched"] = int(len(gen_ids) - len(gi)) if not ec.limit else None
    res["plots"] = _plots(out, res, bands, st_g, st_r, fx_g, fx_r, rb)
    inp = open_source(src["root"], src["survey"], split)
    grid = _grid(out / "grid.png", inp, gen, real, ids, gi, ri, src, tgt, transform, man, ec.grid_count)
    res["plots"] += [grid] if grid else []
    res["elapsed_s"] = round(time.perf_counter() - t0, 3)
    atomic_write_text(out / "metrics.json", json.dumps(_clean(res), indent=1) + "\n")
    log.info("evaluate: %d objects; r-band flux ratio %.3f (scatter %.3f); HF power ratio %.3f; MSE %.4g -> %s",
             len(ids), res["flux"]["r" if "r" in bands else bands[rb]]["ratio_median"],
             res["flux"]["r" if "r" in bands else bands[rb]]["ratio_scatter"],
             res["fourier"]["hf_power_ratio"], res["mse_model_space"]["mean"], out / "metrics.json")
    return res


def _metrics(man, ec, ids, bands, rb, radii, fx_g, fx_r, cg, cr, st_g, st_r, mse, truth) -> dict:
    flux = {}
    for j, b in enumerate(bands):
        flux[b] = {**{f"ratio_{k}": v for k, v in M.ratio_stats(fx_g[:, j], fx_r[:, j]).items()},
                   **{f"ks_{k}": v for k, v in M.ks_2samp(fx_g[:, j], fx_r[:, j]).items()},
                   "median_generated": float(np.median(fx_g[:, j])), "median_real": float(np.median(fx_r[:, j]))}
    truth_res = None
    if truth:
        t = np.array([truth.get(i, np.full(len(bands), np.nan)) for i in ids])
        truth_res = {b: {"generated": M.ratio_stats(fx_g[:, j], t[:, j]), "real": M.ratio_stats(fx_r[:, j], t[:, j])}
                     for j, b in enumerate(bands)}
        truth_res["n_with_truth"] = int(np.isfinite(t[:, 0]).sum())
    ok = np.isfinite(cg).all(axis=1) & np.isfinite(cr).all(axis=1)
    diff = np.abs(cg[ok] - cr[ok])
    r50g, r50r = M.half_light_radius(cg[ok], radii), M.half_light_radius(cr[ok], radii)
    k, pg = M.radial_power(st_g.mean_power())
    _, pr = M.radial_power(st_r.mean_power())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pg / pr
        la = np.log10(st_g.mean_amplitude() / st_r.mean_amplitude())
    return {
        "format_version": FORMAT_VERSION, "translations": str(Path(ec.translations).resolve()),
        "realisation": ec.realisation, "direction": man["direction"], "split": man["split"],
        "source_survey": man["source"]["survey"], "target_survey": man["target"]["survey"],
        "checkpoint_sha256": man["checkpoint_sha256"], "n_objects": len(ids), "bands": bands,
        "flux": flux, "flux_vs_truth": truth_res,
        "curve_of_growth": {"band": bands[rb], "radii_arcsec": radii, "n": int(ok.sum()),
                            "median_generated": np.median(cg[ok], axis=0) if ok.any() else [],
                            "median_real": np.median(cr[ok], axis=0) if ok.any() else [],
                            "max_abs_diff_median": float(np.median(diff.max(axis=1))) if ok.any() else None,
                            "mean_abs_diff_median": float(np.median(diff.mean(axis=1))) if ok.any() else None,
                            "r50_ratio": M.ratio_stats(r50g, r50r)},
        "fourier": {"band": bands[rb], "k_cycles_per_px": k, "power_generated": pg, "power_real": pr,
                    "power_ratio": ratio, "hf_k_min": ec.hf_min,
                    "hf_power_ratio": M.hf_power_ratio(pg, pr, k, ec.hf_min),
                    "log10_amplitude_ratio_rms": float(np.sqrt(np.nanmean(la[np.isfinite(la)] ** 2)))},
        "mse_model_space": {"per_band": dict(zip(bands, mse)), "mean": float(mse.mean())},
    }


def _plots(out: Path, res: dict, bands, st_g, st_r, fx_g, fx_r, rb) -> list[str]:
    made = []
    c = res["curve_of_growth"]
    if c["n"]:
        ax = plots.Axes(f"curve of growth, {c['band']} band, median of {c['n']} objects", "radius (arcsec)",
                        "flux fraction", c["radii_arcsec"], np.concatenate([c["median_generated"], c["median_real"], [0, 1]]))
        ax.line(c["radii_arcsec"], c["median_real"], plots.COLORS["real"], "real")
        ax.line(c["radii_arcsec"], c["median_generated"], plots.COLORS["generated"], "generated")
        made.append(ax.save(out / "curve_of_growth.png"))
    f = res["fourier"]
    ag, ar = st_g.mean_amplitude(), st_r.mean_amplitude()
    with np.errstate(divide="ignore", invalid="ignore"):
        made.append(plots.maps(out / "fourier_maps.png", [("log10 |F| real", np.log10(ar)), ("log10 |F| generated", np.log10(ag)),
                                                           ("log10 ratio gen/real", np.log10(ag / ar))]))
    k, ratio = f["k_cycles_per_px"][1:], f["power_ratio"][1:]
    ax = plots.Axes(f"radially averaged power ratio, {f['band']} band (HF ratio {f['hf_power_ratio']:.3g})",
                    "k (cycles/px)", "P_gen / P_real", k, np.concatenate([ratio, [1.0]]), logy=True)
    ax.vspan(f["hf_k_min"], 0.5)
    ax.line(k, np.ones_like(k), plots.COLORS["one"], "1", width=1)
    ax.line(k, ratio, plots.COLORS["generated"], "gen / real")
    made.append(ax.save(out / "power_ratio.png"))
    pos = (fx_g > 0) & (fx_r > 0)
    if pos.any():
        ax = plots.Axes("total flux per band: generated vs real", "real flux (target units)", "generated flux",
                        fx_r[pos], fx_g[pos], logx=True, logy=True)
        lo, hi = float(min(fx_r[pos].min(), fx_g[pos].min())), float(max(fx_r[pos].max(), fx_g[pos].max()))
        ax.line([lo, hi], [lo, hi], plots.COLORS["one"], "1:1", width=1)
        for j, b in enumerate(bands):
            ax.scatter(fx_r[pos[:, j], j], fx_g[pos[:, j], j], plots.PALETTE[j % len(plots.PALETTE)], b)
        made.append(ax.save(out / "flux_scatter.png"))
    return [p.name for p in made]


def _grid(path: Path, inp, gen, real, ids, gi, ri, src, tgt, transform, man, count) -> str:
    """RGB composites (g, r, i) of input, translation and real counterpart, in model space ('' when the
    input stamps are not found)."""
    n = min(count, len(gi))
    in_ids = {oid: i for i, oid in enumerate(inp.object_ids())}
    ii = np.array([in_ids[i] for i in ids[:n] if i in in_ids], dtype=np.int64)
    if len(ii) != n:
        return ""
    def to_m(a: np.ndarray, flux_scale: float) -> torch.Tensor:
        return torch.from_numpy(np.asarray(to_model_space(a.astype(np.float32), flux_scale, transform)))

    x = to_m(_read(inp, ii), src["flux_scale"])
    gname = "G_xy" if man["direction"] == "x2y" else "G_yx"
    save_grid(path, [(f"input {src['survey']}", x), (f"{gname}(x)+NE (translation)", to_m(_read(gen, gi[:n]), tgt["flux_scale"])),
                     (f"real {tgt['survey']}", to_m(_read(real, ri[:n]), tgt["flux_scale"]))], count=n)
    return path.name
