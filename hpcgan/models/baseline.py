"""The naive physical baseline: source-survey stamps -> target-survey stamps by physics alone.

    b = PhysicalBaseline(cfg.data.x, cfg.data.y)            # SDSS -> CFHT, the defaults below
    y = b(x)            # x: (B, C, H, W) source pixel units -> (B, C, H', W') target pixel units
    y = b(x, psf_fwhm_src=fwhm)                             # per-stamp source seeing (B, C), arcsec

Three steps, none learnt (the module has no parameters, only non-persistent buffers, so it can sit
inside a network and move with it to any device):

1. PSF matching, on the source grid, when the target PSF is broader (CFHT -> SDSS): convolution
   with the pixel-integrated Gaussian of ``sigma = sqrt(s_dst**2 - s_src**2)`` per band (``s`` the
   PSF sigma = FWHM / 2.3548); nothing where the target PSF is sharper (no deconvolution).
2. Flux-conserving resampling onto the target grid. Both stamps are co-centred on the object,
   north up and axis-aligned (docs/formats.md), so it is separable: ``out = M @ img @ M.T`` with
   one 1-D matrix ``M`` (n_dst, n_src) per axis (square stamps: the same for y and x), built from
   the pixel edges. ``kind='area'``: ``M[j, i]`` = the length of source pixel ``i`` inside target
   pixel ``j`` over the source pixel size (exact area-weighted overlap: total flux is kept exactly
   where the target covers the source). ``kind='bicubic'``: the surface brightness (flux / pixel
   area) interpolated at the target pixel centres with the Keys cubic (a = -0.5), times the target
   pixel area. ``kind='auto'`` (the default): ``area`` when the target pixels are larger (CFHT ->
   SDSS, binning), ``bicubic`` when they are smaller (SDSS -> CFHT): each is the closer to the truth
   in its direction (docs/evaluation.md, "The naive baseline").
3. Unit conversion from the AB zero points: ``flux_dst = flux_src * 10**(0.4 * (zp_dst - zp_src))``.

Zero points are the surveys' declared model units (``data.<side>.magzp``, the same values translate
writes as ``MAGZP``) and the nominal seeing comes from the simulator's survey table
(:func:`hpcgan.astro.surveys.survey_spec`), unless given. The PSF is approximated as Gaussian for the matching only.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn

from hpcgan.config.loader import ConfigError
from hpcgan.config.schema import BaselineCfg, DataCfg, SurveyCfg

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
KINDS = ("auto", "area", "bicubic")
F64 = torch.float64
Fwhm = Union[float, Sequence[float], None]


def _centres(n: int, scale: float) -> torch.Tensor:
    """Pixel centres (arcsec) relative to the stamp centre, 0-based pixel ``(n - 1) / 2``."""
    return (torch.arange(n, dtype=F64) + 0.5 - n / 2) * scale


def _edges(n: int, scale: float) -> torch.Tensor:
    """The n + 1 pixel edges (arcsec) relative to the stamp centre."""
    return (torch.arange(n + 1, dtype=F64) - n / 2) * scale


def area_matrix(n_src: int, p_src: float, n_dst: int, p_dst: float) -> torch.Tensor:
    """(n_dst, n_src): fraction of source pixel ``i`` that falls in target pixel ``j`` (1-D)."""
    es, ed = _edges(n_src, p_src), _edges(n_dst, p_dst)
    lo = torch.maximum(ed[:-1, None], es[None, :-1])
    hi = torch.minimum(ed[1:, None], es[None, 1:])
    return (hi - lo).clamp(min=0.0) / p_src


def keys_cubic(u: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """The Keys cubic convolution kernel (a = -0.5: Catmull-Rom, exact for quadratics)."""
    t = u.abs()
    inner = (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    outer = a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, inner, torch.where(t < 2, outer, torch.zeros_like(t)))


def bicubic_matrix(n_src: int, p_src: float, n_dst: int, p_dst: float) -> torch.Tensor:
    """(n_dst, n_src): cubic interpolation of surface brightness at the target centres, times the
    pixel-size ratio (per axis; the two axes together give the area ratio)."""
    u = (_centres(n_dst, p_dst)[:, None] - _centres(n_src, p_src)[None, :]) / p_src
    return keys_cubic(u) * (p_dst / p_src)


def gaussian_matrix(n: int, sigma_px: torch.Tensor) -> torch.Tensor:
    """(..., n, n) 1-D convolution with the pixel-integrated Gaussian of ``sigma_px`` (...,) pixels;
    the identity where ``sigma_px`` is 0. Flux that the kernel carries off the stamp is lost."""
    d = (torch.arange(n, dtype=F64)[:, None] - torch.arange(n, dtype=F64)[None, :]).to(sigma_px.device)
    s = (sigma_px.to(F64).clamp(min=1e-12) * math.sqrt(2.0))[..., None, None]
    return 0.5 * (torch.erf((d + 0.5) / s) - torch.erf((d - 0.5) / s))


def _per_band(v: Fwhm, n: int, what: str) -> tuple[float, ...]:
    vals = (float(v),) * n if isinstance(v, (int, float)) else tuple(float(x) for x in v)
    if len(vals) != n or not all(math.isfinite(x) and x >= 0 for x in vals):
        raise ValueError(f"{what}: expected {n} finite FWHMs >= 0 (arcsec), got {v!r}")
    return vals


def nominal_seeing(survey: SurveyCfg) -> tuple[float, ...]:
    """Nominal seeing FWHM (arcsec) per band of a survey, from the simulator's table."""
    from hpcgan.astro.surveys import survey_spec

    try:
        spec = survey_spec(survey, "x")
    except ConfigError as e:
        raise ConfigError(f"baseline: no nominal seeing for survey {survey.name!r} ({e}); pass psf_fwhm_src "
                          f"and psf_fwhm_dst, or psf_match=False") from None
    return tuple(b.psf_fwhm for b in spec.bands)


