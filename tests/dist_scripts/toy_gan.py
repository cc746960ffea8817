"""A tiny GAN trained with hpcgan.dist: the 2-rank tests' workload (also runs as one process).

Three networks, three optimisers, phases like the real trainer: D step on detached fakes; G step
through an *unfrozen* D (so D's hooks fire in G's backward and must be flushed); an auxiliary net
"ne" stepped only every other iteration (an optimiser not stepped in a phase). Data for step ``t``
is a global batch drawn from seed ``t``; rank ``r`` of ``p`` takes rows ``r::p`` -- so one process
on the whole batch is the reference.

Usage: python toy_gan.py --backend torch --steps 4 --out final.pt [--ckpt-dir D --ckpt-every N]
       [--resume] [--fail-rank R --fail-at T] [--sleep S] [--uneven] [--pid-dir D]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from hpcgan import dist
from hpcgan.dist import named

torch.set_default_dtype(torch.float64)
NETS = ("g", "d", "ne")


def build(seed: int = 0):
    torch.manual_seed(seed)
    g = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 6))
    d = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    ne = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 6))
    return {"g": g, "d": d, "ne": ne}


def batch(step: int, global_batch: int, rank: int, size: int):
    gen = torch.Generator().manual_seed(1000 + step)
    z = torch.randn(global_batch, 8, generator=gen)
    real = torch.randn(global_batch, 6, generator=gen) * 0.5 + 1.0
    return z[rank::size], real[rank::size]


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="none")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--global-batch", type=int, default=8)
    p.add_argument("--out", default="")
    p.add_argument("--ckpt-dir", default="")
    p.add_argument("--ckpt-every", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--fail-rank", type=int, default=-1)
    p.add_argument("--fail-at", type=int, default=-1)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--uneven", action="store_true", help="rank r holds 10-3r batches; all run the min")
    p.add_argument("--pid-dir", default="")
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args(argv)

    d = dist.init(a.backend, timeout_s=a.timeout, fp16_compression=a.fp16)
    if a.pid_dir:
        Path(a.pid_dir, f"rank{d.rank}.pid").write_text(str(os.getpid()))
    nets = build(seed=d.rank * 7 if d.size > 1 else 0)  # different init per rank: broadcast must fix it
    for m in nets.values():
        d.broadcast_module(m)
    opts = {k: d.wrap_optimizer(torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.5, 0.999)), named(k, m))
            for k, m in nets.items()}
    start = 0
    if a.resume:
        ckpts = sorted(Path(a.ckpt_dir).glob("ckpt-*.pt"))
        state = torch.load(ckpts[-1], weights_only=False) if d.is_main else None
        state = d.broadcast_object(state)
        for k in NETS:
            nets[k].load_state_dict(state["models"][k])
            opts[k].load_state_dict(state["optims"][k])
        start = state["step"]
    n_steps = a.steps
    if a.uneven:
        n_steps = d.allreduce_min_int(a.steps + 3 * (d.size - 1 - d.rank))  # rank 0 holds the most

    bce = nn.BCEWithLogitsLoss()
    g, dn, ne = nets["g"], nets["d"], nets["ne"]
    for t in range(start, n_steps):
        if t == a.fail_at and d.rank == a.fail_rank:
            raise RuntimeError(f"injected failure on rank {d.rank} at step {t}")
        z, real = batch(t, a.global_batch, d.rank, d.size)
        # D phase: fakes detached
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        fake = g(z)
        ld = bce(dn(real), torch.ones(len(real), 1)) + bce(dn(fake.detach()), torch.zeros(len(real), 1))
        ld.backward()
        d.step(opts["d"], dn.parameters(), clip_norm=1.0)
        # G phase through an unfrozen D (D's grads are garbage here; D's optimiser is not stepped)
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        lg = bce(dn(fake), torch.ones(len(real), 1))
        lg.backward()
        d.step(opts["g"], g.parameters(), clip_norm=1.0)
        # auxiliary net: every other iteration only
        if t % 2 == 0:
            opts["ne"].zero_grad(set_to_none=True)
            ln = ((ne(real) - real) ** 2).mean()
            ln.backward()
            d.step(opts["ne"], ne.parameters(), clip_norm=0.0)
        if a.sleep:
            time.sleep(a.sleep)
        if a.ckpt_every and (t + 1) % a.ckpt_every == 0:
            if d.is_main:
                Path(a.ckpt_dir).mkdir(parents=True, exist_ok=True)
                torch.save({"step": t + 1, "written_by_rank": d.rank, "world": d.size,
                            "models": {k: m.state_dict() for k, m in nets.items()},
                            "optims": {k: o.state_dict() for k, o in opts.items()}},
                           Path(a.ckpt_dir, f"ckpt-{t + 1:07d}.pt"))
            d.barrier()
    # every rank must hold the same weights
    flat = torch.cat([p.detach().reshape(-1) for m in nets.values() for p in m.parameters()])
    spread = float((d.allreduce_mean(flat) - flat).abs().max())
    if spread > 1e-12:
        raise RuntimeError(f"ranks disagree: max |mean - mine| = {spread}")
    if d.is_main and a.out:
        torch.save({"models": {k: m.state_dict() for k, m in nets.items()}, "steps": n_steps, "world": d.size},
                   a.out)
    print(f"[toy_gan] rank {d.rank}/{d.size} backend={d.backend} done steps={n_steps}", flush=True)
    d.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
