"""Step 1 (noise reconstruction), PAPER.md. Per domain ``s`` in (x, y), each iteration:

1. ``ae_s``: update the autoencoder on ``MSE(A(s), s)``;
2. ``d_s``: update the discriminator on real ``s`` vs fake ``A(s).detach() + NE(z1, z2)`` (NE output
   detached too);
3. ``ne_s``: update the noise emulator to fool ``D`` (non-saturating loss) with ``A`` fixed and ``D``
   frozen (no gradient into ``D``'s parameters).

Six optimisers (``ae_x, d_x, ne_x, ae_y, d_y, ne_y``), each stepped only in its own update.
Uses the unpaired streams ``x`` and ``y``.
"""
from __future__ import annotations

from typing import Any

import torch

from hpcgan.config.schema import Config
from hpcgan.train import losses
from hpcgan.train.optim import frozen, step
from hpcgan.train.phase import Phase


class NoisePhase(Phase):
    """Autoencoders, noise emulators and discriminators of both domains."""

    name = "step1"
    streams = ("x", "y")
    DOMAINS = ("x", "y")

    def __init__(self, cfg: Config, device: torch.device, d: Any):
        super().__init__(cfg, device, d)
        for s in self.DOMAINS:
            self.add_net(f"ae_{s}", "autoencoder")
            self.add_net(f"ne_{s}", "noise_emulator")
            self.add_net(f"d_{s}", "discriminator", name="paper")
        for s in self.DOMAINS:  # the order of the updates inside an iteration
            for net in ("ae", "d", "ne"):
                self.add_unit(f"{net}_{s}", f"{net}_{s}")
        self.finish()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | float]:
        clip, out = self.cfg.train.clip_norm, {}
        for s in self.DOMAINS:
            real = batch[s]
            ae, ne, disc = self.nets[f"ae_{s}"], self.nets[f"ne_{s}"], self.nets[f"d_{s}"]
            # (1) autoencoder on the reconstruction MSE
            with self.autocast():
                rec = ae(real)
                l_ae = losses.mse(rec, real)
            out[f"grad_norm/ae_{s}"] = step(self.d, self.units[f"ae_{s}"], l_ae, clip)
            base = rec.detach()
            # (2) discriminator: real vs A(x).detach() + NE
            with self.autocast():
                with torch.no_grad():
                    fake = ne(base)
                logits = disc(torch.cat([real, fake]))  # one pass; D has no batch-coupled layer
                l_d = losses.d_loss(logits[:len(real)], logits[len(real):])
            out[f"grad_norm/d_{s}"] = step(self.d, self.units[f"d_{s}"], l_d, clip)
            # (3) noise emulator fools D; A fixed (base is detached), D frozen
            with frozen(disc), self.autocast():
                l_ne = losses.g_loss(disc(ne(base)))
            out[f"grad_norm/ne_{s}"] = step(self.d, self.units[f"ne_{s}"], l_ne, clip)
            out.update({f"loss/ae_{s}": l_ae.detach(), f"loss/d_{s}": l_d.detach(), f"loss/ne_{s}": l_ne.detach()})
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
