"""Starlet (isotropic undecimated wavelet) denoising: the astronomer's multiscale detection, as a mask.

    clean = starlet_denoise(img, scales=4, k=5.0, grow=1)     # img (..., H, W) torch, any units

The image is split into ``scales`` detail planes ``w_j`` and a coarse plane (the B3-spline "a trous"
transform, Starck & Murtagh, *Astronomical Image and Data Analysis*: ``img = coarse + sum_j w_j``
exactly). A pixel is *detected* where any plane has a significant coefficient, ``|w_j| > k sigma_j``, with
``sigma_j`` the plane's own noise measured per image as 1.4826 MAD of its coefficients (the sky dominates a
stamp's pixels, and correlated noise is handled because each plane is measured, not predicted). Each
plane's detections are grown by ``grow * 2**j`` px (the plane's scale). The output is the image itself
inside that footprint and exactly zero outside: blank sky carries no noise, while the object keeps all
of its pixels. In the footprint's *margin* (grown, not detected) only the planes ``j >= margin_plane``
are kept: there the finest plane is the source survey's noise on faint, smooth outskirts, which a
deconvolution then amplifies (``margin_plane=1``, the strong baseline's default, lowers the SDSS -> CFHT
3" NMAD by up to 12% and the r50 bias, and the blank sky's mid-k power from 1.5-3.6x to 0.3-0.5x CFHT's
noise; docs/evaluation.md). ``margin_plane=0`` keeps every plane there (the footprint before 2026-12-07).
Thresholding each coefficient on its own value (the textbook hard threshold) was tried and not kept: it
keeps the noise peaks that push a coefficient over the threshold, and on the simulated pair it biased the
SDSS -> CFHT 3" aperture flux by +5 to +12% (docs/evaluation.md). Used by the strong
baseline (:mod:`hpcgan.models.psf_baseline`) and, through it, the residual generator's denoised base.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hpcgan.astro.photometry import MAD_TO_SIGMA

B3 = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def _smooth(x: torch.Tensor, hole: int) -> torch.Tensor:
    """Separable B3-spline smoothing with ``hole`` px between taps, mirror edges; ``x`` (N, 1, H, W)."""
    k = torch.tensor(B3, dtype=x.dtype, device=x.device)
    pad = 2 * hole
    y = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, 5), dilation=(1, hole))
    y = F.pad(y, (0, 0, pad, pad), mode="reflect")
    return F.conv2d(y, k.view(1, 1, 5, 1), dilation=(hole, 1))


def starlet(img: torch.Tensor, scales: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``(details, coarse)`` of ``img`` (..., H, W): ``img == coarse + sum(details)``."""
    if scales < 1:
        raise ValueError(f"baseline.denoise_scales: at least 1, got {scales}")
    shape = img.shape
    if 2 * 2 ** (scales - 1) >= min(shape[-2:]):
        raise ValueError(f"baseline.denoise_scales: {scales} scales need a stamp wider than {2 ** scales} px, "
                         f"got {tuple(shape[-2:])}")
    c = img.reshape(-1, 1, *shape[-2:])
    details = []
    for j in range(scales):
        s = _smooth(c, 2 ** j)
        details.append((c - s).reshape(shape))
        c = s
    return details, c.reshape(shape)


def max_scales(size: int) -> int:
    """The most detail planes a ``size``-px stamp allows (the widest plane's mirror padding < ``size``)."""
    return max(1, (size - 1).bit_length() - 1)


def plane_sigma(w: torch.Tensor) -> torch.Tensor:
    """Robust noise std of each image's plane ``w`` (..., H, W) -> (..., 1, 1)."""
    flat = w.flatten(-2)
    med = flat.median(dim=-1, keepdim=True).values
    return MAD_TO_SIGMA * (flat - med).abs().median(dim=-1, keepdim=True).values[..., None]


def stacked_significance(w: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The bands' plane ``w`` (..., C, H, W) each in its own noise ``sigma`` (..., C, 1, 1), summed over the
    bands and scaled to unit noise: (..., 1, H, W) (a band with no noise measured adds nothing)."""
    z = torch.where(sigma > 0, w / sigma.clamp_min(torch.finfo(w.dtype).tiny), torch.zeros_like(w))
    return z.sum(dim=-3, keepdim=True) / w.shape[-3] ** 0.5


def starlet_denoise(img: torch.Tensor, scales: int = 4, k: float = 5.0, grow: int = 1,
                    keep_px: float = 0.0, stack_k: float = 0.0, margin_plane: int = 0) -> torch.Tensor:
    """``img`` (..., H, W) inside its detected footprint, zero outside (see module docstring); with
    ``keep_px`` > 0 the disc of that radius (px) around the stamp centre is always kept (the catalogue
    object is there, detected or not). With ``stack_k`` > 0, ``img`` is (..., C, H, W) and a pixel
    is also kept in every band where the bands' stacked significance (:func:`stacked_significance`) of a
    plane exceeds ``stack_k``: a multi-band footprint, so an object's outskirts detected in r are kept
    in u. Planes ``j < margin_plane`` are kept only where something was detected (or in the disc), not
    in the grown margin."""
    details, coarse = starlet(img, scales)
    h, w = img.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h, device=img.device) - (h - 1) / 2,
                            torch.arange(w, device=img.device) - (w - 1) / 2, indexing="ij")
    detected = (xx ** 2 + yy ** 2 <= keep_px ** 2).expand(img.shape).clone()
    sup = detected.clone()
    for j, plane in enumerate(details):
        sigma = plane_sigma(plane)
        hit = plane.abs() > k * sigma
        if stack_k > 0:
            hit = hit | (stacked_significance(plane, sigma).abs() > stack_k)
        detected |= hit
        r = grow * 2 ** j
        if r:
            hit = F.max_pool2d(hit.to(img.dtype).reshape(-1, 1, h, w), 2 * r + 1, stride=1, padding=r).reshape(img.shape) > 0
        sup |= hit
    fine = sum(details[:margin_plane], torch.zeros_like(img))
    return (coarse + sum(details[margin_plane:], torch.zeros_like(img))) * sup + fine * detected
