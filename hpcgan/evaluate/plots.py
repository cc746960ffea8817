"""The evaluation figures, drawn with matplotlib (Agg) and written atomically as PNG.

``aperture_flux.png`` (candidates vs truth, or vs the real stamps without truth, 1:1 line, per band),
``grid.png`` (input / translation / truth / residual / real noisy [/ baseline], r band),
``power_ratio.png`` (vs the real stamps, and residual power vs the real stamps' residual),
``curve_of_growth.png`` (median curves per band) and ``fourier_maps.png`` (stacked amplitudes, r band).
The numbers behind them are in metrics.json.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hpcgan.evaluate.score import REAL, TRUTH, Scores  # noqa: E402
from hpcgan.utils.atomic import atomic_path  # noqa: E402

STYLE = {"translation": dict(color="tab:red"), "baseline": dict(color="tab:green", ls="--"),
         REAL: dict(color="tab:blue"), TRUTH: dict(color="black", ls=":")}
LABEL = {"translation": "translation", "baseline": "baseline", REAL: "real noisy", TRUTH: "truth"}


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path.name


def _ref_band(bands: list[str]) -> int:
    return bands.index("r") if "r" in bands else len(bands) // 2


def all_plots(out: Path, res: dict, scores: Scores, grid: dict | None) -> list[str]:
    """Every figure into ``out``; returns the file names."""
    out.mkdir(parents=True, exist_ok=True)
    made = [aperture_flux(out / "aperture_flux.png", res, scores), power_ratio(out / "power_ratio.png", res),
            curve_of_growth(out / "curve_of_growth.png", res, scores), fourier_maps(out / "fourier_maps.png", res, scores)]
    if grid is not None:
        made.append(stamp_grid(out / "grid.png", res, scores, grid))
    return made


def aperture_flux(path: Path, res: dict, scores: Scores) -> str:
    """Flux in the largest aperture: every candidate against the truth (else the real stamps)."""
    bands, g = res["bands"], scores.g
    ref = TRUTH if scores.truth else REAL
    j, rad = len(g.aperture_radii) - 1, g.aperture_radii[-1]
    x_all = scores.sets[ref].arr("ap")[:, :, j]
    fig, axes = plt.subplots(1, len(bands), figsize=(3.2 * len(bands), 3.4), squeeze=False)
    for c, (b, ax) in enumerate(zip(bands, axes[0])):
        x = x_all[:, c]
        ys = {n: scores.sets[n].arr("ap")[:, c, j] for n in scores.sets if n not in (ref, TRUTH)}
        vals = np.concatenate([x, *ys.values()])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        for name, y in ys.items():
            ok = (x > 0) & (y > 0)
            ax.scatter(x[ok], y[ok], s=6, alpha=0.6, color=STYLE[name]["color"], label=LABEL[name])
        if vals.size:
            lim = [vals.min() / 1.5, vals.max() * 1.5]
            ax.plot(lim, lim, color="grey", lw=1, label="1:1")
            ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim)
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(title=f"{b} band, r = {rad:g}\"", xlabel=f"{LABEL[ref]} flux within {rad:g}\" ({res['target_survey']} units)")
        if c == 0:
            ax.set_ylabel(f"flux within {rad:g}\" ({res['target_survey']} units)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def power_ratio(path: Path, res: dict) -> str:
    """Left: ``P_candidate / P_real``; right (with truth): ``P(candidate - truth) / P(real - truth)``."""
    k, bands = np.asarray(res["k_cycles_per_px"], float), res["bands"]
    panels = [("vs_real", "P(candidate) / P(real noisy)")] + [("vs_truth", "P(cand. - truth) / P(real - truth)")] * bool(res["vs_truth"])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(bands)))
    for ax, (block, ylabel) in zip(axes[0], panels):
        ax.axvspan(res["hf_k_min"], 0.5, color="0.92")
        ax.axhline(1.0, color="grey", lw=1)
        for c, b in enumerate(bands):
            for name, v in res[block][b].items():
                if name == REAL:
                    continue
                if block == "vs_real":
                    ratio = np.asarray(v["fourier"]["power_ratio"], float)
                else:
                    num = np.asarray(v["residual_power"]["power"], float)
                    den = np.asarray(res[block][b][REAL]["residual_power"]["power"], float)
                    ratio = np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)  # no noise: no ratio
                ax.plot(k[1:], ratio[1:], color=colors[c], ls=STYLE[name].get("ls", "-"), label=f"{b} {LABEL[name]}")
        ax.set(yscale="log", xlabel="k (cycles / pixel)", ylabel=ylabel,
               title=f"radially averaged power ({'vs real noisy' if block == 'vs_real' else 'residuals vs truth'}); "
                     f"shaded: k >= {res['hf_k_min']:g}")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def curve_of_growth(path: Path, res: dict, scores: Scores) -> str:
    """Median curve of growth of every set, per band."""
    bands, r = res["bands"], scores.g.cog_radii
    fig, axes = plt.subplots(1, len(bands), figsize=(3.2 * len(bands), 3.4), squeeze=False)
    for c, (b, ax) in enumerate(zip(bands, axes[0])):
        for name, s in scores.sets.items():
            cog = s.arr("cog")[:, c]
            cog = cog[np.isfinite(cog).all(axis=1)]
            if len(cog):
                ax.plot(r, np.median(cog, axis=0), lw=1.5, label=LABEL[name], **STYLE[name])
        ax.set(title=f"{b} band", xlabel="radius (arcsec)", ylim=(0, 1.05))
        if c == 0:
            ax.set_ylabel("flux fraction within radius (median)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def fourier_maps(path: Path, res: dict, scores: Scores) -> str:
    """Stacked Fourier amplitude of the real stamps and the translation, and their log ratio (r band)."""
    c = _ref_band(res["bands"])
    ar = scores.sets[REAL].image.mean_amplitude()[c]
    ag = scores.sets["translation"].image.mean_amplitude()[c]
    with np.errstate(divide="ignore", invalid="ignore"):
        maps = [("log10 |F| real noisy", np.log10(ar)), ("log10 |F| translation", np.log10(ag)),
                ("log10 (translation / real)", np.log10(ag / ar))]
    fin = np.concatenate([m[np.isfinite(m)] for _, m in maps[:2]])
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    ext = [-0.5, 0.5, -0.5, 0.5]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for i, (ax, (title, m)) in enumerate(zip(axes, maps)):
        if i < 2:
            im = ax.imshow(m, origin="lower", extent=ext, vmin=lo, vmax=hi, cmap="magma")
        else:
            v = float(np.nanmax(np.abs(m[np.isfinite(m)]))) if np.isfinite(m).any() else 1.0
            im = ax.imshow(m, origin="lower", extent=ext, vmin=-v, vmax=v, cmap="RdBu_r")
        ax.set(title=f"{title}, {res['bands'][c]} band", xlabel="k_x (cycles / pixel)", ylabel="k_y (cycles / pixel)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, path)


def stamp_grid(path: Path, res: dict, scores: Scores, grid: dict) -> str:
    """One row per object (r band): input, translation, truth, translation - truth, real noisy, baseline."""
    st, g = grid["stamps"], scores.g
    c = _ref_band(res["bands"])
    ci = _ref_band(grid["input_bands"])
    cols = [("input", f"input ({grid['input_survey']})")]
    cols += [("translation", "translation")] + [(TRUTH, "truth")] * (TRUTH in st)
    cols += [("residual", "translation - truth")] * (TRUTH in st) + [(REAL, "real noisy")]
    cols += [("baseline", "baseline")] * ("baseline" in st)
    n = len(grid["ids"])
    fig, axes = plt.subplots(n, len(cols), figsize=(2.4 * len(cols), 2.2 * n), squeeze=False)
    unit = f"{res['target_survey']} units"
    for i in range(n):
        ref = st[TRUTH if TRUTH in st else REAL][i, c]
        lo, hi = np.percentile(ref, [1, 99.5])
        for j, (key, title) in enumerate(cols):
            ax = axes[i, j]
            if key == "input":
                img, scale = st["input"][i, ci], grid["input_pixel_scale"]
                kw = dict(vmin=np.percentile(img, 1), vmax=np.percentile(img, 99.5), cmap="gray")
            elif key == "residual":
                img, scale = st["translation"][i, c] - st[TRUTH][i, c], g.pixel_scale
                v = float(np.percentile(np.abs(img), 99)) or 1.0
                kw = dict(vmin=-v, vmax=v, cmap="RdBu_r")
            else:
                img, scale = st[key][i, c], g.pixel_scale
                kw = dict(vmin=lo, vmax=hi, cmap="gray")
            half = img.shape[-1] * scale / 2
            im = ax.imshow(img, origin="lower", extent=[-half, half, -half, half], **kw)
            fig.colorbar(im, ax=ax, fraction=0.046)
            if i == 0:
                ax.set_title(f"{title}\n{res['bands'][c] if key != 'input' else grid['input_bands'][ci]} band, "
                             f"{unit if key != 'input' else grid['input_survey'] + ' units'}", fontsize=8)
            if i == n - 1:
                ax.set_xlabel("arcsec")
            if j == 0:
                ax.set_ylabel(f"{grid['ids'][i]}\narcsec", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
