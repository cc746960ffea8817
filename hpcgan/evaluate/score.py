"""Streaming scores of image sets (translation, baseline, real noisy stamps, truth) of the same objects.

Every set goes through the same code: per batch, :meth:`Scores.add` takes one ``(B, C, n, n)`` array
per set (row ``i`` of each is the same object, target-survey pixel units) and keeps small per-object
arrays (aperture fluxes, curves of growth, sizes, shapes) and running sums (power spectra, squared
residuals, a bounded background-pixel sample). :meth:`Scores.result` turns them into the
``vs_truth`` / ``vs_real`` / ``vs_catalog`` blocks of metrics.json (formulas: docs/evaluation.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcgan.astro.photometry import (
    aperture_fluxes,
    aperture_weights,
    bias_nmad,
    colour_stats,
    diff_stats,
    nmad_difference,
)
from hpcgan.astro.transforms import to_model_space
from hpcgan.evaluate import metrics as M
from hpcgan.evaluate.noise import BackgroundSample, background_level, background_sigma, blank_sky
from hpcgan.evaluate.shapes import ellipticity, half_light_radius

TRUTH, REAL = "truth", "real"
TRANSLATION, BASELINE = "translation", "baseline"  # the candidate sets


@dataclass(frozen=True)
class Geometry:
    """The target survey's stamps and the evaluation settings the scores depend on."""
    bands: tuple[str, ...]
    size: int
    pixel_scale: float
    flux_scale: float
    transform: str
    aperture_radii: tuple[float, ...]  # arcsec
    cog_radii: np.ndarray  # arcsec, last = the stamp edge
    hf_min: float  # cycles/px
    midk: tuple[float, float]  # cycles/px: the mid-k band of the residual power (evaluate.midk_*)
    blank_k: float  # blank sky: no truth above this x the sky sigma ...
    blank_away_px: float  # ... within this many px (evaluate.blank_sky_*)


def _n(terms: int | np.ndarray, c: int) -> int:
    """Pixels of band ``c`` in a set's MSE sums."""
    return int(terms if np.ndim(terms) == 0 else terms[c])


class _Set:
    """Per-object arrays and running sums of one image set."""

    def __init__(self, g: Geometry):
        c, n = len(g.bands), g.size
        self.lists: dict[str, list[np.ndarray]] = {k: [] for k in ("ap", "edge", "total", "cog", "r50", "e")}
        self.image, self.resid = M.FourierStack(c, n), M.FourierStack(c, n)
        self.resid_bg = M.FourierStack(c, n)  # residual x the blank sky (away from every source)
        self.bg, self.bg_resid = BackgroundSample(c, n), BackgroundSample(c, n, annulus=False)
        self.sq = {k: np.zeros(c) for k in ("real_model", "truth_model", "truth_phys")}
        self.terms: int | np.ndarray = 0  # pixels per band in the MSE sums (an int while nothing was masked)

    def arr(self, key: str) -> np.ndarray:
        return np.concatenate(self.lists[key]) if self.lists[key] else np.empty(0)


