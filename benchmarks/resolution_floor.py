"""The residual power no SDSS -> CFHT translation can remove: the strong pipeline on the noise-free SDSS
twins, scored against the noise-free CFHT twins, over the real CFHT noise (issue 19).

    python benchmarks/resolution_floor.py --shards demo_out/shards            # -c demo settings
    python benchmarks/resolution_floor.py --shards demo_out/shards baseline.regularization=1e-6

Prints per band the high-k (``evaluate.hf_min`` .. 0.5 cycles/px) and mid-k (``evaluate.midk_*``) power
of (pipeline(noise-free SDSS) - CFHT truth) over that of (real CFHT - truth): with the target's noise
added, a translation's ratio cannot go below 1 + this (galaxy structure the SDSS pixels do not hold).

Then the photometric scale: the SDSS stamp's own aperture flux (``evaluate.aperture_radii_arcsec``),
times one aperture correction per band (the median CFHT-truth / SDSS-truth ratio), as an estimate of the
CFHT truth's: its NMAD from the noisy SDSS stamps (what SDSS's pixels hold before any deconvolution) and
from the noise-free twins (the spread of the galaxies' aperture corrections).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.astro.photometry import aperture_fluxes, bias_nmad  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source, seeing  # noqa: E402
from hpcgan.evaluate import metrics as M  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True)
    p.add_argument("--split", default="paired-test")
    p.add_argument("overrides", nargs="*", help="config overrides (key=value) on -c demo")
    a = p.parse_args()
    cfg = load_config(["demo"], ["baseline.denoise=false", *a.overrides])
    x, y = cfg.data.x, cfg.data.y
    xt = open_source(a.shards, x.name, a.split + "-truth")
    yt = open_source(a.shards, y.name, a.split + "-truth")
    yr = open_source(a.shards, y.name, a.split)
    idx = np.arange(len(xt))
    base = PsfMatchedBaseline(x, y, cfg.baseline)
    with torch.no_grad():
        src_truth = xt.read(idx)
        out = base(torch.from_numpy(src_truth.astype(np.float32)), torch.from_numpy(seeing(xt))).double().numpy()
    truth, real = yt.read(idx).astype(np.float64), yr.read(idx).astype(np.float64)
    floor, noise = M.FourierStack(len(y.bands), y.stamp_size), M.FourierStack(len(y.bands), y.stamp_size)
    floor.add(out - truth)
    noise.add(real - truth)
    k, pf = M.radial_power(floor.mean_power())
    _, pn = M.radial_power(noise.mean_power())
    ec = cfg.evaluate
    print(f"{len(idx)} objects, {x.name} -> {y.name}, noise-free input; power over the real {y.name} noise")
    print("| band | high-k floor | mid-k floor (whole stamp) |")
    print("|---|---|---|")
    for c, b in enumerate(y.bands):
        hf = float(M.hf_power_ratio(pf[c], pn[c], k, ec.hf_min))
        mk = float(M.hf_power_ratio(pf[c], pn[c], k, ec.midk_min, ec.midk_max))
        print(f"| {b} | {hf:.2f} (ratio with noise >= {1 + hf:.2f}) | {mk:.1f} |")
    print_aperture_floor(cfg, a.shards, a.split, src_truth, truth)
    return 0


def print_aperture_floor(cfg, shards: str, split: str, src_truth: np.ndarray, dst_truth: np.ndarray) -> None:
    """The source stamps' own aperture fluxes, aperture-corrected per band, against the target truth's."""
    x, y, radii = cfg.data.x, cfg.data.y, cfg.evaluate.aperture_radii_arcsec
    src = open_source(shards, x.name, split).read(np.arange(len(src_truth)))
    fs, fst = (aperture_fluxes(a.astype(np.float64), x.pixel_scale, radii) for a in (src, src_truth))
    ft = aperture_fluxes(dst_truth, y.pixel_scale, radii)
    print(f"\n{x.name}'s own aperture flux x one aperture correction per band vs the {y.name} truth: NMAD, "
          f"noisy {x.name} / noise-free twins")
    print("| band | " + " | ".join(f'{r}"' for r in radii) + " |")
    print("|---|" + "---|" * len(radii))
    for c, b in enumerate(y.bands):
        cells = []
        for j in range(len(radii)):
            k = np.median(ft[:, c, j] / fst[:, c, j])
            n, n0 = (bias_nmad(f[:, c, j] * k, ft[:, c, j])["nmad"] for f in (fs, fst))
            cells.append(f"{100 * n:.2f}% / {100 * n0:.2f}%")
        print(f"| {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
