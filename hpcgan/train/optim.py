"""Optimisers: one :class:`Unit` (Adam + schedule) per trained network group, stepped through the
distributed layer (``d.step``: average grads across ranks, clip by global norm, step).

Learning rate: ``train.lr`` (scaled by ``dist.lr_scaling`` with the world size), linear warm-up over
``dist.warmup_iters``, divided by ``train.lr_decay_factor`` every ``train.lr_decay_every`` iterations.
A parameter with an ``lr_mult`` attribute (the residual generator's matching kernel) sits in its own
Adam group at that multiple of the rate, through the same schedule.
Parameter names handed to ``d.wrap_optimizer`` are prefixed by the network (``ae_x.net.0.0.weight``)
and are unique across all units of a phase (Horovod fails on duplicate names: horovod #784, #2559).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import torch
import torch.nn as nn

from hpcgan.config.schema import DistCfg, TrainCfg


@dataclass
class Unit:
    """One optimiser, the networks it updates (prefix -> module) and its LR schedule."""
    name: str
    modules: dict[str, nn.Module]
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    params: list[nn.Parameter] = field(default_factory=list)
    param_names: list[str] = field(default_factory=list)


def lr_factor(it: int, train: TrainCfg, dist: DistCfg) -> float:
    """Multiplier of the base LR after ``it`` scheduler steps (warm-up x step decay)."""
    warm = min(1.0, (it + 1) / dist.warmup_iters) if dist.warmup_iters > 0 else 1.0
    return warm * train.lr_decay_factor ** -(it // train.lr_decay_every)


def base_lr(train: TrainCfg, dist: DistCfg, world: int) -> float:
    scale = {"none": 1.0, "linear": float(world), "sqrt": math.sqrt(world)}[dist.lr_scaling]
    return train.lr * scale


def set_base_lr(unit: Unit, lr: float) -> float:
    """Make ``lr`` the base rate of ``unit``'s schedule (each parameter group's ``lr_mult`` times it), at
    the schedule's current position (a loaded checkpoint brings the rates it ran with). Returns the
    previous base rate."""
    old = float(unit.sched.base_lrs[0]) / unit.opt.param_groups[0].get("lr_mult", 1.0)
    unit.sched.base_lrs = [lr * g.get("lr_mult", 1.0) for g in unit.opt.param_groups]
    for g, base, f in zip(unit.opt.param_groups, unit.sched.base_lrs, unit.sched.lr_lambdas):
        g["initial_lr"], g["lr"] = base, base * f(unit.sched.last_epoch)
    return old


def param_groups(params: list[nn.Parameter], lr: float) -> list[dict]:
    """One Adam parameter group per ``lr_mult`` (a parameter attribute, default 1; e.g. the residual
    generator's matching kernel), first-seen order, each at ``lr * lr_mult``."""
    groups: dict[float, list[nn.Parameter]] = {}
    for p in params:
        groups.setdefault(float(getattr(p, "lr_mult", 1.0)), []).append(p)
    return [{"params": ps, "lr": lr * m, "lr_mult": m} for m, ps in groups.items()]


def make_unit(name: str, modules: Mapping[str, nn.Module], train: TrainCfg, dist: DistCfg, d) -> Unit:
    """Adam over the trainable parameters of ``modules``, wrapped by ``d.wrap_optimizer``."""
    named = [(f"{prefix}.{n}", p) for prefix, m in modules.items() for n, p in m.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"optimiser {name!r}: no trainable parameter in {list(modules)}")
    params = [p for _, p in named]
    opt = torch.optim.Adam(param_groups(params, base_lr(train, dist, d.size)),
                           betas=(train.adam_beta1, train.adam_beta2))
    opt = d.wrap_optimizer(opt, named)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, train, dist))
    return Unit(name, dict(modules), opt, sched, params, [n for n, _ in named])


def check_unique_names(units: Mapping[str, Unit]) -> None:
    seen: dict[str, str] = {}
    for u in units.values():
        for n in u.param_names:
            if n in seen:
                raise ValueError(f"parameter name {n!r} is in optimisers {seen[n]!r} and {u.name!r}")
            seen[n] = u.name


def step(d, unit: Unit, loss: torch.Tensor, clip_norm: float) -> float:
    """zero_grad, backward, then ``d.step`` (allreduce, clip, step). Returns the pre-clip grad norm."""
    unit.opt.zero_grad(set_to_none=True)
    loss.backward()
    return d.step(unit.opt, unit.params, clip_norm)


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into ``modules``' parameters (gradients still flow through them)."""
    saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, rg in saved:
            p.requires_grad_(rg)
