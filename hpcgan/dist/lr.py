"""Learning-rate scaling with the number of ranks, with gradual warm-up.

Data parallelism multiplies the global batch by the world size ``p``. ``linear`` scales the learning
rate by ``p`` (Goyal et al. 2017, with warm-up from the one-process rate so early Adam steps do not
blow up), ``sqrt`` by ``sqrt(p)`` (the usual choice for Adam), ``none`` keeps it (the paper's value,
the safe default for GANs, whose balance between G and D is sensitive to the rate).

The trainer multiplies its base rate by :func:`lr_factor` every iteration, e.g. with
``torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, d.size, cfg.dist.lr_scaling,
cfg.dist.warmup_iters) * decay(it))``.
"""
from __future__ import annotations

import math

MODES = ("none", "linear", "sqrt")


def lr_scale(world_size: int, mode: str) -> float:
    """The target multiplier after warm-up: 1, ``p`` or ``sqrt(p)``."""
    if mode not in MODES:
        raise ValueError(f"dist.lr_scaling: {mode!r}; allowed: {', '.join(MODES)}")
    if world_size < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    return {"none": 1.0, "linear": float(world_size), "sqrt": math.sqrt(world_size)}[mode]


def lr_factor(it: int, world_size: int, mode: str = "none", warmup_iters: int = 0) -> float:
    """Multiplier of the base learning rate at iteration ``it`` (0-based).

    Without warm-up: :func:`lr_scale`. With ``warmup_iters`` > 0 and a target above 1: linear ramp from
    1 (the one-process rate) at ``it=0`` to the target at ``it=warmup_iters``. With a target of 1
    (``none`` or one rank): linear ramp ``(it+1)/warmup_iters`` up to 1.
    """
    target = lr_scale(world_size, mode)
    if warmup_iters <= 0 or it >= warmup_iters:
        return target
    if target > 1.0:
        return 1.0 + (target - 1.0) * it / warmup_iters
    return target * (it + 1) / warmup_iters
