"""Supervised learning probe: one generator alone, outside the training loop (issue 12).

Trains G (``--direction xy``: G_xy on SDSS -> CFHT) on the paired-train split with Adam and the
paired identity loss (MSE in model space, optionally ``+ w * aperture-flux term``), D4 augmentation,
and scores it every ``--eval-every`` iterations on paired-test against the noise-free twins
(``paired-test-truth``) with :func:`hpcgan.train.validate.score`: MSE vs truth (model space), r-band
3" aperture-flux bias and NMAD. Iteration 0 is the initial network; ``--generator residual`` starts
at the physical baseline. One CPU thread by default. Every option maps to a config knob, so what
the probe finds is what ``hpcgan train`` does. Figures: docs/training.md ("Learning probe").

    python benchmarks/learning_probe.py --shards sim_shards --iters 500 --lr 1e-3 --bias-init 0 \
        --out-activation linear --json probe.jsonl
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from hpcgan.astro.photometry import aperture_weights
from hpcgan.astro.transforms import d4_batch, random_d4_codes
from hpcgan.config.schema import Config
from hpcgan.models import build
from hpcgan.models.residual import generate
from hpcgan.train import losses
from hpcgan.train.optim import lr_factor, param_groups
from hpcgan.train.validate import TRUTH_SPLIT, load_split, score


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True, help="shard root with paired-train, paired-test (+ -truth)")
    p.add_argument("--truth-root", default="", help="root whose paired-test split is the truth (default: "
                   f"--shards' {TRUTH_SPLIT})")
    p.add_argument("--direction", choices=("xy", "yx"), default="xy")
    p.add_argument("--iters", type=int, default=500)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-count", type=int, default=300)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--generator", choices=("paper", "unet", "residual"), default="paper")
    p.add_argument("--residual-body", choices=("paper", "unet"), default="paper")
    p.add_argument("--residual-kernel", type=int, default=0, help="model.residual_kernel (odd; 0 = none)")
    p.add_argument("--kernel-lr-mult", type=float, default=100.0, help="model.residual_kernel_lr_mult")
    p.add_argument("--bias-init", type=float, default=0.1)
    p.add_argument("--out-activation", choices=("lrelu", "linear"), default="lrelu")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--warmup", type=int, default=0, help="linear warm-up iterations (dist.warmup_iters)")
    p.add_argument("--decay-every", type=int, default=20000)
    p.add_argument("--flux-loss-weight", type=float, default=0.0)
    p.add_argument("--mse-weight", type=float, default=1.0, help="weight of the model-space MSE")
    p.add_argument("--clip-norm", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="", help="append one JSON line per evaluation here")
    p.add_argument("--label", default="")
    return p.parse_args()


def config(a: argparse.Namespace) -> Config:
    c = Config()
    model = replace(c.model, width=a.width, generator=a.generator, residual_body=a.residual_body,
                    residual_kernel=a.residual_kernel, residual_kernel_lr_mult=a.kernel_lr_mult,
                    bias_init=a.bias_init, out_activation=a.out_activation)
    train = replace(c.train, lr=a.lr, adam_beta1=a.beta1, adam_beta2=a.beta2, lr_decay_every=a.decay_every,
                    flux_loss_weight=a.flux_loss_weight, clip_norm=a.clip_norm, seed=a.seed)
    return replace(c, data=replace(c.data, shards=a.shards), model=model, train=train,
                   dist=replace(c.dist, warmup_iters=a.warmup))


def main() -> None:
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = config(a)
    dc, tc = cfg.data, cfg.train
    src_s, dst_s = (dc.x, dc.y) if a.direction == "xy" else (dc.y, dc.x)
    tr = dc.pixel_transform
    xs, _, ps = load_split(a.shards, src_s, "paired-train", 10 ** 9, tr)
    ys, _, _ = load_split(a.shards, dst_s, "paired-train", 10 ** 9, tr)
    xt, ids, pt = load_split(a.shards, src_s, "paired-test", a.eval_count, tr)
    truth_root, truth_split = (a.truth_root, "paired-test") if a.truth_root else (a.shards, TRUTH_SPLIT)
    yt, tids, _ = load_split(truth_root, dst_s, truth_split, a.eval_count, tr)
    assert np.array_equal(ids, tids), "truth object ids differ from paired-test"
    g = build("generator", cfg.model, direction=a.direction, data=cfg.data, baseline=cfg.baseline)
    opt = torch.optim.Adam(param_groups([p for p in g.parameters() if p.requires_grad], tc.lr),
                           betas=(tc.adam_beta1, tc.adam_beta2))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, tc, cfg.dist))
    w_ap = torch.from_numpy(aperture_weights(dst_s.stamp_size, dst_s.pixel_scale, tc.flux_loss_radii_arcsec)).float()
    rng = np.random.default_rng(a.seed)
    label = a.label or " ".join(f"{k}={v}" for k, v in vars(a).items() if k not in ("shards", "truth_root", "json"))

    def evaluate(it: int, t0: float) -> None:
        g.eval()
        with torch.no_grad():
            pred = torch.cat([generate(g, xt[i:i + 50], pt[i:i + 50]) for i in range(0, len(xt), 50)])
        g.train()
        rec = {"label": label, "iter": it, "wall_s": round(time.perf_counter() - t0, 1),
               **score(pred, yt, dst_s, tr)}
        print(json.dumps(rec), flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(rec) + "\n")

    t0 = time.perf_counter()
    evaluate(0, t0)
    for it in range(1, a.iters + 1):
        idx = rng.choice(len(xs), a.batch, replace=False)
        codes = random_d4_codes(rng, a.batch)
        xb, yb = d4_batch(xs[idx], codes), d4_batch(ys[idx], codes)
        pred = generate(g, xb, ps[idx])
        loss = a.mse_weight * losses.mse(pred, yb)
        if tc.flux_loss_weight:
            loss = loss + tc.flux_loss_weight * losses.aperture_flux_loss(pred, yb, w_ap, tr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.clip_norm:
            torch.nn.utils.clip_grad_norm_(g.parameters(), tc.clip_norm)
        opt.step()
        sched.step()
        if it % a.eval_every == 0 or it == a.iters:
            evaluate(it, t0)


if __name__ == "__main__":
    main()
