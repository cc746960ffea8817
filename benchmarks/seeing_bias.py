"""Where a translation's small-aperture flux bias comes from when the pipeline is exact: the target
stamps' own seeing against the survey's nominal one (issue 19, CFHT -> SDSS 1.5" bias).

    python benchmarks/seeing_bias.py --shards demo_out/shards                  # CFHT -> SDSS (y2x)
    python benchmarks/seeing_bias.py --shards demo_out/shards --direction x2y

Runs the strong pipeline (``-c demo`` settings, no denoising) on the *noise-free* source twins of a
split and scores 1.5" and 3" aperture fluxes against the noise-free target twins, per band: the median
ratio - 1, and a linear fit of the 1.5" ratio on the target stamp's seeing relative to the split's
median seeing. A translation matches the target survey's *nominal* seeing (it cannot know the seeing
of a target exposure that was never taken), while each truth twin has its own; the fit's value at the
nominal seeing is the pipeline's own bias. The same for a point source at nominal seeing in every band
(no galaxy, no per-stamp seeing) closes the budget.

The last column is the Wiener cut: the frequency (cycles/arcsec) where the source PSF's power falls to
``baseline.regularization`` of its peak, above which the match keeps almost nothing. An aperture of radius
R weighs frequencies by its Fourier transform, a jinc that is negative between 0.61/R and 1.12/R cycles/arcsec
(0.41-0.74 for R = 1.5"): a cut inside that lobe removes power the aperture counted negatively, so the
aperture holds *more* flux than the target PSF's (docs/evaluation.md, "The Wiener cut and small apertures").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.astro.photometry import aperture_fluxes  # noqa: E402
from hpcgan.astro.psf import PsfModel  # noqa: E402
from hpcgan.astro.surveys import psf_shape  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source, seeing  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402

RADII = (1.5, 3.0)


def point_sources(survey, fwhm: tuple[float, ...]) -> np.ndarray:
    """(C, n, n) unit-flux PSF images of ``survey`` at ``fwhm`` per band, pixel-integrated (as simulated)."""
    n, kind = survey.stamp_size, psf_shape(survey.name)
    return np.stack([PsfModel(*kind, f, 0.0, min(fwhm)).profile().drawImage(
        nx=n, ny=n, scale=survey.pixel_scale, method="auto").array for f in fwhm])


def wiener_cut(base: PsfMatchedBaseline, band: int) -> float:
    """Cycles/arcsec where the source PSF's power (nominal seeing, on the grid the kernel runs on) first
    falls below ``regularization`` x its peak: the Wiener match's cut (nan if never, within Nyquist)."""
    grid = base.dst.pixel_scale if base.upsample else base.src.pixel_scale
    img = PsfModel(*base.shape_src, base.fwhm_src[band], base.src.pixel_scale, min(base.fwhm_src)).image(grid)
    power = np.abs(np.fft.rfft(np.fft.ifftshift(img).sum(axis=0))) ** 2  # a central cut of the 2-D OTF
    k = np.fft.rfftfreq(img.shape[0], d=grid)
    below = np.flatnonzero(power < base.regularization * power.max())
    return float(k[below[0]]) if below.size else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True)
    p.add_argument("--split", default="paired-test")
    p.add_argument("--direction", choices=("x2y", "y2x"), default="y2x")
    p.add_argument("overrides", nargs="*", help="config overrides (key=value) on -c demo")
    a = p.parse_args()
    cfg = load_config(["demo"], ["baseline.denoise=false", *a.overrides])
    src, dst = (cfg.data.x, cfg.data.y) if a.direction == "x2y" else (cfg.data.y, cfg.data.x)
    st = open_source(a.shards, src.name, a.split + "-truth")
    dt = open_source(a.shards, dst.name, a.split + "-truth")
    idx = np.arange(len(st))
    base = PsfMatchedBaseline(src, dst, cfg.baseline)
    with torch.no_grad():
        out = base(torch.from_numpy(st.read(idx).astype(np.float32)), torch.from_numpy(seeing(st))).double().numpy()
        pt_in = point_sources(src, base.fwhm_src)[None].astype(np.float32)
        pt = base(torch.from_numpy(pt_in), torch.tensor([base.fwhm_src])).double().numpy()
    truth = dt.read(idx).astype(np.float64)
    ratio = aperture_fluxes(out, dst.pixel_scale, RADII) / aperture_fluxes(truth, dst.pixel_scale, RADII)
    pt_truth = point_sources(dst, base.fwhm_dst)[None]
    pt_ratio = ((aperture_fluxes(pt, dst.pixel_scale, RADII) / pt.sum((-2, -1))[..., None])
                / (aperture_fluxes(pt_truth, dst.pixel_scale, RADII) / pt_truth.sum((-2, -1))[..., None]))[0]
    s = seeing(dt)
    print(f"{len(idx)} objects, {src.name} -> {dst.name}, noise-free; aperture flux translated/truth - 1")
    print('| band | 1.5" median | 3" median | target seeing: split median / nominal | 1.5" slope on seeing '
          '| 1.5" fit at nominal seeing | point source 1.5" / 3" | Wiener cut (cycles/") |')
    print("|---|---|---|---|---|---|---|---|")
    for c, b in enumerate(dst.bands):
        med = float(np.median(s[:, c]))
        slope, icpt = np.polyfit(s[:, c] / med - 1.0, ratio[:, c, 0] - 1.0, 1)
        at_nominal = icpt + slope * (base.fwhm_dst[c] / med - 1.0)
        print(f"| {b} | {np.median(ratio[:, c, 0]) - 1:+.2%} | {np.median(ratio[:, c, 1]) - 1:+.2%} "
              f"| {med:.3f} / {base.fwhm_dst[c]:.2f} = {med / base.fwhm_dst[c]:.3f} | {slope:+.2f} | {at_nominal:+.2%} "
              f"| {pt_ratio[c, 0] - 1:+.2%} / {pt_ratio[c, 1] - 1:+.2%} | {wiener_cut(base, c):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
