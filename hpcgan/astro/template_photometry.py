"""Multi-band template photometry: each band's flux read through the shape all bands share (issue 19).

A galaxy's bands share most of their shape, and the shape is known far better from all bands together than
from one noisy band. Per object, the bands are co-added into a template ``T`` (weights ``f_c / sigma_c^2``:
a band's ``radius`` aperture flux over its pixel noise variance, the weights that maximise the co-add's
signal-to-noise for a shared shape), and band ``c``'s aperture flux is estimated as

    F_c = F(T) * <G, I_c> / <G, T>

with ``G`` a circular Gaussian weight at the stamp centre: the band's Gaussian-weighted flux relative to the
template's (a Gaussian-aperture colour), times the template's aperture flux. ``<G, I_c>`` sums the band's
noise with smooth weights, so its scatter is well below a top-hat aperture's; what it gives up is colour
gradients (a red bulge in a blue disc), which become a bias. :func:`shape_prior` shrinks each band's image
toward that shared-shape model ``A_c T`` (``A_c = <G, I_c> / <G, T>``), keeping a fraction of the band's own
departure from it: a multi-band denoiser, the strong pipeline's last step (``baseline.shape_prior_arcsec``).
docs/evaluation.md ("A shape prior from the co-add") gives the numbers.

    y = shape_prior(imgs, sigma, pixel_scale=0.187, radius=3.0, gauss_sigma=1.5, keep=0.5)   # (B, C, n, n)

With ``keep`` 0 the image within ``radius`` is the model itself, so its ``radius`` aperture flux is the
estimate ``F_c`` above (``benchmarks/shape_prior.py``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from hpcgan.astro.photometry import aperture_weights


@lru_cache(maxsize=16)
def radius_arcsec(size: int, pixel_scale: float) -> np.ndarray:
    """(size, size) distance of each pixel centre from the stamp centre, arcsec (built once per geometry)."""
    r = (np.arange(size) - (size - 1) / 2.0) * pixel_scale
    return np.hypot(r[:, None], r[None, :])


def gaussian_weight(size: int, pixel_scale: float, sigma_arcsec: float) -> np.ndarray:
    """(size, size) circular Gaussian of ``sigma_arcsec`` at the stamp centre, peak 1."""
    return np.exp(-0.5 * (radius_arcsec(size, pixel_scale) / sigma_arcsec) ** 2)


def shape_prior(imgs: torch.Tensor, noise_sigma: torch.Tensor, pixel_scale: float, radius: float = 3.0,
                gauss_sigma: float = 1.5, keep: float | torch.Tensor = 0.5) -> torch.Tensor:
    """``imgs`` (B, C, n, n) shrunk toward the shared-shape model ``A_c T`` (module docstring: ``A_c F(T)``
    is band ``c``'s ``radius`` flux estimate): ``I + (1 - keep) M (A T - I)``, where ``keep`` is the fraction of
    each band's departure from the model that stays (colour gradients, and the band's own noise) and ``M`` is
    1 within ``radius`` of the centre, falling linearly to 0 at twice it (neighbours further out keep their
    own colours); a (C,) ``keep`` is one per band. ``noise_sigma`` (C,) or (B, C): each band's pixel noise
    (only ratios between bands matter). Objects whose co-add has no positive flux are returned unchanged."""
    if imgs.ndim != 4 or imgs.shape[-1] != imgs.shape[-2]:
        raise ValueError(f"imgs: expected (B, C, n, n), got shape {tuple(imgs.shape)}")
    sigma = torch.as_tensor(noise_sigma, dtype=imgs.dtype, device=imgs.device).expand(imgs.shape[:2])
    n = imgs.shape[-1]
    ap = torch.from_numpy(aperture_weights(n, float(pixel_scale), (float(radius),))[0].reshape(n, n)).to(imgs)
    g = torch.from_numpy(gaussian_weight(n, float(pixel_scale), gauss_sigma)).to(imgs)
    tiny = torch.finfo(imgs.dtype).tiny
    f = (imgs * ap).sum((-2, -1))  # (B, C)
    w = torch.where(sigma > 0, f.clamp_min(0) / sigma.clamp_min(tiny) ** 2, torch.zeros_like(f))
    t = torch.einsum("bc,bcij->bij", w, imgs)
    g_t = (t * g).sum((-2, -1))
    amp = (imgs * g).sum((-2, -1)) / g_t.clamp_min(tiny)[:, None]  # (B, C)
    taper = (2.0 - torch.from_numpy(radius_arcsec(n, float(pixel_scale))).to(imgs) / radius).clamp(0.0, 1.0)
    shrink = 1.0 - torch.as_tensor(keep, dtype=imgs.dtype, device=imgs.device).reshape(-1, 1, 1)
    step = shrink * taper * (amp[..., None, None] * t[:, None] - imgs)
    return imgs + torch.where((g_t > 0)[:, None, None, None], step, torch.zeros_like(step))
