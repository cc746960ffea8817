"""Step 1 (noise reconstruction), docs/method.md. Per domain ``s`` in (x, y), each iteration:

1. ``ae_s``: update the autoencoder on ``MSE(A(s), s)``;
2. ``d_s``: update the discriminator on real ``s`` vs fake ``A(s).detach() + NE(z1, z2)`` (NE output
   detached too);
3. ``ne_s``: update the noise emulator to fool ``D`` (non-saturating loss) with ``A`` fixed and ``D``
   frozen (no gradient into ``D``'s parameters).

Six optimisers (``ae_x, d_x, ne_x, ae_y, d_y, ne_y``), each stepped only in its own update.
Uses the unpaired streams ``x`` and ``y``. The noise of (2) and of (3) are two draws, keyed by global
sample index (:meth:`Phase.emulate`), so they do not depend on the number of ranks.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from hpcgan.config.schema import Config, DataCfg
from hpcgan.config.variants import Recipe
from hpcgan.models import Net
from hpcgan.train import losses
from hpcgan.train.optim import step
from hpcgan.train.phase import Phase


class NoisePhase(Phase):
    """Autoencoders, noise emulators and discriminators of both domains."""

    name = "step1"
    streams = ("x", "y")
    DOMAINS = ("x", "y")

    @staticmethod
    def networks(recipe: Recipe, data: DataCfg) -> dict[str, Net]:
        nets = {}
        for s in NoisePhase.DOMAINS:
            nb = len(getattr(data, s).bands)
            nets.update({f"ae_{s}": Net("autoencoder", bands=nb), f"ne_{s}": Net("noise_emulator", bands=nb),
                         f"d_{s}": Net("discriminator", "paper", bands=nb)})
        return nets

    def __init__(self, cfg: Config, device: torch.device, d: Any, nets: dict[str, nn.Module]):
        super().__init__(cfg, device, d, nets)
        for s in self.DOMAINS:  # the order of the updates inside an iteration
            for net in ("ae", "d", "ne"):
                self.add_unit(f"{net}_{s}", f"{net}_{s}")
        self.finish()

    # The three updates of one domain, each stepping only its own optimiser (explicit for the
    # distributed backends). Each returns (loss, pre-clip grad norm).
    def update_ae(self, s: str, real: torch.Tensor,
                  valid: torch.Tensor | None = None) -> tuple[torch.Tensor, float, torch.Tensor]:
        """(1) autoencoder on the reconstruction MSE (over ``valid`` pixels: unmasked); also returns
        ``A(real)`` detached (the base)."""
        with self.autocast():
            rec = self.nets[f"ae_{s}"](real)
            loss = losses.mse(rec, real, valid)
        return loss.detach(), step(self.d, self.units[f"ae_{s}"], loss, self.cfg.train.clip_norm), rec.detach()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | float]:
        out: dict[str, torch.Tensor | float] = {}
        for s in self.DOMAINS:
            real = batch[s]
            out[f"loss/ae_{s}"], out[f"grad_norm/ae_{s}"], base = self.update_ae(s, real, batch.get(f"{s}_valid"))
            out[f"loss/d_{s}"], out[f"grad_norm/d_{s}"] = self.update_d(s, real, base)
            out[f"loss/ne_{s}"], out[f"grad_norm/ne_{s}"] = self.update_ne(s, base)
        return out

    @torch.no_grad()
    def sample_rows(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        rows = []
        for s in self.DOMAINS:
            real = batch[s]
            with self.autocast():
                rec = self.nets[f"ae_{s}"](real).float()
                fake = self.nets[f"ne_{s}"](rec).float()
            rows += [(f"{s}", real), (f"A_{s}({s})", rec), (f"A_{s}({s})+NE_{s}", fake)]
        return rows
