"""``hpcgan submit --stages check`` (or ``python -m hpcgan.launch.check``): is the job wired right?

Every rank starts the distributed layer, then: the ranks agree on the world (allreduce of ranks,
broadcast of an object, min of an int), gradients average like one process on the whole batch
(``d.step`` on a tiny model), and an allreduce of ``--mbytes`` MiB gives an algorithm bandwidth.
Rank 0 prints one line per check and, with ``--out``, writes them as JSON. Exit 0 when all pass.
Run it before a long job on a new site profile: it fails fast where rendezvous, PMI or NCCL does not.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Sequence

import torch

import hpcgan.dist as hdist


def main(argv: Sequence[str] | None = None) -> int:
    from hpcgan.commandline import add_config_args, config_from_args

    p = argparse.ArgumentParser(prog="hpcgan-check", description=__doc__.split("\n\n")[0])
    add_config_args(p)  # dist.backend and dist.timeout_s come from the config unless given here
    p.add_argument("--backend", choices=hdist.BACKENDS)
    p.add_argument("--timeout-s", type=float)
    p.add_argument("--mbytes", type=float, default=4.0, help="allreduce size for the bandwidth figure")
    p.add_argument("--out", help="JSON report (rank 0)")
    a = p.parse_args(argv)
    cfg = config_from_args(a).dist
    d = hdist.init(a.backend or cfg.backend, a.timeout_s or cfg.timeout_s)
    dev = d.device()
    res: dict = {"backend": d.backend, "launcher": d.info.launcher, "size": d.size, "host": socket.gethostname()}
    # world
    total = float(d.allreduce_mean(torch.tensor([float(d.rank)], device=dev)).item()) * d.size
    res["ranks_ok"] = abs(total - d.size * (d.size - 1) / 2) < 1e-6
    res["broadcast_ok"] = d.broadcast_object({"from": d.rank} if d.rank == 0 else None) == {"from": 0}
    res["min_ok"] = d.allreduce_min_int(10 + d.rank) == 10
    # gradients: mean over ranks of per-rank grads == grad on the concatenated batch
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1).to(dev)
    d.broadcast_module(model)
    opt = d.wrap_optimizer(torch.optim.SGD(model.parameters(), lr=0.1), hdist.named("check", model))
    x = torch.arange(8.0 * d.size, device=dev).reshape(2 * d.size, 4) / 10
    ref = model.weight.detach().clone()
    full = torch.nn.Linear(4, 1).to(dev)
    full.load_state_dict(model.state_dict())
    full(x).pow(2).mean().backward()
    expect = ref - 0.1 * full.weight.grad
    opt.zero_grad()
    model(x[2 * d.rank:2 * d.rank + 2]).pow(2).mean().backward()
    d.step(opt, model.parameters(), 0.0)
    res["grad_avg_ok"] = bool(torch.allclose(model.weight.detach(), expect, atol=1e-6))
    # bandwidth
    n = max(1, int(a.mbytes * 2**20 / 4))
    t = torch.ones(n, device=dev)
    d.allreduce_mean(t)  # warm-up
    d.barrier()
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        d.allreduce_mean(t)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    res["allreduce_mib"] = round(n * 4 / 2**20, 2)
    res["allreduce_ms"] = round(dt * 1e3, 3)
    res["busbw_gbs"] = round(2 * (d.size - 1) / d.size * n * 4 / dt / 1e9, 3) if d.size > 1 else None
    ok = all(v for k, v in res.items() if k.endswith("_ok"))
    res["ok"] = ok
    if d.is_main:
        for k, v in res.items():
            print(f"[check] {k}: {v}", flush=True)
        if a.out:
            with open(a.out, "w") as f:
                json.dump(res, f, indent=1)
    d.barrier()
    d.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
