"""Is there room above the linear frontier? A small CNN, trained Noise2Noise on many pairs, corrects the strong
pipeline's output; scored against the pipeline on independent objects (issue 19).

    python benchmarks/learnt_prior.py --train-shards <6000-pair shards> --shards science_out/test1000/shards \\
        --n 1000 --soften 10 --footprint 0.5 --flux-weight 1 --crop 64 --calibrate --cache <dir>

The training shards (6000 pairs, all in paired-test; about 6 min on 2 cores):

    S="-c default simulate.out=<out>/sim simulate.n_paired=6000 simulate.seed=12350 simulate.n_unpaired=16
       simulate.paired_test_fraction=1.0 preprocess.catalog=<out>/sim/catalog.csv preprocess.out=<out>/shards"
    mpirun -np 2 hpcgan simulate $S && mpirun -np 2 hpcgan preprocess $S

The correction is ``out = B + s * net(asinh(B / s))``: ``B`` the pipeline's output in target survey units,
``s`` the target survey's per-band noise sigma (1.4826 MAD of target - B over 500 training stamps), ``net``
five 3x3 convolutions (dilations 1, 2, 4, 8, 1; receptive field 33 px) with its last layer at zero (the
start is the pipeline). It is trained by mean squared error, in noise units, against the **noisy** target
stamps of ``--train-shards``'s paired split (their noise is independent of the input's, so the minimiser
is the noise-free image's conditional mean: Noise2Noise; the truth is never read), on random crops near the
stamp centre; ``--soften`` weighs bright cores down (by the input alone, so the minimiser stays the same), and
``--footprint`` leaves the sky alone (where the pipeline's output is below that many noise sigmas), and
``--flux-weight`` adds the squared relative 1.5" / 3" flux errors against the noisy targets (as the
residual generator's flux term; the crops are then centred). ``--calibrate`` scales each band of the
corrected output by the held-out pairs' summed 3" flux, noisy targets over corrected (a zero point that
needs no truth). Every ``--eval-every`` iterations it prints the loss on held-out training pairs (noisy
targets). Then both are scored on ``--shards`` (other objects) against the noise-free truth, per band: the
3" NMAD change [68% paired bootstrap], the 3" / 1.5" / r50 bias (docs/evaluation.md, "Above the
frontier"). A nonlinear correction that beats the pipeline at the same r50 bias is what no radial filter
does (``benchmarks/aperture_frontier.py``).
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aperture_frontier import relative_scale  # noqa: E402
from baseline_knobs import RADII, measure, open_split, rows, run_pipeline, split_parser, versus_pipeline  # noqa: E402

from hpcgan.astro.photometry import aperture_weights, nmad  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source, seeing  # noqa: E402
from hpcgan.evaluate.metrics import radii_arcsec  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402

DILATIONS = (1, 2, 4, 8, 1)
SIGMA_STAMPS = 500  # the noise sigma is measured on the first training stamps


class Correction(torch.nn.Module):
    """``B + s * net(asinh(B / s))`` per band (module docstring), the correction kept only where ``|B|`` exceeds
    ``footprint`` times the noise (0: everywhere); zero at the start."""

    def __init__(self, bands: int, width: int, sigma: torch.Tensor, footprint: float = 0.0):
        super().__init__()
        self.footprint = footprint
        chans = [bands, *([width] * (len(DILATIONS) - 1)), bands]
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(i, o, 3, padding=d, dilation=d)
                                         for i, o, d in zip(chans[:-1], chans[1:], DILATIONS))
        torch.nn.init.zeros_(self.convs[-1].weight)
        torch.nn.init.zeros_(self.convs[-1].bias)
        self.register_buffer("sigma", sigma.float().view(1, -1, 1, 1))

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        h = torch.asinh(base / self.sigma)
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        out = self.sigma * self.convs[-1](h)
        if self.footprint > 0:  # only where the pipeline's output is above footprint x the noise
            out = out * (base.abs() > self.footprint * self.sigma)
        return base + out


def noise_sigma(base: np.ndarray, target: np.ndarray) -> torch.Tensor:
    """(C,) 1.4826 MAD of ``target - base`` per band over every pixel (the sky dominates a stamp)."""
    r = (target.astype(np.float64) - base).transpose(1, 0, 2, 3).reshape(target.shape[1], -1)
    return torch.from_numpy(nmad(r, axis=1))


def crops(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, size: int, jitter: int,
          g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random ``size`` crops of ``x`` and ``y`` at rows ``idx``, within ``jitter`` px of the centre."""
    n = x.shape[-1]
    lo = max(0, (n - size) // 2 - jitter)
    hi = min(n - size, (n - size) // 2 + jitter)
    i, j = (int(v) for v in torch.randint(lo, hi + 1, (2,), generator=g))
    return x[idx, :, i:i + size, j:j + size], y[idx, :, i:i + size, j:j + size]


def main() -> int:
    p = split_parser(__doc__, 1000)
    p.add_argument("--train-shards", required=True, help="shard root whose --split pairs train the correction")
    p.add_argument("--n-train", type=int, default=6000, help="training pairs (the split's first N; 10%% held out)")
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=int, default=16, help="channels of the hidden convolutions")
    p.add_argument("--crop", type=int, default=40, help="training crop (px)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--soften", type=float, default=0.0,
                   help="weigh each pixel's squared error by 1 / (1 + |B| / (soften s)): bright cores count less "
                        "(the weight depends on the input alone, so the minimiser is unchanged; 0: plain MSE)")
    p.add_argument("--flux-weight", type=float, default=0.0,
                   help="add this times the mean squared relative 1.5\"/3\" flux error against the noisy targets "
                        "(the crops are then centred)")
    p.add_argument("--calibrate", action="store_true",
                   help="scale each band by the held-out pairs' summed 3\" flux, noisy targets over corrected")
    p.add_argument("--cache", help="keep the pipeline's output on the training pairs in this folder (one file per "
                                   "direction, pair count and pipeline settings)")
    p.add_argument("--footprint", type=float, default=0.0,
                   help="correct only pixels where the pipeline's |output| exceeds this many noise sigmas (0: all)")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    cfg = load_config(["default"])
    src, dst, noisy, ids, fwhm = open_split(a, cfg)
    t0 = time.time()
    tr_noisy = open_source(a.train_shards, src.name, a.split)
    tr_ids = tr_noisy.object_ids()[:a.n_train]
    pipe = PsfMatchedBaseline(src, dst, cfg.baseline)
    key = hashlib.sha256(json.dumps(pipe.settings(), sort_keys=True).encode()).hexdigest()[:12]  # its settings
    cached = Path(a.cache or ".") / f"pipeline_{a.direction}_{len(tr_ids)}_{key}.npy"
    if a.cache and cached.exists():
        b_tr = np.load(cached)
    else:
        b_tr = run_pipeline(pipe, rows(tr_noisy, tr_ids),
                            torch.from_numpy(seeing(tr_noisy)[:len(tr_ids)])).astype(np.float32)
        if a.cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, b_tr)
    y_tr = rows(open_source(a.train_shards, dst.name, a.split), tr_ids).astype(np.float32)  # float32: 6000 CFHT stamps are 2.2 GB
    sigma = noise_sigma(b_tr[:SIGMA_STAMPS], y_tr[:SIGMA_STAMPS])
    print(f"{src.name} -> {dst.name}: {len(tr_ids)} training pairs of {a.train_shards} through the pipeline in "
          f"{time.time() - t0:.0f} s; target noise sigma per band: " + " ".join(f"{v:.3g}" for v in sigma.tolist()))
    x, y = torch.from_numpy(b_tr), torch.from_numpy(y_tr)
    held = torch.arange(0, len(x), 10)
    train = torch.tensor([i for i in range(len(x)) if i % 10])
    net = Correction(len(dst.bands), a.width, sigma, a.footprint)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.iters)
    g = torch.Generator().manual_seed(a.seed)
    size = min(a.crop, dst.stamp_size)
    jitter = 0 if a.flux_weight > 0 else dst.stamp_size // 8
    ap_w = torch.from_numpy(aperture_weights(size, dst.pixel_scale, RADII)).float()

    def weight(base: torch.Tensor) -> torch.Tensor:
        return 1.0 / (1.0 + base.abs() / (a.soften * net.sigma)) if a.soften > 0 else torch.ones_like(base)

    def held_loss() -> float:
        with torch.no_grad():
            return float(sum((weight(x[i]) * ((net(x[i]) - y[i]) / net.sigma).pow(2)).sum() for i in held.split(64))
                         / (len(held) * y[0].numel()))

    print(f"iter 0: held-out loss {held_loss():.5f} (noise units; the pipeline)")
    t1 = time.time()
    for it in range(1, a.iters + 1):
        xb, yb = crops(x, y, train[torch.randint(len(train), (a.batch,), generator=g)], size, jitter, g)
        out = net(xb)
        loss = (weight(xb) * ((out - yb) / net.sigma).pow(2)).mean()
        if a.flux_weight > 0:
            f_out, f_y, f_b = (v.reshape(*v.shape[:2], -1) @ ap_w.T for v in (out, yb, xb))
            scale = torch.from_numpy(relative_scale(f_b.detach().double().numpy())).float()
            loss = loss + a.flux_weight * ((f_out - f_y) / scale).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if it % a.eval_every == 0 or it == a.iters:
            print(f"iter {it}: held-out loss {held_loss():.5f} ({time.time() - t1:.0f} s)", flush=True)
    full_w = torch.from_numpy(aperture_weights(dst.stamp_size, dst.pixel_scale, RADII[-1:])).float()
    with torch.no_grad():  # the zero point: held-out 3" flux of the noisy targets over the corrected one's, per band
        f_c, f_y = (torch.cat([v.reshape(*v.shape[:2], -1) @ full_w.T for v in part]).sum(0)[:, 0]
                    for part in ([net(x[i]) for i in held.split(64)], [y[i] for i in held.split(64)]))
    gain = (f_y / f_c).double().numpy()[None, :, None, None] if a.calibrate else 1.0
    print("zero point (held-out 3\" flux, noisy targets / corrected): "
          + " ".join(f"{b} {v:.4f}" for b, v in zip(dst.bands, (f_y / f_c).tolist()))
          + ("" if a.calibrate else " (not applied)"))
    b_te = run_pipeline(pipe, rows(noisy, ids), fwhm)
    with torch.no_grad():
        c_te = torch.cat([net(t) for t in torch.from_numpy(b_te).float().split(100)]).double().numpy() * gain
    truth = rows(open_source(a.shards, dst.name, a.split + "-truth"), ids)
    radii = radii_arcsec(dst.stamp_size, dst.pixel_scale, cfg.evaluate.radius_step_arcsec)
    (ap_t, r50_t), (ap_b, r50_b), (ap_c, r50_c) = (measure(v, dst.pixel_scale, radii) for v in (truth, b_te, c_te))
    print(f"\nscored on {len(ids)} objects of {a.shards} against the truth (no target noise added)")
    print("| set | " + " | ".join(f'{b}: 3" NMAD change [68%], 3" / 1.5" / r50 bias' for b in dst.bands) + " |")
    print("|---" * (1 + len(dst.bands)) + "|")
    for name, ap, r50 in (("pipeline", ap_b, r50_b), ("learnt correction", ap_c, r50_c)):
        print(f"| {name} | " + " | ".join(versus_pipeline(ap, r50, ap_b, ap_t, r50_t, c)[0]
                                          for c in range(len(dst.bands))) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
