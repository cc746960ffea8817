"""Losses of docs/method.md: mean squared error and the non-saturating GAN loss (sigmoid cross-entropy).

All losses are computed in at least float32 (safe under bf16 autocast; float64 stays float64, as in
the equivalence tests).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _f32(t: torch.Tensor) -> torch.Tensor:
    """Upcast half/bfloat16 to float32; float32 and float64 unchanged."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def mse(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error (reconstruction, cycle, identity); with ``valid`` (the target's unmasked
    pixels, 1/0, broadcastable: the batches' ``<stream>_valid``), the mean over valid pixels only, so
    masked and filled pixels (hpcgan/io/mask_bits.py) teach nothing."""
    if valid is None:
        return F.mse_loss(_f32(pred), _f32(target))
    d = _f32(pred) - _f32(target)
    w = valid.to(d.dtype).expand_as(d)
    return (d * d * w).sum() / w.sum().clamp_min(1.0)


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    logits = _f32(logits)
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator: ``BCE(D(real), 1) + BCE(D(fake), 0)``."""
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator / noise-emulator loss: ``BCE(D(fake), 1)``."""
    return _bce(fake_logits, 1.0)


def aperture_flux_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                       transform: str = "sqrt") -> torch.Tensor:
    """Mean squared relative aperture-flux error of model-space stamps (N, C, H, W).

    Fluxes ``F = weights @ T^-1(img)`` (``weights`` (R, H*W): the exact circle overlaps of
    ``hpcgan.astro.photometry.aperture_weights``; the flux scale cancels in the ratio), error
    ``(F_pred - F_true) / (|F_pred| + 0.1 mean_batch |F_pred|)`` per object, band and radius, the
    denominator detached (the floor keeps faint objects from dominating).

    The scale is the prediction's flux, not the target's: ``target`` is a noisy survey stamp, and a
    denominator drawn from its noise weights the low draws up, so the minimum of
    ``E[((F - Y) / |Y|)^2]`` lies below ``E[Y]`` (-8% at aperture S/N 5, -35% at S/N 3). With a scale
    independent of the target's noise the minimum is ``E[Y]``: unbiased (tests/test_losses.py).
    """
    f_pred = aperture_flux(pred, weights, transform)
    den = flux_scale(f_pred.detach())
    return (((f_pred - aperture_flux(target, weights, transform).detach()) / den) ** 2).mean()


def aperture_flux(img: torch.Tensor, weights: torch.Tensor, transform: str = "sqrt") -> torch.Tensor:
    """``F = weights @ T^-1(img)``: model-space stamps (N, C, H, W) -> fluxes (N, C, R), flux scale 1."""
    from hpcgan.astro.transforms import from_model_space

    phys = from_model_space(_f32(img), 1.0, transform)
    return torch.einsum("ncp,rp->ncr", phys.flatten(2), weights.to(phys.device, phys.dtype))


def flux_scale(f: torch.Tensor) -> torch.Tensor:
    """The relative-flux denominator ``|F| + 0.1 mean_objects |F|`` of fluxes (N, C, R) (the floor keeps
    faint objects from dominating)."""
    return f.abs() + 0.1 * f.abs().mean(dim=0, keepdim=True)
