"""The real trainer (hpcgan.train) at tiny width on 1 or 2 ranks, for tests/test_dist.py.

The global batch is ``--global-batch`` rows per stream: one process trains on all of it, rank ``r`` of
``W`` on rows ``[r*B, (r+1)*B)`` with ``B = global / W`` (``tests.tiny_data.RowSlice`` over the one
process's streams). The trainer keys all training noise by global sample index (hpcgan.train.noise),
so the W-rank run must end with the weights of the one-process run. ``--float64`` (default) builds the
networks and batches in float64: summation order differs between the layouts (per-rank means, then the
average), and Adam's first steps (~ lr * sign(g)) turn fp32 round-off of near-zero gradients into
differences of order lr; in float64 the two runs agree to ~1e-12. Writes the final checkpoint under
--run-dir.

Usage: python train_equiv.py --backend torch --step 1 --iters 3 --run-dir D [--init-from CKPT] [--variant V]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests` importable when run as a script

from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.streams import TrainStreams  # noqa: E402
from hpcgan.dist import detect  # noqa: E402
from hpcgan.train.trainer import run  # noqa: E402
from tests.tiny_data import TINY, RowSlice, arrays  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="none")
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--variant", default="ours")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--global-batch", type=int, default=4)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--init-from", default="")
    p.add_argument("--float64", action=argparse.BooleanOptionalAction, default=True)
    a = p.parse_args(argv)
    if a.float64:
        torch.set_default_dtype(torch.float64)  # the networks are built after this
    env = detect()
    if a.global_batch % env.size:
        raise SystemExit(f"--global-batch {a.global_batch} does not split over {env.size} ranks")
    sets = [*TINY, "train.lr=2e-3", f"data.batch_size={a.global_batch // env.size}", f"dist.backend={a.backend}",
            f"train.variant={a.variant}", f"train.step={a.step}", f"train.iters={a.iters}",
            f"train.run_dir={a.run_dir}"]
    if a.init_from:
        sets.append(f"train.init_from={a.init_from}")
    cfg = load_config("default", sets)
    whole = TrainStreams.from_arrays(arrays(), dataclasses.replace(cfg.data, batch_size=a.global_batch),
                                     rank=0, size=1, seed=cfg.train.seed)
    res = run(cfg, a.run_dir, streams=RowSlice(whole, env.rank, env.size, torch.get_default_dtype()))
    print(f"[train_equiv] done iteration={res.iteration} run_dir={res.run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
