"""What a filter chosen for photometry alone does to the image (issue 19): a per-band radial transfer on the
strong pipeline's output fitted, by least squares, to the *noisy* targets' 1.5" and 3" aperture fluxes of one
half of a paired split (relative errors; what training has, never the truth), at several ridge strengths
``lam`` toward the identity, then scored against the noise-free truth on the other half.

    python benchmarks/aperture_frontier.py --shards science_out/test1000/shards --n 1000 \\
        --figure docs/results/frontier_x2y.png

Each row prints, per band, the 3" NMAD of the filtered pipeline minus the pipeline's (points, paired-bootstrap
68% interval), the 3" and 1.5" flux bias and the r50 bias (%; no target noise added to either). The curve of
(r50 bias, 3" NMAD change) over ``lam`` is the price, in size, of each point of NMAD that a linear radial
filter buys; ``--radii`` fits other apertures (a whole curve of growth keeps the filter at the identity).
The figure plots it per band, the pipeline at ``lam`` = infinity (docs/evaluation.md, "The photometry-size
frontier").
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline_knobs import RADII, measure, open_split, rows, run_pipeline, split_parser, versus_pipeline  # noqa: E402

from hpcgan.astro.photometry import aperture_fluxes, aperture_weights  # noqa: E402
from hpcgan.astro.transfer import aperture_transfer, apply_transfer, basis_aperture_fluxes  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source  # noqa: E402
from hpcgan.evaluate.metrics import radii_arcsec  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402

FLOOR = 0.1  # relative errors are taken against max(|pipeline flux|, FLOOR * its median |flux|)


def relative_scale(flux: np.ndarray) -> np.ndarray:
    """(N, C, A) the fluxes to divide errors by: ``|flux|``, no less than ``FLOOR`` times the band's and
    aperture's median ``|flux|`` (a faint object's relative error would dominate the fit)."""
    return np.maximum(np.abs(flux), FLOOR * np.median(np.abs(flux), axis=0))


def plot(points: dict, bands: tuple[str, ...], title: str, path: str) -> None:
    """Per band: 3" NMAD change against r50 bias over the ridge strengths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(bands), figsize=(3.2 * len(bands), 3.2), sharey=False)
    for c, (ax, b) in enumerate(zip(axes, bands)):
        r50 = [points[lam][c][0] for lam in points]
        d = [points[lam][c][1] for lam in points]
        ax.plot(r50, d, "o-", color="C0")
        for lam, x, y in zip(points, r50, d):
            ax.annotate("pipeline" if lam == np.inf else f"{lam:g}", (x, y), fontsize=7)
        ax.axvspan(-2, 2, color="0.9", zorder=0)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(title=b, xlabel="r50 bias (%)")
    axes[0].set_ylabel('3" NMAD change (points)')
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    p = split_parser(__doc__, 1000)
    p.add_argument("--bins", type=int, default=16, help="radial bins from 0 to the corner frequency")
    p.add_argument("--lam", type=float, nargs="+", default=[0.0, 0.003, 0.01, 0.03, 0.1, 0.3],
                   help="ridge strengths toward the identity")
    p.add_argument("--radii", type=float, nargs="+", default=list(RADII), help="aperture radii fitted (arcsec)")
    p.add_argument("--figure", help="write the frontier figure here")
    a = p.parse_args()
    cfg = load_config(["default"])
    src, dst, noisy, ids, fwhm = open_split(a, cfg)
    out = torch.from_numpy(run_pipeline(PsfMatchedBaseline(src, dst, cfg.baseline), rows(noisy, ids), fwhm))
    target = rows(open_source(a.shards, dst.name, a.split), ids)
    truth = rows(open_source(a.shards, dst.name, a.split + "-truth"), ids)
    fit, test = np.arange(0, len(ids), 2), np.arange(1, len(ids), 2)
    weights = torch.from_numpy(aperture_weights(dst.stamp_size, dst.pixel_scale, tuple(a.radii)))
    design = basis_aperture_fluxes(out[fit], a.bins, weights)
    flux_y = torch.from_numpy(aperture_fluxes(target[fit], dst.pixel_scale, a.radii))
    scale = torch.from_numpy(relative_scale(design.sum(-1).numpy()))  # the pipeline's own fluxes (transfer 1)
    radii = radii_arcsec(dst.stamp_size, dst.pixel_scale, cfg.evaluate.radius_step_arcsec)
    (ap_t, r50_t), (ap_b, r50_b) = (measure(x, dst.pixel_scale, radii) for x in (truth[test], out[test].numpy()))
    print(f"{src.name} -> {dst.name}: filters fitted on the {'/'.join(f'{r:g}' for r in a.radii)}\" fluxes of "
          f"{len(fit)} noisy targets, scored on {len(test)} other objects against the truth")
    print('| lam | ' + " | ".join(f'{b}: 3" NMAD change [68%], 3" / 1.5" / r50 bias' for b in dst.bands) + " |")
    print("|---" * (1 + len(dst.bands)) + "|")
    points = {}
    for lam in [*a.lam, np.inf]:
        if lam == np.inf:
            ap_f, r50_f = ap_b, r50_b
        else:
            f = aperture_transfer(design, flux_y, scale, lam)
            ap_f, r50_f = measure(apply_transfer(out[test], f).double().numpy(), dst.pixel_scale, radii)
        cells, points[lam] = [], []
        for c in range(len(dst.bands)):
            cell, delta, r50_bias = versus_pipeline(ap_f, r50_f, ap_b, ap_t, r50_t, c)
            points[lam].append((r50_bias, delta))
            cells.append(cell)
        print(f"| {'pipeline' if lam == np.inf else f'{lam:g}'} | " + " | ".join(cells) + " |")
    if a.figure:
        plot(points, dst.bands, f"{src.name} -> {dst.name}: a radial filter fitted to the 1.5\"/3\" fluxes of {len(fit)} "
             f"noisy targets, at ridge lam; scored on {len(test)} other objects", a.figure)
        print(f"figure: {a.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
