"""How much would a prior on galaxy shapes cut the strong pipeline's aperture scatter? (issue 19)

The pipeline's 3" scatter is almost all the source survey's noise (SDSS -> CFHT r: 1.80% noisy, 0.31% on
the noise-free twins; ``benchmarks/baseline_knobs.py --clean``), and no radial filter removes it at fixed
galaxy size (``benchmarks/aperture_frontier.py``). A shape prior can: the bands share a shape, known far
better from all of them together. On the pipeline's output, per band, this prints the 3" flux against the
noise-free truth (bias / NMAD, %; the NMAD change against the pipeline [68% paired bootstrap]) and the
colours (mag) of

- ``pipeline``: the plain 3" aperture on the pipeline without its shape prior (``baseline.shape_prior_arcsec=0``);
- ``co-add G<s>``: the band's Gaussian-weighted flux (sigma ``s`` arcsec) relative to the per-object co-add of
  all bands, times the co-add's 3" flux (no truth): the 3" flux of the pipeline's step 4 model
  (:func:`hpcgan.astro.template_photometry.shape_prior` with ``keep`` 0, the co-add weighted by
  ``PsfMatchedBaseline.source_noise``);
- ``truth shape G<s>``: the same with each band's own noise-free shape as the template (what a perfect shape
  prior with these weights would reach: the floor of the idea).

    python benchmarks/shape_prior.py --shards <test1000 shards> --n 1000 [--direction y2x]

The pipeline's own shape prior (the model shrunk into the image, 1.5" apertures and sizes too) is scored by
``benchmarks/baseline_knobs.py --setting baseline.shape_prior_arcsec=0 --setting ''``.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline_knobs import RADII, open_split, rows, run_pipeline, split_parser  # noqa: E402

from hpcgan.astro.photometry import aperture_fluxes, bias_nmad, colour_stats, nmad_difference  # noqa: E402
from hpcgan.astro.template_photometry import gaussian_weight, shape_prior  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402

COLOURS = ((1, 2), (2, 3), (3, 4))  # g-r, r-i, i-z


def truth_shape_fluxes(imgs: np.ndarray, truth: np.ndarray, pixel_scale: float, gauss_sigma: float) -> np.ndarray:
    """(N, C) 3" flux of the truth times the Gaussian-weighted flux of ``imgs`` over the truth's."""
    g = gaussian_weight(imgs.shape[-1], pixel_scale, gauss_sigma)
    f_t = aperture_fluxes(truth, pixel_scale, RADII[-1:])[..., 0]
    return f_t * np.einsum("ncij,ij->nc", imgs, g) / np.einsum("ncij,ij->nc", truth, g)


def main() -> int:
    p = split_parser(__doc__, 1000)
    p.add_argument("--gauss", type=float, nargs="+", default=[1.0, 1.5, 2.0], help="Gaussian weights' sigma (arcsec)")
    a = p.parse_args()
    cfg = load_config(["default"])
    src, dst, noisy, ids, fwhm = open_split(a, cfg)
    x = rows(noisy, ids)
    out = run_pipeline(PsfMatchedBaseline(src, dst, dataclasses.replace(cfg.baseline, shape_prior_arcsec=0.0)), x, fwhm)
    truth = rows(open_source(a.shards, dst.name, a.split + "-truth"), ids)
    noise = PsfMatchedBaseline.source_noise(torch.from_numpy(x)).double()
    f_truth = aperture_fluxes(truth, dst.pixel_scale, RADII[-1:])[..., 0]
    sets = {"pipeline": aperture_fluxes(out, dst.pixel_scale, RADII[-1:])[..., 0]}
    for s in a.gauss:
        model = shape_prior(torch.from_numpy(out), noise, dst.pixel_scale, RADII[-1], s, keep=0.0).numpy()
        sets[f"co-add G{s:g}"] = aperture_fluxes(model, dst.pixel_scale, RADII[-1:])[..., 0]
    for s in a.gauss:
        sets[f"truth shape G{s:g}"] = truth_shape_fluxes(out, truth, dst.pixel_scale, s)
    bands = dst.bands
    print(f"{src.name} -> {dst.name}: {len(ids)} objects of {a.shards}; 3\" flux against the noise-free truth")
    print('| 3" flux | ' + " | ".join(f"{b}: bias / NMAD, change [68%]" for b in bands)
          + " | " + " | ".join(f"{bands[i]}-{bands[j]}: bias / NMAD" for i, j in COLOURS) + " |")
    print("|---" * (1 + len(bands) + len(COLOURS)) + "|")
    for name, f in sets.items():
        cells = []
        for c in range(len(bands)):
            s, d = bias_nmad(f[:, c], f_truth[:, c]), nmad_difference(f[:, c], sets["pipeline"][:, c], f_truth[:, c])
            cells.append(f"{100 * s['bias']:+.2f} / {100 * s['nmad']:.2f}, "
                         f"{100 * d['delta']:+.2f} [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}]")
        for i, j in COLOURS:
            s = colour_stats(f[:, [i, j]], f_truth[:, [i, j]])
            cells.append(f"{s['median']:+.3f} / {s['nmad']:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
