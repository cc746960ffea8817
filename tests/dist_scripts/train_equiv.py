"""The real trainer (hpcgan.train) at tiny width on 1 or 2 ranks, for tests/test_dist.py.

Every rank gets the *same* batch (rank 0's stream of a one-rank split): the trainer draws its noise
(noise emulators, augmentation) from per-rank RNGs seeded alike, so with identical batches each rank
computes exactly the one-process gradient and the averaged update must equal the one-process update.
(The split-batch equivalence -- 2 ranks x B == 1 process x 2B -- is the toy's test, where all
randomness is a function of the global batch.) Writes the final checkpoint under --run-dir.

Usage: python train_equiv.py --backend torch --step 1 --iters 3 --run-dir D [--init-from CKPT]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from hpcgan.config import load_config
from hpcgan.data.streams import TrainStreams
from hpcgan.train.trainer import run

TINY = ["data.x.stamp_size=16", "data.y.stamp_size=40", "data.batch_size=2", "model.width=0.125",
        "kernels.impl=torch", "train.device=cpu", "train.log_every=1", "train.sample_every=0",
        "train.ckpt_every=1000", "train.lr=2e-3"]


def arrays(seed: int = 0, n: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def stamps(s, scale):
        yy, xx = np.mgrid[:s, :s] - (s - 1) / 2
        blob = np.exp(-(xx ** 2 + yy ** 2) / (2 * (s / 8) ** 2))
        amp = rng.uniform(5, 20, (n, 5, 1, 1))
        return ((amp * blob + rng.normal(0, 0.5, (n, 5, s, s))) * scale).astype(np.float32)

    x, y = stamps(16, 1.0), stamps(40, 1000.0)
    return {"x": x, "y": y, "xp": x[: n // 2].copy(), "yp": y[: n // 2].copy()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="none")
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--init-from", default="")
    a = p.parse_args(argv)
    sets = [*TINY, f"dist.backend={a.backend}", f"train.step={a.step}", f"train.iters={a.iters}",
            f"train.run_dir={a.run_dir}"]
    if a.init_from:
        sets.append(f"train.init_from={a.init_from}")
    cfg = load_config("default", sets)
    streams = TrainStreams.from_arrays(arrays(), cfg.data, rank=0, size=1, seed=cfg.train.seed)
    res = run(cfg, a.run_dir, streams=streams)
    print(f"[train_equiv] done iteration={res.iteration} run_dir={res.run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
