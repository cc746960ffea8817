"""What the pairs could teach the strong pipeline linearly: a per-band radial transfer function ``F(k)`` on
its output, fitted by least squares against the *noisy* target stamps of one half of a paired split (what
training has; never the truth), then scored against the noise-free truth on the other half (issue 19).

    python benchmarks/learnt_filter.py --shards science_out/test1000/shards --n 1000
    python benchmarks/learnt_filter.py --shards <faint shards> --n 500 --bins 16 --no-shrink

Per band and radial bin (:mod:`hpcgan.astro.transfer`, as ``model.residual_filter_bins`` fits it before step 2):
``F = sum Re(Y B*) / sum |B|^2`` over the fitting half (``B`` the pipeline's output,
``Y`` the noisy target, both FFT'd on the target grid), clipped to [0, 1] (the filter can only remove what
the targets say is not there, such as the source survey's noise) and shrunk toward 1 by its standard error
(``--no-shrink``: not). The target's noise is
independent of the input, so the fit is unbiased without the truth. Prints ``F`` and, for the pipeline and
the filtered pipeline (no target noise on either), the 3" and 1.5" bias / NMAD, the r50 bias and the 3"
NMAD difference with its paired-bootstrap 68% interval (docs/evaluation.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline_knobs import measure, open_split, rows, run_pipeline, split_parser  # noqa: E402

from hpcgan.astro.photometry import bias_nmad, nmad_difference  # noqa: E402
from hpcgan.astro.transfer import apply_transfer, binned_sums, radial_labels, radial_transfer  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source  # noqa: E402
from hpcgan.evaluate.metrics import radii_arcsec  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402


def main() -> int:
    p = split_parser(__doc__, 1000)
    p.add_argument("--bins", type=int, default=16, help="radial bins from 0 to the corner frequency")
    p.add_argument("--no-shrink", action="store_true", help="keep the raw clipped fit (no shrinkage toward 1)")
    a = p.parse_args()
    cfg = load_config(["default"])
    src, dst, noisy, ids, fwhm = open_split(a, cfg)
    out = run_pipeline(PsfMatchedBaseline(src, dst, cfg.baseline), rows(noisy, ids), fwhm)
    target = rows(open_source(a.shards, dst.name, a.split), ids)
    truth = rows(open_source(a.shards, dst.name, a.split + "-truth"), ids)
    fit, test = np.arange(0, len(ids), 2), np.arange(1, len(ids), 2)
    labels = radial_labels(dst.stamp_size, a.bins)
    f = radial_transfer(*binned_sums(torch.from_numpy(out[fit]), torch.from_numpy(target[fit]), labels), not a.no_shrink)
    filtered = apply_transfer(torch.from_numpy(out[test]), f).double().numpy()
    radii = radii_arcsec(dst.stamp_size, dst.pixel_scale, cfg.evaluate.radius_step_arcsec)
    (ap_t, r50_t), (ap_b, r50_b), (ap_f, r50_f) = (measure(x, dst.pixel_scale, radii)
                                                   for x in (truth[test], out[test], filtered))
    step = np.sqrt(2) / 2 / a.bins / dst.pixel_scale
    print(f"{src.name} -> {dst.name}: filter fitted on {len(fit)} noisy targets, scored on {len(test)} other objects "
          f"against the truth; bins of {step:.3f} cycles/arcsec")
    for c, b in enumerate(dst.bands):
        print(f"F {b}: " + " ".join(f"{v:.2f}" for v in f[c].tolist()))
    print('| band | set | 3" bias / NMAD | 1.5" bias / NMAD | r50 bias | 3" NMAD filtered - pipeline [68%] |')
    print("|---|---|---|---|---|---|")
    for c, b in enumerate(dst.bands):
        d = nmad_difference(ap_f[:, c, 1], ap_b[:, c, 1], ap_t[:, c, 1])
        for name, ap, r50, diff in (("pipeline", ap_b, r50_b, ""),
                                    ("filtered", ap_f, r50_f, f"{100 * d['delta']:+.2f} [{100 * d['lo']:+.2f}, "
                                                              f"{100 * d['hi']:+.2f}]")):
            f3, f15, r = (bias_nmad(ap[:, c, 1], ap_t[:, c, 1]), bias_nmad(ap[:, c, 0], ap_t[:, c, 0]),
                          bias_nmad(r50[:, c], r50_t[:, c]))
            print(f"| {b} | {name} | {100 * f3['bias']:+.2f} / {100 * f3['nmad']:.2f} | {100 * f15['bias']:+.2f} / "
                  f"{100 * f15['nmad']:.2f} | {100 * r['bias']:+.2f} | {diff} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
