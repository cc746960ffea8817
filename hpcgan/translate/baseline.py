"""``translate.method: resample``: the physical baseline with the :class:`~hpcgan.translate.model.Translator`
interface, so the bulk translation stage writes the same shards, FITS and manifest as for a model.

    tr = BaselineTranslator(cfg, "y2x", torch.device("cpu"))
    y = tr.physical(x, ids, realisations=[0], seed=0, psf_fwhm=fwhm)  # (R, B, 5, H', W') target survey units

The input is model space (as for a model) and is taken back to survey units first. The source PSF
FWHM of each stamp is ``psf_fwhm`` (B, 5) (the shards' ``psf_fwhm``, :func:`hpcgan.data.shards.seeing`;
the survey table's nominal seeing where it is NaN or not given); the target's is the nominal seeing (a translation has no target observation). With
``baseline.add_noise`` each realisation ``k`` of object ``oid`` gets the target survey's sky noise
(``SKYSIG`` per band, and its pixel correlation, as ``hpcgan simulate`` draws it) from a generator
seeded with :func:`~hpcgan.translate.model.noise_seed` ``(seed, oid, k)``: independent of batch, rank
and restart, like the model's noise.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.data.transforms import from_model_space
from hpcgan.models.baseline import baseline_from_config
from hpcgan.translate.model import DIRECTIONS, noise_seed


class BaselineTranslator:
    """One direction of the baseline on ``device`` (see module docstring)."""

    method = "resample"
    ne = None  # no noise emulator (the noise, if any, is the survey's sky noise)

    def __init__(self, cfg: Config, direction: str, device: torch.device):
        if direction not in DIRECTIONS:
            raise ValueError(f"translate.direction: {direction!r}; allowed: {', '.join(DIRECTIONS)}")
        src, dst = DIRECTIONS[direction][:2]
        self.src: SurveyCfg = getattr(cfg.data, src)
        self.dst: SurveyCfg = getattr(cfg.data, dst)
        self.dst_side, self.direction, self.device = dst, direction, device
        self.transform = cfg.data.pixel_transform
        self.add_noise, self.resample_setting = cfg.baseline.add_noise, cfg.baseline.resample
        self.base = baseline_from_config(cfg, direction).to(device)
        self.nominal = torch.tensor(self.base.fwhm_src or [np.nan] * len(self.src.bands), dtype=torch.float64)

    def settings(self) -> dict:
        """What the manifest records instead of a checkpoint."""
        return {**self.base.settings(), "resample_setting": self.resample_setting, "add_noise": self.add_noise,
                "psf_fwhm_src": "per stamp (shards' psf_fwhm; nominal where NaN)" if self.base.psf_match else None}

    def noise(self, ids: Sequence[str], k: int, seed: int) -> np.ndarray:
        """(B, C, H', W') sky noise of realisation ``k`` for each object, target units."""
        from hpcgan.simulate.render import sky_noise
        from hpcgan.simulate.surveys import survey_spec

        spec = survey_spec(self.dst, self.dst_side)
        n = self.dst.stamp_size
        out = np.empty((len(ids), len(spec.bands), n, n))
        for i, oid in enumerate(ids):
            rng = np.random.default_rng(noise_seed(seed, str(oid), k))
            for c, band in enumerate(spec.bands):
                out[i, c] = sky_noise((n, n), band.sky_sigma, spec.corr_noise_w, rng)
        return out

    @torch.inference_mode()
    def physical(self, x: torch.Tensor, ids: Sequence[str], realisations: Sequence[int], seed: int,
                 psf_fwhm: np.ndarray | None = None) -> np.ndarray:
        """Model-space input (B, 5, H, W) -> (R, B, 5, H', W') float32 in target survey units."""
        if len(ids) != x.shape[0]:
            raise ValueError(f"{len(ids)} object ids for a batch of {x.shape[0]}")
        raw = from_model_space(x.double(), self.src.flux_scale, self.transform).to(self.device)
        fwhm = None
        if self.base.psf_match:
            f = self.nominal.expand(len(ids), -1) if psf_fwhm is None else torch.as_tensor(psf_fwhm, dtype=torch.float64)
            fwhm = torch.where(torch.isfinite(f), f, self.nominal).to(self.device)
        y = self.base(raw, psf_fwhm_src=fwhm).cpu().numpy()
        out = np.empty((len(realisations), *y.shape), dtype=np.float32)
        for j, k in enumerate(realisations):
            out[j] = y + self.noise(ids, k, seed) if self.add_noise else y
        return out
