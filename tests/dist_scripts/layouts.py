"""Every collective of a backend on channels_last and non-contiguous tensors, on 2 ranks (tests/test_dist_layout.py).

A channels_last conv net with a sliced (gapped) buffer, started differently on each rank:
``broadcast_module`` must make it rank 0's everywhere; two optimiser steps on rank-dependent data
(gradient allreduce) must keep the ranks equal; ``allreduce_mean`` on
channels_last and sliced tensors must give the same values everywhere; every tensor keeps its layout.
Prints ``layouts ok rank=R`` on success.

Usage: mpirun -np 2 python layouts.py --backend horovod [--fp16]
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from hpcgan import dist
from hpcgan.dist import named

CL = torch.channels_last


def build(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(5, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 5, 3, padding=1, groups=1))
    m = m.to(memory_format=CL)
    m.register_buffer("gapped", torch.randn(4, 6)[:, ::2])  # a slice: not dense, needs a copy
    return m


def layouts(m: nn.Module) -> dict[str, tuple]:
    return {k: (tuple(t.stride()), t.is_contiguous()) for k, t in m.state_dict().items()}


def same_everywhere(d, tensors: dict[str, torch.Tensor], what: str) -> None:
    ref = d.broadcast_object({k: v.contiguous() for k, v in tensors.items()})
    for k, v in tensors.items():
        if not torch.equal(v, ref[k]):
            raise SystemExit(f"rank {d.rank}: {what}: {k} differs from rank 0 by {(v - ref[k]).abs().max():.3g}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="horovod")
    p.add_argument("--fp16", action="store_true")
    a = p.parse_args(argv)
    d = dist.init(a.backend, timeout_s=30, fp16_compression=a.fp16)
    m = build(seed=d.rank)  # different weights on each rank
    before = layouts(m)
    assert not m.state_dict()["0.weight"].is_contiguous() and m.state_dict()["0.weight"].is_contiguous(memory_format=CL)
    d.broadcast_module(m)
    same_everywhere(d, m.state_dict(), "broadcast_module")
    opt = d.wrap_optimizer(torch.optim.Adam(m.parameters(), lr=1e-2), named("net", m))
    for it in range(2):
        g = torch.Generator().manual_seed(100 * it + d.rank)  # rank-dependent batch
        x = torch.randn(3, 5, 8, 8, generator=g).to(memory_format=CL)
        opt.zero_grad(set_to_none=True)
        m(x).square().mean().backward()
        assert m[0].weight.grad.is_contiguous(memory_format=CL) and not m[0].weight.grad.is_contiguous()
        d.step(opt, list(m.parameters()), 1.0)
        same_everywhere(d, {k: p.grad for k, p in m.named_parameters()}, f"averaged gradients, step {it}")
        same_everywhere(d, m.state_dict(), f"weights after step {it}")
    if layouts(m) != before:
        raise SystemExit(f"rank {d.rank}: layouts changed: {before} -> {layouts(m)}")
    moments = [s["exp_avg"] for s in opt.state.values()]
    if not any(t.dim() == 4 and not t.is_contiguous() for t in moments):
        raise SystemExit("Adam's moments are not channels_last: the test would not test the layout")
    for name, t in (("channels_last", torch.full((2, 3, 4, 4), float(d.rank)).to(memory_format=CL)),
                    ("gapped", torch.full((4, 6), float(d.rank))[:, ::2])):
        r = d.allreduce_mean(t)
        if not torch.equal(r, torch.full_like(t, 0.5)) or r.stride() != t.clone().stride():
            raise SystemExit(f"rank {d.rank}: allreduce_mean of a {name} tensor: {r.flatten()[:4]} stride {r.stride()}")
    print(f"layouts ok rank={d.rank}", flush=True)
    d.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