class Scores:
    """Accumulate batches of the candidate sets ``names`` (plus the real set and, with ``truth``, the
    noise-free twins) and summarise them."""

    def __init__(self, g: Geometry, names: list[str], truth: bool):
        self.g, self.names, self.truth = g, list(names), truth
        self.sets = {k: _Set(g) for k in [*(TRUTH,) * truth, *names, REAL]}
        # objects, when the batches repeat them once per noise realisation (row j is object j % objects):
        # standard errors and bootstrap intervals are then over objects, not rows
        self.objects: int | None = None
        self.blank_pixels, self.all_pixels = np.zeros(len(g.bands), np.int64), 0  # the blank sky's share

    def _groups(self) -> np.ndarray | None:
        rows = len(self.sets[REAL].arr("r50"))
        return None if not self.objects or rows == self.objects else np.arange(rows) % self.objects

    def _model(self, x: np.ndarray) -> np.ndarray:
        return to_model_space(x.astype(np.float64), self.g.flux_scale, self.g.transform)

    def add(self, batch: dict[str, np.ndarray], valid: np.ndarray | None = None) -> None:
        """One batch: ``{name: (B, C, n, n)}`` for every set (the truth first if present); ``valid``
        (B, C, n, n) bool: the pixels every set may use (:mod:`hpcgan.evaluate.masks`), None = all."""
        g, na = self.g, len(self.g.aperture_radii)
        if valid is not None and valid.all():
            valid = None
        touched = None
        if valid is not None:  # an aperture overlapping a flagged pixel gives no flux
            w = aperture_weights(g.size, float(g.pixel_scale), tuple(float(r) for r in [*g.aperture_radii, *g.cog_radii]))
            touched = np.einsum("ncp,rp->ncr", (~valid).reshape(*valid.shape[:2], -1).astype(np.float64), w) > 0
        real_m = self._model(batch[REAL])
        truth = batch.get(TRUTH)
        truth_m = self._model(truth) if truth is not None else None
        blank = None
        if truth is not None:
            blank = blank_sky(truth, batch[REAL], g.blank_k, g.blank_away_px)
            blank = blank if valid is None else blank & valid
            self.blank_pixels += blank.sum(axis=(0, 2, 3))
            self.all_pixels += blank.shape[0] * blank.shape[2] * blank.shape[3]
        r50_truth = None
        for name, s in self.sets.items():
            x = batch[name]
            f = aperture_fluxes(x, g.pixel_scale, [*g.aperture_radii, *g.cog_radii])
            if valid is not None:
                f[touched] = np.nan
                x = np.where(valid, x, 0).astype(x.dtype)
            edge = f[..., -1]
            with np.errstate(invalid="ignore", divide="ignore"):
                cog = np.where(edge[..., None] > 0, f[..., na:] / np.where(edge > 0, edge, 1.0)[..., None], np.nan)
            r50 = half_light_radius(cog, g.cog_radii)
            for key, v in (("ap", f[..., :na]), ("edge", edge), ("total", M.total_flux(x)),
                           ("cog", cog.astype(np.float32)), ("r50", r50)):
                s.lists[key].append(v)
            s.image.add(x)
            s.bg.add(x, valid)
            xm = self._model(x)
            if name != REAL:
                s.sq["real_model"] += M.mse_per_band(xm, real_m if valid is None else np.where(valid, real_m, 0))[0]
            if truth is not None:
                if name == TRUTH:
                    r50_truth = r50
                s.lists["e"].append(ellipticity(x, g.pixel_scale, 2 * r50_truth))
                if name != TRUTH:
                    tv, tvm = (truth, truth_m) if valid is None else (np.where(valid, truth, 0), np.where(valid, truth_m, 0))
                    d = x.astype(np.float64) - tv
                    s.resid.add(d)
                    s.resid_bg.add(d * blank)
                    s.bg_resid.add(d, blank)
                    s.sq["truth_phys"] += (d * d).sum(axis=(0, 2, 3))
                    s.sq["truth_model"] += M.mse_per_band(xm, tvm)[0]
            s.terms += x.shape[0] * x.shape[2] * x.shape[3] if valid is None else valid.sum(axis=(0, 2, 3))

    # ---- summaries ---------------------------------------------------------------------------------
    def k(self) -> np.ndarray:
        return M.radial_bins(self.g.size)[1]

    def blank_sky(self) -> dict:
        """The share of the scored pixels that was blank sky, per band (None without truth)."""
        return {"fraction": dict(zip(self.g.bands, (self.blank_pixels / self.all_pixels).tolist()))
                if self.all_pixels else None}

    def vs_truth(self) -> dict | None:
        """Per band, for each candidate and the real noisy stamps: everything against the noise-free twin."""
        if not self.truth:
            return None
        g, t, groups = self.g, self.sets[TRUTH], self._groups()
        ap_t, r50_t, e_t = t.arr("ap"), t.arr("r50"), t.arr("e")
        k = self.k()
        p_real = M.radial_power(self.sets[REAL].resid.mean_power())[1]
        pbg_real = M.radial_power(self.sets[REAL].resid_bg.mean_power())[1]
        sig_real = background_sigma(self.sets[REAL].bg_resid)
        lo, hi = g.midk
        names = [*self.names, REAL]
        # per set, every band at once: the power spectra and the background statistics
        power = {n: self.sets[n].resid.mean_power() for n in names}
        power_bg = {n: self.sets[n].resid_bg.mean_power() for n in names}
        sigma = {n: background_sigma(self.sets[n].bg_resid) for n in names}
        level = {n: background_level(self.sets[n].bg_resid) for n in names}
        out = {}
        for c, b in enumerate(g.bands):
            out[b] = {}
            for name in names:
                s = self.sets[name]
                ap, e = s.arr("ap"), s.arr("e")
                p = M.radial_power(power[name][c])[1]
                pbg = M.radial_power(power_bg[name][c])[1]
                sig, lvl = sigma[name][c], level[name][c]
                out[b][name] = {
                    "aperture_flux": {f"{r:g}": bias_nmad(ap[:, c, j], ap_t[:, c, j], self.objects)
                                      for j, r in enumerate(g.aperture_radii)},
                    "r50": bias_nmad(s.arr("r50")[:, c], r50_t[:, c], self.objects),
                    "e1": diff_stats(e[:, c, 0], e_t[:, c, 0], self.objects),
                    "e2": diff_stats(e[:, c, 1], e_t[:, c, 1], self.objects),
                    "mse_model_space": s.sq["truth_model"][c] / max(_n(s.terms, c), 1),
                    "residual_rms": float(np.sqrt(s.sq["truth_phys"][c] / max(_n(s.terms, c), 1))),
                    "residual_power": {"power": p, "hf_mean": float(p[M.hf_band(k, g.hf_min)].mean()),
                                       "hf_ratio_vs_real_residual": float(M.hf_power_ratio(p, p_real[c], k, g.hf_min)),
                                       "midk_ratio_vs_real_residual": float(M.hf_power_ratio(p, p_real[c], k, lo, hi)),
                                       "midk_background_ratio_vs_real_residual":
                                           float(M.hf_power_ratio(pbg, pbg_real[c], k, lo, hi))},
                    "background_sigma": {"sigma": sig, "ratio_vs_real": sig / sig_real[c] if sig_real[c] > 0 else None},
                    "background_offset": {"median": lvl, "in_real_sigma": lvl / sig_real[c] if sig_real[c] > 0 else None},
                }
                if name == TRANSLATION and BASELINE in self.sets:  # the question the table is read for
                    ap_b = self.sets[BASELINE].arr("ap")
                    out[b][name]["aperture_flux_nmad_vs_baseline"] = {
                        f"{r:g}": nmad_difference(ap[:, c, j], ap_b[:, c, j], ap_t[:, c, j], groups=groups)
                        for j, r in enumerate(g.aperture_radii)}
        return out

    def colours(self) -> dict | None:
        """Per adjacent band pair (``g-r``, ``r-i``, ...), aperture and candidate: the colour
        ``-2.5 log10(f_a / f_b)`` against the truth's, median bias and NMAD in magnitudes (objects with a
        non-positive flux in either band left out; ``n`` counts the rest)."""
        if not self.truth:
            return None
        g, ap_t = self.g, self.sets[TRUTH].arr("ap")
        out = {}
        for a in range(len(g.bands) - 1):
            pair = f"{g.bands[a]}-{g.bands[a + 1]}"
            out[pair] = {name: {f"{r:g}": colour_stats(self.sets[name].arr("ap")[:, [a, a + 1], j], ap_t[:, [a, a + 1], j],
                                                       self.objects)
                                for j, r in enumerate(g.aperture_radii)} for name in [*self.names, REAL]}
        return out

    def vs_real(self) -> dict:
        """Per band, for each candidate: the comparisons against the real noisy counterparts."""
        g, r = self.g, self.sets[REAL]
        k = self.k()
        tot_r, ap_r, cog_r, r50_r = r.arr("total"), r.arr("ap"), r.arr("cog"), r.arr("r50")
        p_r = M.radial_power(r.image.mean_power())[1]
        amp_r = r.image.mean_amplitude()
        out = {}
        for c, b in enumerate(g.bands):
            out[b] = {}
            for name in self.names:
                s = self.sets[name]
                tot, ap, cog = s.arr("total"), s.arr("ap"), s.arr("cog")
                ok = np.isfinite(cog[:, c]).all(axis=1) & np.isfinite(cog_r[:, c]).all(axis=1)
                diff = np.abs(cog[ok, c] - cog_r[ok, c])
                p = M.radial_power(s.image.mean_power()[c])[1]
                with np.errstate(divide="ignore", invalid="ignore"):
                    la = np.log10(s.image.mean_amplitude()[c] / amp_r[c])
                    ratio = p / p_r[c]
                out[b][name] = {
                    "total_flux": {**bias_nmad(tot[:, c], tot_r[:, c], self.objects),
                                   **{f"ks_{key}": v for key, v in M.ks_2samp(tot[:, c], tot_r[:, c]).items()},
                                   "median": float(np.median(tot[:, c])), "median_real": float(np.median(tot_r[:, c]))},
                    "aperture_flux": {f"{rad:g}": bias_nmad(ap[:, c, j], ap_r[:, c, j], self.objects)
                                      for j, rad in enumerate(g.aperture_radii)},
                    "curve_of_growth": {
                        "n": int(ok.sum()),
                        "median": np.median(cog[ok, c], axis=0) if ok.any() else [],
                        "median_real": np.median(cog_r[ok, c], axis=0) if ok.any() else [],
                        "max_abs_diff_median": float(np.median(diff.max(axis=1))) if ok.any() else None,
                        "mean_abs_diff_median": float(np.median(diff.mean(axis=1))) if ok.any() else None,
                        "r50": bias_nmad(s.arr("r50")[:, c], r50_r[:, c], self.objects)},
                    "fourier": {"power": p, "power_real": p_r[c], "power_ratio": ratio,
                                "hf_power_ratio": float(M.hf_power_ratio(p, p_r[c], k, g.hf_min)),
                                "log10_amplitude_ratio_rms": float(np.sqrt(np.mean(la[np.isfinite(la)] ** 2)))},
                    "background_ks": {**M.ks_2samp(s.bg.values(c), r.bg.values(c)),
                                      "n": int(s.bg.count[c]), "n_real": int(r.bg.count[c])},
                    "mse_model_space": s.sq["real_model"][c] / max(_n(s.terms, c), 1),
                }
        return out

    def vs_catalog(self, true_flux: np.ndarray | None) -> dict | None:
        """Per band, every set's flux within the stamp edge against the catalog's true total flux
        ``(N, C)`` (None without a catalog)."""
        if true_flux is None:
            return None
        rows = len(self.sets[REAL].arr("edge"))
        true_flux = np.tile(true_flux, (rows // len(true_flux), 1))  # once per realisation scored
        return {b: {name: bias_nmad(s.arr("edge")[:, c], true_flux[:, c], self.objects) for name, s in self.sets.items()}
                for c, b in enumerate(self.g.bands)}
