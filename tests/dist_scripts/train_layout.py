"""The real trainer with the demo config (``train.channels_last: true``) at tiny size, on 1 or 2 ranks,
for tests/test_dist_layout.py: each rank trains on its own data shard, then writes its networks'
weights (and whether they are still channels_last) to ``{run_dir}/rank{R}.pt``. ``--lr-inf``: train at
lr = inf (set through the Python API: the config refuses it); the non-finite guard must stop every rank
at the same iteration: each prints the message and exits 65.

Usage: mpirun -np 2 python train_layout.py --backend horovod --step 1 --iters 2 --run-dir D [--init-from CKPT]
       [--lr-inf]
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests` importable when run as a script

from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.streams import TrainStreams  # noqa: E402
from hpcgan.dist import detect  # noqa: E402
from hpcgan.train import trainer  # noqa: E402
from hpcgan.train.cli import EXIT_NONFINITE  # noqa: E402
from hpcgan.train.guard import NonFiniteError  # noqa: E402
from tests.tiny_data import TINY, arrays  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="horovod")
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--init-from", default="")
    p.add_argument("--lr-inf", action="store_true")
    a = p.parse_args(argv)
    env = detect()
    cfg = load_config("demo", [*TINY, f"dist.backend={a.backend}", f"train.step={a.step}", f"train.iters={a.iters}",
                               f"train.init_from={a.init_from}", "train.eval_every=0"])  # no shards: no validation
    assert cfg.train.channels_last, "the demo config trains channels_last"
    if a.lr_inf:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr=math.inf))
    phases = []
    build = trainer.build_phase
    trainer.build_phase = lambda *args: phases.append(build(*args)) or phases[-1]
    streams = TrainStreams.from_arrays(arrays(), cfg.data, rank=env.rank, size=env.size, seed=cfg.train.seed)
    try:
        res = trainer.run(cfg, a.run_dir, streams=streams)
    except NonFiniteError as e:
        print(f"[train_layout] rank={env.rank} {e}", flush=True)
        return EXIT_NONFINITE
    nets = phases[0].nets
    torch.save({"nets": {k: m.state_dict() for k, m in nets.items()},
                "channels_last": {k: all(t.is_contiguous(memory_format=torch.channels_last)
                                         for t in m.state_dict().values() if t.dim() == 4)
                                  for k, m in nets.items()}},
               Path(a.run_dir) / f"rank{env.rank}.pt")
    print(f"[train_layout] done iteration={res.iteration} rank={env.rank}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
