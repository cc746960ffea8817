"""Where the r-band aperture-flux scatter of an SDSS -> CFHT translation comes from (issue 12).

For the paired-test objects of a shard root with truth twins (``hpcgan simulate`` + preprocess):

- the naive baseline on the noisy SDSS stamps and on their noise-free twins: if the two agree, the
  baseline's scatter is PSF-dependent aperture loss, not noise;
- how much of that scatter each stamp's SDSS seeing explains: the NMAD left after a least-squares
  line of the baseline's 3" flux ratio on the shards' ``psf_fwhm`` (and on the truth's concentration,
  1.5" / 6" flux, a proxy of galaxy size): what a translation that knows the seeing can remove;
- with ``--checkpoint``, the trained ``G(x)`` (no noise emulator): its background offset vs the truth
  (median over objects of the mean over the background annulus), that offset as a fraction of the
  3" flux, and the 3" bias/NMAD with the offset subtracted (a pedestal that games an aperture term).

    python benchmarks/scatter_budget.py -c demo --shards demo_out/shards --checkpoint demo_out/train/ours-step2

Figures: docs/training.md ("What to expect from short runs").
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from hpcgan.astro.noise_power import background_mask
from hpcgan.astro.photometry import aperture_fluxes, bias_nmad
from hpcgan.config import load_config
from hpcgan.data.shards import open_source, seeing, stamps_to_model
from hpcgan.models.residual import generate
from hpcgan.translate.baseline import BaselineTranslator
from hpcgan.translate.model import Translator

RADII = (1.5, 3.0)


def line(name: str, img: np.ndarray, truth: np.ndarray, scale: float, extra: str = "") -> None:
    f, ft = aperture_fluxes(img, scale, RADII)[:, 0], aperture_fluxes(truth, scale, RADII)[:, 0]
    cells = "  ".join(f'{r}": {s["bias"]:+.4f} / {s["nmad"]:.4f}' for r, s in
                      ((r, bias_nmad(f[:, i], ft[:, i])) for i, r in enumerate(RADII)))
    print(f"{name:34s} {cells}  {extra}")


def seeing_share(pred: np.ndarray, truth: np.ndarray, fwhm: np.ndarray, scale: float) -> None:
    """Print the 3" NMAD of ``pred / truth`` and what is left of it after a linear fit on the seeing
    ``fwhm``, on a size proxy, and on both."""
    f, ft = aperture_fluxes(pred, scale, [3.0])[:, 0, 0], aperture_fluxes(truth, scale, [1.5, 6.0])[:, 0]
    ratio = f / aperture_fluxes(truth, scale, [3.0])[:, 0, 0]
    conc = ft[:, 0] / ft[:, 1]
    nmad = lambda r: 1.4826 * np.median(np.abs(r - np.median(r)))  # noqa: E731
    cells = [f"as is {nmad(ratio):.4f}"]
    for name, cols in (("seeing", [fwhm]), ("size", [conc]), ("seeing + size", [fwhm, conc, fwhm * conc])):
        a = np.c_[(np.ones_like(ratio), *cols)]  # a tuple index: Python 3.10 has no star in []
        coef, *_ = np.linalg.lstsq(a, ratio, rcond=None)
        cells.append(f"after a fit on {name} {nmad(ratio - a @ coef):.4f}")
    print(f"{'  its 3-arcsec NMAD':34s} " + ", ".join(cells))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", default="demo")
    p.add_argument("--shards", required=True)
    p.add_argument("--checkpoint", help="a step-2 run dir or checkpoint: also score its G(x)")
    p.add_argument("--band", default="r")
    a = p.parse_args()
    cfg = load_config(a.config, [f"data.shards={a.shards}"])
    sx, sy = cfg.data.x, cfg.data.y
    b = sy.bands.index(a.band)
    truth_src = open_source(a.shards, sy.name, "paired-test-truth")
    idx = np.arange(len(truth_src))
    truth = truth_src.read(idx)[:, b]
    print(f"{len(idx)} paired-test objects, {a.band} band, bias / NMAD vs the noise-free truth")
    cpu = torch.device("cpu")
    for what, split in (("baseline, noisy SDSS input", "paired-test"), ("baseline, noise-free SDSS input", "paired-test-truth")):
        src = open_source(a.shards, sx.name, split)
        x = stamps_to_model(src.read(idx), src, sx.flux_scale, cfg.data.pixel_transform)
        fwhm = seeing(src)
        y = BaselineTranslator(cfg, "x2y", cpu).physical(x, list(src.object_ids()), [0], 0, fwhm)[0][:, b]
        line(what, y, truth, sy.pixel_scale)
        if split == "paired-test-truth":
            seeing_share(y, truth, fwhm[:, b], sy.pixel_scale)
    if a.checkpoint:
        src = open_source(a.shards, sx.name, "paired-test")
        x = stamps_to_model(src.read(idx), src, sx.flux_scale, cfg.data.pixel_transform)
        tr = Translator(a.checkpoint, "x2y", cpu, "torch")
        with torch.inference_mode():
            g = tr.to_physical(generate(tr.gen, x, torch.from_numpy(seeing(src))).unsqueeze(0))[0][:, b]
        offset = (g - truth)[:, background_mask(g.shape[-1])].mean(1)  # per object, target units / px
        area = aperture_fluxes(np.ones((1, *g.shape[1:])), sy.pixel_scale, [3.0])[0, 0, 0]
        f3 = aperture_fluxes(truth, sy.pixel_scale, [3.0])[:, 0, 0]
        line("G(x)", g, truth, sy.pixel_scale,
             f"background offset {np.median(offset):+.3g} {sy.bunit}/px = {np.median(offset * area / f3):+.4f} of the 3\" flux")
        line("G(x), background offset removed", g - offset[:, None, None], truth, sy.pixel_scale)


if __name__ == "__main__":
    main()
