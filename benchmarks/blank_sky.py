"""Where a translation's background mid-k power comes from (issue 19): the strong pipeline alone (no target
noise added), run on a paired split's noisy source stamps and on their noise-free twins, scored against the
noise-free target twins on the outer annulus and on the blank sky (``hpcgan.evaluate.noise.blank_sky``) at
several thresholds. Each cell is the mid-k (``evaluate.midk_*``) power of (pipeline - truth) over the
target survey's own noise (real - truth) on the same pixels: 0 = nothing there, 1 = as much as the survey's
noise. A translation adds its target noise (about 1) on top.

    python benchmarks/blank_sky.py --shards demo_out/shards --n 200 [baseline.denoise_grow=0 ...]
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_knobs import open_split, rows, run_pipeline, split_parser  # noqa: E402

from hpcgan.astro.noise_power import background_mask  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source  # noqa: E402
from hpcgan.evaluate import metrics as M  # noqa: E402
from hpcgan.evaluate.noise import blank_sky  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402

THRESHOLDS = (0.005, 0.01, 0.02)  # x the sky sigma


def midk_ratio(resid: np.ndarray, noise: np.ndarray, region: np.ndarray, band: tuple[float, float]) -> list[float]:
    """Per band: mid-k power of ``resid * region`` over that of ``noise * region`` (all (N, C, n, n))."""
    def radial(f: np.ndarray) -> list[np.ndarray]:
        st = M.FourierStack(f.shape[1], f.shape[-1])
        st.add(f)
        return [M.radial_power(p)[1] for p in st.mean_power()]
    k = M.radial_bins(resid.shape[-1])[1]
    a, r = radial(resid * region), radial(noise * region)
    return [float(M.hf_power_ratio(a[c], r[c], k, *band)) for c in range(resid.shape[1])]


def main() -> int:
    p = split_parser(__doc__, 200)
    p.add_argument("overrides", nargs="*", help="config overrides on -c default, e.g. baseline.denoise_grow=0")
    a = p.parse_args()
    cfg = load_config(["default"], a.overrides)
    src, dst, noisy, ids, fwhm = open_split(a, cfg)
    truth = rows(open_source(a.shards, dst.name, a.split + "-truth"), ids)
    noise = rows(open_source(a.shards, dst.name, a.split), ids) - truth
    band, away = (cfg.evaluate.midk_min, cfg.evaluate.midk_max), cfg.evaluate.blank_sky_away_arcsec
    regions = {"outer annulus": np.broadcast_to(background_mask(truth.shape[-1]), truth.shape)}
    for k in THRESHOLDS:
        regions[f"blank sky, truth < {k:g} sigma, {away:g}\" away"] = blank_sky(truth, truth + noise, k, away / dst.pixel_scale)
    print(f"{len(ids)} objects of {a.shards} {a.split}, {src.name} -> {dst.name}: the strong pipeline's mid-k "
          f"({band[0]:g}-{band[1]:g} cycles/px) power of (output - truth) over {dst.name}'s noise, same pixels")
    print("\n| input | region | share of the stamp | " + " | ".join(dst.bands) + " |")
    print("|---|---|---|" + "---|" * len(dst.bands))
    for name, split, bc in (("noisy", a.split, cfg.baseline),
                            ("noise-free", a.split + "-truth", dataclasses.replace(cfg.baseline, denoise=False))):
        x = rows(open_source(a.shards, src.name, split), ids)
        out = run_pipeline(PsfMatchedBaseline(src, dst, bc), x, fwhm)
        for region, m in regions.items():
            cells = " | ".join(f"{v:.2f}" for v in midk_ratio(out - truth, noise, m, band))
            print(f"| {name} | {region} | {m.mean():.2f} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
