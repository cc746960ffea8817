"""A trained translation, ready for inference: ``G(x) + NE(z)`` with noise seeded by object id.

    tr = Translator("runs/train/ours-step2", "x2y", torch.device("cpu"))
    x = stamps_to_model(raw_x, source, tr.src.flux_scale, tr.transform)  # hpcgan.data.shards
    y = tr.physical(x, ids, realisations=[0, 1], seed=0)   # (R, B, 5, H', W') target survey units

The networks are built from the checkpoint's own config (``config_yaml``: model width, generator
kind, survey geometry, flux scales, pixel transform), never from the caller's, so a checkpoint always
loads with the shapes it was trained with. Loading goes through :mod:`hpcgan.io.checkpoint`
(checksum verified, ``torch.load(weights_only=True)``).

Noise: realisation ``k`` of object ``oid`` uses ``z1``, ``z2`` drawn on the CPU from a
``torch.Generator`` seeded with :func:`noise_seed` ``(seed, oid, k)``, so a stamp's translation does not
depend on its batch, its rank, the rank count, the device or a restart.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import yaml

from hpcgan.astro.transforms import from_model_space
from hpcgan.config.loader import ConfigError, validate
from hpcgan.config.loader import build as build_config
from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.io import checkpoint as ckpt
from hpcgan.models import Net, build_models
from hpcgan.models.residual import generate

# direction -> (source side, target side, generator prefix, target noise emulator prefix, generator direction)
DIRECTIONS = {"x2y": ("x", "y", "g_xy", "ne_y", "xy"), "y2x": ("y", "x", "g_yx", "ne_x", "yx")}


def noise_seed(seed: int, object_id: str, realisation: int) -> int:
    """A 63-bit seed from (run seed, object id, realisation): sha256 of ``'{seed}:{id}:{k}'``."""
    h = hashlib.sha256(f"{int(seed)}:{object_id}:{int(realisation)}".encode()).digest()
    return int.from_bytes(h[:8], "little") & (2**63 - 1)


def draw_noise(ids: Sequence[str], realisation: int, seed: int, bands: int, h: int, w: int,
               k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-object ``z1`` (B, C) and ``z2`` (B, C, h+k-1, w+k-1), float32 on the CPU."""
    z1 = torch.empty(len(ids), bands)
    z2 = torch.empty(len(ids), bands, h + k - 1, w + k - 1)
    g = torch.Generator()
    for i, oid in enumerate(ids):
        g.manual_seed(noise_seed(seed, str(oid), realisation))
        torch.randn(bands, generator=g, out=z1[i])
        torch.randn(bands, h + k - 1, w + k - 1, generator=g, out=z2[i])
    return z1, z2


# keys added after checkpoints were written, with the value that keeps such a checkpoint's behaviour (a
# default that changed behaviour would otherwise reach old checkpoints silently)
PREDATING = {("baseline", "shape_prior_arcsec"): 0.0}  # 2026-12-08: step 4 of the strong pipeline


def checkpoint_config(state: dict) -> Config:
    """The resolved config a checkpoint was trained with (keys it predates: :data:`PREDATING`)."""
    data = yaml.safe_load(state.get("config_yaml") or "") or {}
    for (section, key), value in PREDATING.items():
        if isinstance(data.get(section), dict) and key not in data[section]:
            data[section][key] = value
    return validate(build_config(Config, data))