class PhysicalBaseline(nn.Module):
    """Resample + zero-point conversion + Gaussian PSF match (see module docstring).

    Parameters
    ----------
    src, dst : the source and target surveys (bands, ``stamp_size``, ``pixel_scale`` in arcsec/px).
    kind : ``'auto'``, ``'area'`` or ``'bicubic'`` resampling (``kind`` holds the resolved one).
    psf_fwhm_src, psf_fwhm_dst : PSF FWHM (arcsec), one per band or one for all; None = the survey
        table's nominal seeing (only read with ``psf_match``). ``forward(psf_fwhm_src=...)`` overrides the source one per stamp.
    psf_match : False skips step 1.
    magzp_src, magzp_dst : AB zero points; None = ``src.magzp`` / ``dst.magzp``.
    """

    def __init__(self, src: SurveyCfg, dst: SurveyCfg, kind: str = BaselineCfg.resample,
                 psf_fwhm_src: Fwhm = None, psf_fwhm_dst: Fwhm = None, psf_match: bool = BaselineCfg.psf_match,
                 magzp_src: Optional[float] = None, magzp_dst: Optional[float] = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"baseline.resample: {kind!r}; allowed: {', '.join(KINDS)}")
        if tuple(src.bands) != tuple(dst.bands):
            raise ValueError(f"baseline: source bands {src.bands} differ from target bands {dst.bands}")
        if kind == "auto":
            kind = "area" if dst.pixel_scale > src.pixel_scale else "bicubic"
        self.src, self.dst, self.kind, self.psf_match = src, dst, kind, psf_match
        nb = len(src.bands)
        self.magzp_src = float(src.magzp if magzp_src is None else magzp_src)
        self.magzp_dst = float(dst.magzp if magzp_dst is None else magzp_dst)
        self.gain = 10.0 ** (0.4 * (self.magzp_dst - self.magzp_src))
        if psf_match:
            self.fwhm_src = nominal_seeing(src) if psf_fwhm_src is None else _per_band(psf_fwhm_src, nb, "psf_fwhm_src")
            self.fwhm_dst = nominal_seeing(dst) if psf_fwhm_dst is None else _per_band(psf_fwhm_dst, nb, "psf_fwhm_dst")
        else:
            self.fwhm_src = self.fwhm_dst = ()
        build = area_matrix if kind == "area" else bicubic_matrix
        self.register_buffer("resample", build(src.stamp_size, src.pixel_scale, dst.stamp_size, dst.pixel_scale),
                             persistent=False)
        self.register_buffer("matrix", self.matrices(torch.tensor(self.fwhm_src, dtype=F64)).float()
                             if psf_match else self.resample.float(), persistent=False)

    def match_sigma_px(self, fwhm_src: torch.Tensor) -> torch.Tensor:
        """Source-pixel sigma of the matching Gaussian per band (0 where the target PSF is sharper)."""
        dst = torch.tensor(self.fwhm_dst, dtype=F64, device=fwhm_src.device)
        var = (dst ** 2 - fwhm_src.to(F64) ** 2).clamp(min=0.0)
        return var.sqrt() * FWHM_TO_SIGMA / self.src.pixel_scale

    def matrices(self, fwhm_src: torch.Tensor) -> torch.Tensor:
        """(..., C, n_dst, n_src) float64: resample @ Gaussian, for source FWHMs (..., C)."""
        g = gaussian_matrix(self.src.stamp_size, self.match_sigma_px(fwhm_src))
        return self.resample.to(device=g.device, dtype=F64) @ g

    def forward(self, x: torch.Tensor, psf_fwhm_src: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, C, H, W) source pixel units -> (B, C, H', W') target pixel units, in ``x``'s dtype."""
        n = self.src.stamp_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (len(self.src.bands), n, n):
            raise ValueError(f"baseline input: expected (B, {len(self.src.bands)}, {n}, {n}), got {tuple(x.shape)}")
        m = self.matrix
        if psf_fwhm_src is not None and self.psf_match:
            m = self.matrices(psf_fwhm_src.to(x.device)).to(torch.float32)
        y = m @ x.to(torch.float32) @ m.transpose(-1, -2)
        return (y * self.gain).to(x.dtype)

    def settings(self) -> dict:
        """What the manifest records about this baseline."""
        return {"resample": self.kind, "psf_match": self.psf_match, "magzp_src": self.magzp_src,
                "magzp_dst": self.magzp_dst, "psf_fwhm_src_nominal": list(self.fwhm_src),
                "psf_fwhm_dst": list(self.fwhm_dst)}


def naive_baseline(data: DataCfg, bc: BaselineCfg, direction: str, magzp_dst: Optional[float] = None) -> PhysicalBaseline:
    """The naive baseline of ``bc`` (the baseline section) for ``direction`` ``'x2y'`` or ``'y2x'`` between
    the surveys of ``data``; ``magzp_dst``: the target zero point (``translate.magzp``; None = the survey's)."""
    if direction not in ("x2y", "y2x"):
        raise ValueError(f"direction: {direction!r}; allowed: x2y, y2x")
    src, dst = (data.x, data.y) if direction == "x2y" else (data.y, data.x)
    return PhysicalBaseline(src, dst, kind=bc.resample, psf_match=bc.psf_match, magzp_dst=magzp_dst)
