"""``translate.method: resample``: the physical baseline with the :class:`~hpcgan.translate.model.Translator`
interface, so the bulk translation stage writes the same shards, FITS and manifest as for a model.

    tr = BaselineTranslator(cfg, "x2y", torch.device("cpu"), shards_root)
    y = tr.physical(x, ids, realisations=[0], seed=0, psf_fwhm=fwhm)  # (R, B, 5, H', W') target survey units

``baseline.pipeline``: ``strong`` (the default; :class:`hpcgan.models.psf_baseline.PsfMatchedBaseline`:
starlet denoising, the surveys' real PSF models matched with photutils' Wiener kernels, resampling) or
``naive`` (:class:`hpcgan.models.baseline.PhysicalBaseline`: resample + Gaussian PSF match). The input is
model space (as for a model) and is taken back to survey units first. The source PSF FWHM of each stamp is
``psf_fwhm`` (B, 5) (the shards' ``psf_fwhm``, :func:`hpcgan.data.shards.seeing`; the survey table's
nominal seeing where it is NaN or not given); the target's is the nominal seeing (a translation has no
target observation).

``baseline.add_noise``: each realisation ``k`` of object ``oid`` gets the target survey's noise from a
generator seeded with :func:`~hpcgan.translate.model.noise_seed` ``(seed, oid, k)`` (independent of batch,
rank and restart). ``strong``: noise with the power spectrum measured on the blank corners of the target
survey's own stamps (``unpaired``, else ``paired-train`` shards under the input root;
:mod:`hpcgan.astro.noise_power`). ``naive``: white noise at the simulator's nominal sky sigma, correlated
as the simulator does (the earlier baseline).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hpcgan.astro.noise_power import blank_sky_power, noise_kernel, sky_noise, synthesize
from hpcgan.astro.transforms import from_model_space
from hpcgan.config.loader import ConfigError
from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.data.shards import open_source, stamps_to_survey_units
from hpcgan.log import get_logger
from hpcgan.models.baseline import naive_baseline
from hpcgan.models.psf_baseline import PsfMatchedBaseline
from hpcgan.translate.model import DIRECTIONS, noise_seed

log = get_logger(__name__)
NOISE_SPLITS = ("unpaired", "paired-train")  # where the target survey's noise is measured, in this order
NOISE_STAMPS = 256  # stamps read for the measurement (4 corner patches each)


def measured_noise_kernel(root: Path, survey: SurveyCfg, size: int) -> tuple[np.ndarray, str]:
    """``((C, size, size) kernel, where)``: the target survey's noise kernel measured on the blank corners of
    its own stamps under ``root`` (survey units)."""
    for split in NOISE_SPLITS:
        try:
            src = open_source(root, survey.name, split)
        except FileNotFoundError:
            continue
        n = min(len(src), NOISE_STAMPS)
        stamps = stamps_to_survey_units(src.read(np.arange(n)), src)
        return noise_kernel(blank_sky_power(stamps), size), f"{root / survey.name / split} ({n} stamps)"
    raise ConfigError(f"baseline.add_noise: no {survey.name} stamps under {root} (splits {', '.join(NOISE_SPLITS)}) "
                      f"to measure the target survey's noise on; set baseline.add_noise=false")


NAIVE = ("baseline.resample", "baseline.psf_match")  # the naive pipeline's knobs (:func:`naive_baseline`)


class BaselineTranslator:
    """One direction of the baseline on ``device`` (see module docstring)."""

    method = "resample"
    ne = None  # no noise emulator (the noise, if any, is the survey's measured noise)

    def __init__(self, cfg: Config, direction: str, device: torch.device, root: Path | None = None):
        if direction not in DIRECTIONS:
            raise ValueError(f"translate.direction: {direction!r}; allowed: {', '.join(DIRECTIONS)}")
        src, dst = DIRECTIONS[direction][:2]
        self.src: SurveyCfg = getattr(cfg.data, src)
        self.dst: SurveyCfg = getattr(cfg.data, dst)
        self.dst_side, self.direction, self.device = dst, direction, device
        self.transform = cfg.data.pixel_transform
        bc = cfg.baseline
        self.add_noise, self.resample_setting, self.pipeline = bc.add_noise, bc.resample, bc.pipeline
        if bc.pipeline == "strong":
            self.base = PsfMatchedBaseline(self.src, self.dst, bc, magzp_dst=cfg.translate.magzp).to(device)
            self.psf_match = True
        else:
            self.base = naive_baseline(cfg.data, bc, direction, cfg.translate.magzp).to(device)
            self.psf_match = self.base.psf_match
        self.nominal = torch.tensor(self.base.fwhm_src or [np.nan] * len(self.src.bands), dtype=torch.float64)
        self.kernel, self.noise_from = None, None
        if bc.add_noise and bc.pipeline == "strong":
            self.kernel, self.noise_from = measured_noise_kernel(Path(root or cfg.data.shards), self.dst,
                                                                 bc.noise_kernel)
            log.info("baseline noise: the %s noise power measured on %s", self.dst.name, self.noise_from)

    def settings(self) -> dict:
        """What the manifest records instead of a checkpoint."""
        return {**self.base.settings(), "resample_setting": self.resample_setting, "add_noise": self.add_noise,
                "noise_measured_on": self.noise_from,
                "psf_fwhm_src": "per stamp (shards' psf_fwhm; nominal where NaN)" if self.psf_match else None}

    def noise(self, ids: Sequence[str], k: int, seed: int) -> np.ndarray:
        """(B, C, H', W') target-survey noise of realisation ``k`` for each object, target units."""
        n = self.dst.stamp_size
        out = np.empty((len(ids), len(self.dst.bands), n, n))
        if self.kernel is not None:
            for i, oid in enumerate(ids):
                out[i] = synthesize(self.kernel, (n, n), np.random.default_rng(noise_seed(seed, str(oid), k)))
            return out
        from hpcgan.astro.surveys import survey_spec

        spec = survey_spec(self.dst, self.dst_side)
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
        if self.psf_match:
            f = self.nominal.expand(len(ids), -1) if psf_fwhm is None else torch.as_tensor(psf_fwhm, dtype=torch.float64)
            fwhm = torch.where(torch.isfinite(f), f, self.nominal).to(self.device)
        y = self.base(raw, psf_fwhm_src=fwhm).cpu().numpy()
        out = np.empty((len(realisations), *y.shape), dtype=np.float32)
        for j, k in enumerate(realisations):
            out[j] = y + self.noise(ids, k, seed) if self.add_noise else y
        return out