class Translator:
    """One direction of a trained model in eval mode on ``device`` (see module docstring)."""

    def __init__(self, checkpoint: str | Path, direction: str, device: torch.device, impl: str = "auto",
                 noise: bool = True):
        """``noise=False``: the noise emulator is not loaded, so every realisation is ``G(x)``."""
        if direction not in DIRECTIONS:
            raise ValueError(f"translate.direction: {direction!r}; allowed: {', '.join(DIRECTIONS)}")
        self.path = ckpt.resolve(checkpoint)
        state = ckpt.load(self.path)
        self.sha256 = ckpt.checkpoint_sha256(self.path)
        self.phase, self.iteration = str(state.get("phase")), int(state.get("iteration", 0))
        self.direction, self.device = direction, device
        src, dst, gen, ne, gdir = DIRECTIONS[direction]
        nets = state["nets"]
        if gen not in nets:
            raise ckpt.CheckpointError(f"checkpoint {self.path}: phase {self.phase!r} has no generator {gen!r} "
                                       f"(networks: {sorted(nets)}); translate needs a step-2 or single-step run")
        try:  # a hand-made or foreign checkpoint: one CheckpointError line, not a traceback
            self.cfg = checkpoint_config(state)
        except ConfigError as e:
            raise ckpt.CheckpointError(f"checkpoint {self.path}: its embedded config is invalid: {e}") from None
        self.src: SurveyCfg = getattr(self.cfg.data, src)
        self.dst: SurveyCfg = getattr(self.cfg.data, dst)
        self.transform = self.cfg.data.pixel_transform
        want = {gen: Net("generator", direction=gdir), **({ne: Net("noise_emulator", bands=len(self.dst.bands))}
                                                          if noise and ne in nets else {})}
        built = build_models(self.cfg.model, want, self.cfg.data, impl, self.cfg.baseline)
        self.gen, self.ne = built[gen], built.get(ne)
        for prefix, net in ((gen, self.gen), (ne, self.ne)):
            if net is None:
                continue
            try:
                net.load_state_dict(nets[prefix])
            except (RuntimeError, TypeError) as e:
                why = " ".join(str(e).split())  # torch's is several lines
                raise ckpt.CheckpointError(f"checkpoint {self.path}: nets.{prefix} does not fit the model of its "
                                           f"embedded config: {why[:300]}") from None
            net.to(device).eval().requires_grad_(False)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (len(self.dst.bands), self.dst.stamp_size, self.dst.stamp_size)

    @torch.inference_mode()
    def model_space(self, x: torch.Tensor, ids: Sequence[str], realisations: Sequence[int],
                    seed: int, psf_fwhm: torch.Tensor | None = None) -> torch.Tensor:
        """Model-space input (B, 5, H, W) -> (R, B, 5, H', W') model-space translations ``G(x) + NE(z)``.

        Without a noise emulator (variants ``no_noise``, ``pix2pix``, ``cyclegan``, or ``noise=False``) every
        realisation is the deterministic ``G(x)``. ``psf_fwhm`` (B, 5): the input stamps' seeing in arcsec (NaN =
        unknown), used by generators that take it (``model.residual_kernel``).
        """
        if len(ids) != x.shape[0]:
            raise ValueError(f"{len(ids)} object ids for a batch of {x.shape[0]}")
        base = generate(self.gen, x.to(self.device, torch.float32),
                        None if psf_fwhm is None else torch.as_tensor(psf_fwhm).to(self.device))
        if self.ne is None:
            return base.unsqueeze(0).expand(len(realisations), *base.shape).cpu()
        out = torch.empty(len(realisations), *base.shape)
        b, c, h, w = base.shape
        for j, k in enumerate(realisations):
            z1, z2 = draw_noise(ids, k, seed, c, h, w, self.ne.k)
            out[j] = self.ne(base, z1.to(self.device), z2.to(self.device)).cpu()
        return out

    def to_physical(self, y: torch.Tensor) -> np.ndarray:
        """Model-space translations -> target survey pixel units (inverse transform, then / flux_scale)."""
        return np.ascontiguousarray(from_model_space(y.double(), self.dst.flux_scale, self.transform).float().numpy())

    def physical(self, x: torch.Tensor, ids: Sequence[str], realisations: Sequence[int], seed: int,
                 psf_fwhm: np.ndarray | None = None) -> np.ndarray:
        """Model-space input (B, 5, H, W) (see :func:`hpcgan.data.shards.stamps_to_model`) ->
        (R, B, 5, H', W') float32 in target survey units."""
        return self.to_physical(self.model_space(x, ids, realisations, seed, psf_fwhm))
