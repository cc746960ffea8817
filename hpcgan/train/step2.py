"""Step 2 (translation) and the single-step variants, as recipes of one phase (docs/method.md).

``ours`` step 2: restore only the noise emulators from step 1 (``train.init_from``), frozen; train
``g_xy`` and ``g_yx`` with one optimiser on ``L = L_cycle + L_identity`` (one backward):

- cycle (unpaired x, y): ``MSE(G_yx(G_xy(x) + NE_y), x) + MSE(G_xy(G_yx(y) + NE_x), y)``;
- identity (paired xp, yp): ``MSE(G_xy(xp), yp) + MSE(G_yx(yp), xp)``, plus (beyond the paper,
  ``train.flux_loss_weight`` > 0) that weight times the relative aperture-flux error of each term
  (:func:`hpcgan.train.losses.aperture_flux_loss`, radii ``train.flux_loss_radii_arcsec``).

Recipes (``RECIPES``, hpcgan/config/variants.py; all other variants are the same code with flags):

========== ===== ======== ======= ============ ==========================================
variant    cycle identity noise   adversarial  steps
========== ===== ======== ======= ============ ==========================================
ours       yes   yes      frozen  no           1 (NoisePhase) then 2
unpaired_  yes   no       frozen  no           1 then 2
paired_    no    yes      frozen  no           1 then 2
no_noise   yes   yes      none    no           2 only
auto       yes   yes      trained no (NE + D)  single: NE_s/D_s trained on G's outputs
pix2pix    no    yes      none    yes (G)      single: mse_weight*MSE + adv_weight*GAN
cyclegan   yes   no       none    yes (G)      single: mse_weight*MSE + adv_weight*GAN
========== ===== ======== ======= ============ ==========================================

``auto`` (inferred; the poster says only "NE and D trained together with the generators, no
autoencoders"): each iteration (i) the generators' update with the current NE frozen, then per
domain (ii) ``D_y`` real ``y`` vs ``G_xy(x).detach() + NE_y`` and (iii) ``NE_y`` fools ``D_y``
(likewise for x with ``G_yx(y)``): the translation plays the autoencoder's role of step 1.
Benchmarks (pix2pix, cyclegan): ``D_s`` is trained on real ``s`` vs the generator's output; the
generators get ``adv_weight * BCE(D(G(.)), 1)`` with D frozen.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from hpcgan.astro.photometry import aperture_weights
from hpcgan.config.schema import Config, DataCfg
from hpcgan.config.variants import RECIPES, Recipe
from hpcgan.models import Net
from hpcgan.models.residual import generate
from hpcgan.train import losses
from hpcgan.train.optim import frozen, step
from hpcgan.train.phase import Phase

DOMAINS = ("x", "y")
OTHER = {"x": "y", "y": "x"}
GEN = {"y": "g_xy", "x": "g_yx"}  # the generator whose output lives in domain s


class TranslationPhase(Phase):
    """Generators (+ frozen or trained noise emulators, + discriminators where the recipe says)."""

    @staticmethod
    def networks(recipe: Recipe, data: DataCfg) -> dict[str, Net]:
        nets = {"g_xy": Net("generator", direction="xy"), "g_yx": Net("generator", direction="yx")}
        bands = {s: len(getattr(data, s).bands) for s in DOMAINS}
        if recipe.noise != "none":
            nets.update({f"ne_{s}": Net("noise_emulator", bands=bands[s]) for s in DOMAINS})
        if recipe.noise == "trained" or recipe.adversarial:  # the benchmarks' D by model.discriminator
            name = "paper" if recipe.noise == "trained" else None
            nets.update({f"d_{s}": Net("discriminator", name, bands=bands[s]) for s in DOMAINS})
        return nets

    def __init__(self, cfg: Config, device: torch.device, d: Any, nets: dict[str, nn.Module],
                 recipe: Recipe | None = None):
        r = recipe or RECIPES[cfg.train.variant]
        super().__init__(cfg, device, d, nets, frozen=("ne_x", "ne_y") if r.noise == "frozen" else ())
        self.recipe = r
        self.name = cfg.train.variant if r.single_step else "step2"
        self.streams = (("x", "y") if r.cycle else ()) + (("xp", "yp") if r.identity else ())
        # train.flux_loss_weight: aperture weights (R, H*W) of each target domain for the identity term
        self.ap_weights = {s: torch.from_numpy(aperture_weights(sv.stamp_size, sv.pixel_scale, cfg.train.flux_loss_radii_arcsec))
                           .float().to(device) for s, sv in (("x", cfg.data.x), ("y", cfg.data.y))
                           } if cfg.train.flux_loss_weight and r.identity else {}
        # train.flux_loss_bands: the channels the flux term scores, per target domain (all when empty)
        self.flux_bands = {s: [sv.bands.index(b) for b in cfg.train.flux_loss_bands] or list(range(len(sv.bands)))
                           for s, sv in (("x", cfg.data.x), ("y", cfg.data.y))}
        self.add_unit("gen", "g_xy", "g_yx")
        for s in DOMAINS:
            if f"d_{s}" in self.nets:
                self.add_unit(f"d_{s}", f"d_{s}")
            if r.noise == "trained":
                self.add_unit(f"ne_{s}", f"ne_{s}")
        self.finish()

    def noisy(self, s: str, img: torch.Tensor, tag: str | None = None) -> torch.Tensor:
        """``img + NE_s``, or ``img`` without noise emulators. With ``tag`` (training) the noise is keyed
        by (seed, iteration, tag, global sample index) (:meth:`Phase.emulate`); without, it is drawn
        from the global RNG (sample grids)."""
        if f"ne_{s}" not in self.nets:
            return img
        return self.emulate(s, img, tag) if tag is not None else self.nets[f"ne_{s}"](img)

    def fake(self, s: str, base: torch.Tensor, tag: str) -> torch.Tensor:
        """What D_s sees as fake: ``base + NE_s`` when the noise emulators train here (``auto``), else ``base``."""
        return self.noisy(s, base, tag) if self.recipe.noise == "trained" else base

    def translate(self, s: str, img: torch.Tensor, psf: torch.Tensor | None = None) -> torch.Tensor:
        """Into domain ``s``: ``G(img)``; ``psf`` (B, C) the source stamps' seeing, for generators that
        take it (a translated image has no seeing of its own: None = the survey's nominal)."""
        return generate(self.nets[GEN[s]], img, psf)

    # The updates of one iteration, each stepping only its own optimiser (explicit for the
    # distributed backends).
    def update_gen(self, batch: dict[str, torch.Tensor]) -> tuple[dict, dict, dict]:
        """(1) both generators: one loss, one backward, one optimiser (trained NE/D frozen meanwhile).

        Returns (logged values, G's outputs per target domain, the matching real images)."""
        r, tc, out = self.recipe, self.cfg.train, {}
        fakes: dict[str, torch.Tensor] = {}
        reals: dict[str, torch.Tensor] = {}
        aux = [self.nets[k] for k in self.nets if k.startswith(("d_", "ne_")) and k not in self.frozen]
        with frozen(*aux), self.autocast():
            l_mse = torch.zeros((), device=self.device)
            if r.cycle:
                for s in DOMAINS:  # s -> o (+ NE_o) -> s
                    o = OTHER[s]
                    fake_o = self.translate(o, batch[s], batch.get(f"{s}_psf"))
                    l = losses.mse(self.translate(s, self.noisy(o, fake_o, "cycle")), batch[s], batch.get(f"{s}_valid"))
                    out[f"loss/cycle_{s}"] = l.detach()
                    l_mse = l_mse + l
                    fakes[o], reals[o] = fake_o, batch[o]
            if r.identity:
                for s, src in (("y", "xp"), ("x", "yp")):
                    fake_s = self.translate(s, batch[src], batch.get(f"{src}_psf"))
                    l = losses.mse(fake_s, batch[s + "p"], batch.get(f"{s}p_valid"))
                    out[f"loss/identity_{s}"] = l.detach()
                    if self.ap_weights:
                        c = self.flux_bands[s]
                        lf = losses.aperture_flux_loss(fake_s[:, c], batch[s + "p"][:, c], self.ap_weights[s],
                                                       self.cfg.data.pixel_transform)
                        out[f"loss/flux_{s}"] = lf.detach()
                        l = l + tc.flux_loss_weight * lf
                    l_mse = l_mse + l
                    fakes.setdefault(s, fake_s)
                    reals.setdefault(s, batch[s + "p"])
            if r.adversarial:
                l_adv = sum(losses.g_loss(self.nets[f"d_{s}"](fakes[s])) for s in DOMAINS)
                out["loss/adv_g"] = l_adv.detach()
                total = tc.mse_weight * l_mse + tc.adv_weight * l_adv
            else:
                total = l_mse
        out["loss/gen"] = total.detach()
        out["grad_norm/gen"] = step(self.d, self.units["gen"], total, tc.clip_norm)
        return out, {k: v.detach() for k, v in fakes.items()}, reals

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | float]:
        out, fakes, reals = self.update_gen(batch)
        for s in DOMAINS:
            if f"d_{s}" in self.nets:
                out[f"loss/d_{s}"], out[f"grad_norm/d_{s}"] = self.update_d(s, reals[s], fakes[s])
            if f"ne_{s}" in self.units:
                out[f"loss/ne_{s}"], out[f"grad_norm/ne_{s}"] = self.update_ne(s, fakes[s])
        return out

    @torch.no_grad()
    def sample_rows(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        rows = []
        for s in DOMAINS:
            o = OTHER[s]
            paired = self.recipe.identity
            src = batch[s + "p"] if paired else batch[s]
            with self.autocast():
                g = self.translate(o, src, batch.get(f"{s}{'p' if paired else ''}_psf"))
                t = self.noisy(o, g).float()
            rows += [(f"{s}{'p' if paired else ''}", src), (f"{GEN[o]}({s})", g.float())]
            if f"ne_{o}" in self.nets:
                rows.append((f"{GEN[o]}({s})+NE_{o}", t))
            if paired:
                rows.append((f"{o}p truth", batch[o + "p"]))
        return rows

    def restore_noise_emulators(self, nets_state: dict[str, dict]) -> None:
        """Load ``ne_x``/``ne_y`` (only) from a step-1 checkpoint's ``nets``; they stay frozen."""
        for s in DOMAINS:
            k = f"ne_{s}"
            if k not in self.nets:
                continue
            if k not in nets_state:
                raise KeyError(f"the step-1 checkpoint has no {k!r} (has {sorted(nets_state)})")
            self.nets[k].load_state_dict(nets_state[k])
