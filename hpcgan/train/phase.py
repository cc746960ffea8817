"""What step 1, step 2 and the single-step variants share: networks by prefix, optimiser units,
autocast, state dicts. A phase's ``train_step(batch)`` runs one iteration with its phases explicit
(each update steps only its own optimiser) and returns tensors to log.

Training noise: :meth:`Phase.emulate` feeds a noise emulator ``z1``/``z2`` keyed by
``(train.seed, iteration, tag, global sample index)`` (:mod:`hpcgan.train.noise`); the trainer sets
``phase.iteration`` before each ``train_step``. Rank ``r`` with batch ``B`` holds global indices
``[r*B, (r+1)*B)``, so W ranks draw exactly what one process on the concatenated batch draws.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn as nn

from hpcgan.config.schema import Config, DataCfg
from hpcgan.config.variants import Recipe
from hpcgan.log import get_logger
from hpcgan.models import Net
from hpcgan.train import losses, noise
from hpcgan.train.optim import Unit, base_lr, check_unique_names, frozen, make_unit, set_base_lr, step

log = get_logger(__name__)


class Phase:
    """Base: subclasses declare their networks (:meth:`networks`), fill ``units`` and ``streams`` and
    implement ``train_step``/``sample_rows``."""

    name = "phase"
    streams: tuple[str, ...] = ()

    @staticmethod
    def networks(recipe: Recipe, data: DataCfg) -> dict[str, Net]:
        """The networks this phase trains, by prefix, in the order they are built (the trainer builds
        them from the model section: :func:`hpcgan.models.build_models`)."""
        raise NotImplementedError

    def __init__(self, cfg: Config, device: torch.device, d: Any, nets: dict[str, nn.Module],
                 frozen: tuple[str, ...] = ()):
        self.cfg, self.device, self.d = cfg, device, d
        self.units: dict[str, Unit] = {}
        self.frozen: set[str] = set(frozen)
        self.amp = bool(cfg.train.amp and device.type == "cuda")
        self.channels_last = bool(cfg.train.channels_last)
        self.iteration = 0  # keys the training noise; set by the trainer before each train_step
        self.nets: dict[str, nn.Module] = {}
        for prefix, m in nets.items():
            m = m.to(self.device)
            if self.channels_last:
                m = m.to(memory_format=torch.channels_last)
            if prefix in self.frozen:
                m.requires_grad_(False)
            self.nets[prefix] = m

    # ---- construction -------------------------------------------------------------------------

    def add_unit(self, name: str, *prefixes: str) -> Unit:
        self.units[name] = make_unit(name, {p: self.nets[p] for p in prefixes}, self.cfg.train, self.cfg.dist, self.d)
        return self.units[name]

    def finish(self) -> None:
        check_unique_names(self.units)
        if self.cfg.train.compile:
            for m in self.nets.values():
                m.compile(dynamic=False)  # a few static shapes per net; dynamic shapes broke inductor on D (pool/FFT)

    # ---- running ------------------------------------------------------------------------------
    def autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return {k: v.to(self.device, non_blocking=True, memory_format=fmt if v.ndim == 4 else torch.preserve_format)
                for k, v in batch.items() if k.removesuffix("_psf").removesuffix("_valid") in self.streams}

    def emulate(self, s: str, base: torch.Tensor, tag: str) -> torch.Tensor:
        """``base + NE_s`` with noise keyed by (seed, iteration, ``tag``, global sample index):
        independent of the number of ranks. ``tag`` must differ between the draws of one iteration."""
        ne = self.nets[f"ne_{s}"]
        z1, z2 = noise.ne_inputs(ne, base, self.cfg.train.seed, self.iteration, f"{tag}/ne_{s}",
                                 start=self.d.rank * len(base))  # every rank has the same batch size
        return ne(base, z1, z2)

    def fake(self, s: str, base: torch.Tensor, tag: str) -> torch.Tensor:
        """What D_s sees as fake for ``base`` (step 1: ``A(x) + NE``); phases without NE override it."""
        return self.emulate(s, base, tag)

    def update_d(self, s: str, real: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Discriminator of domain ``s``: real vs :meth:`fake` of ``base`` (no gradient into what made it)."""
        disc = self.nets[f"d_{s}"]
        with self.autocast():
            with torch.no_grad():
                fake = self.fake(s, base, "d")
            logits = disc(torch.cat([real, fake]))  # one pass; D has no batch-coupled layer
            loss = losses.d_loss(logits[:len(real)], logits[len(real):])
        return loss.detach(), step(self.d, self.units[f"d_{s}"], loss, self.cfg.train.clip_norm)

    def update_ne(self, s: str, base: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Noise emulator of domain ``s`` fools D_s; ``base`` is detached (A or G fixed), D frozen."""
        disc = self.nets[f"d_{s}"]
        with frozen(disc), self.autocast():
            loss = losses.g_loss(disc(self.fake(s, base, "ne")))
        return loss.detach(), step(self.d, self.units[f"ne_{s}"], loss, self.cfg.train.clip_norm)

    def images_per_iter(self) -> int:
        return len(self.streams) * self.cfg.data.batch_size

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | float]:
        raise NotImplementedError

    @torch.no_grad()
    def sample_rows(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        raise NotImplementedError

    def lr(self) -> float:
        g = next(iter(self.units.values())).opt.param_groups[0]
        return float(g["lr"]) / g.get("lr_mult", 1.0)

    def sched_step(self) -> None:
        for u in self.units.values():
            u.sched.step()

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"nets": {k: m.state_dict() for k, m in self.nets.items()},
                "optims": {k: u.opt.state_dict() for k, u in self.units.items()},
                "scheds": {k: u.sched.state_dict() for k, u in self.units.items()}}

    def load_state_dict(self, sd: dict) -> None:
        missing = (set(self.nets) - set(sd["nets"])) | (set(self.units) - set(sd["optims"]))
        if missing:
            raise KeyError(f"checkpoint lacks {sorted(missing)}")
        for k, m in self.nets.items():
            m.load_state_dict(sd["nets"][k])
        lr = base_lr(self.cfg.train, self.cfg.dist, self.d.size)  # this run's rate, not the checkpoint's
        for k, u in self.units.items():
            u.opt.load_state_dict(sd["optims"][k])
            u.sched.load_state_dict(sd["scheds"][k])
            old = set_base_lr(u, lr)
            if old != lr and self.d.rank == 0:
                log.info("optimiser %s: base LR %.4g (checkpoint) -> %.4g (train.lr x dist.lr_scaling of this run)",
                         k, old, lr)

    def param_counts(self) -> dict[str, int]:
        return {k: sum(p.numel() for p in m.parameters()) for k, m in self.nets.items()}
