"""Residual generator (beyond the paper, ``model.generator: residual``; docs/models.md).

``G(x) = T(fs_dst * B(T^-1(x) / fs_src)) + net(x)``: a physical baseline ``B`` taken through the pixel
transform ``T`` and flux scales of the two surveys, plus a
network correction ``net`` (``model.residual_body``: the paper's generator or the U-Net, linear output)
whose last conv is zero-initialised, so training starts exactly at the baseline's score. ``B`` is
``model.residual_base``: ``naive`` (:class:`hpcgan.models.baseline.PhysicalBaseline`: flux-conserving
resample, zero-point conversion, Gaussian PSF match: it carries the source survey's noise) or ``strong``
(:class:`hpcgan.models.psf_baseline.PsfMatchedBaseline`, with ``baseline.*``: the starlet-denoised input
matched with the surveys' real PSFs at each stamp's seeing: the non-noise part, which the frozen noise
emulator then dresses in the target survey's noise).

With ``model.residual_kernel: k`` (odd, source pixels) the baseline's input first goes through a learnt
matching kernel, ``I + K(s) * I`` per band (depthwise, in physical units, before the resample), with
``K(s) = K0 + s K1`` and ``s = fwhm / fwhm_nominal - 1`` the stamp's source seeing relative to the survey's
nominal one (per band; ``s = 0`` where the stamp has no PSF FWHM). Both kernels are D4-symmetric (the
PSFs are round to a few per cent and training rotates the stamps), have zero sum (total flux is kept)
and start at zero. This is the linear PSF change between the surveys, learnt from the pairs: for SDSS ->
CFHT a sharpening that the physical baseline cannot do (it never deconvolves), and one that depends on
each stamp's seeing (the baseline's 3" aperture-flux scatter is mostly the SDSS seeing, docs/training.md).
``net`` then learns what is not linear. The kernels learn at ``model.residual_kernel_lr_mult`` x
``train.lr`` (the ``lr_mult`` attribute that :func:`hpcgan.train.optim.make_unit` reads): their weights are
of order 1, out of reach of 1e-4 steps in a short run.

With ``model.residual_filter_bins: n`` the base, in target survey units, goes through a per-band radial
transfer function of ``n`` bins (:class:`RadialFilter`, in ``[0, 1]``), fitted by least squares against the
*noisy* targets of the training pairs before step 2 trains (:mod:`hpcgan.train.base_filter`): it removes
what the pairs say the base has too much of, such as the source survey's noise that the deconvolution
amplified in a shallow band. It is part of ``plain``: the network learns on the filtered base.

The learnt part (what the kernel changes in the base, plus ``net``) is scaled per band by the buffer
``gain`` (1 = all of it, saved in the checkpoint): ``forward = plain + gain * learnt``, ``plain`` the base
without the kernel. ``train.fit_gain`` fits it on held-out pairs (:mod:`hpcgan.train.gain`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from hpcgan.astro.noise_power import background_mask
from hpcgan.astro.transfer import apply_transfer, radial_interpolation, radial_labels
from hpcgan.astro.transforms import from_model_space, to_model_space
from hpcgan.config.schema import BaselineCfg, DataCfg, ModelCfg
from hpcgan.kernels.noise_synthesis import symmetrize_d4
from hpcgan.models.layers import last_conv
from hpcgan.models.registry import register


class MatchingKernel(nn.Module):
    """``I + K(s) * I`` per band, ``K(s) = K0 + s K1``: learnt, D4-symmetric, zero-sum depthwise kernels
    (zero at start), ``s`` the stamp's seeing relative to ``nominal_fwhm`` (see module docstring)."""

    def __init__(self, nominal_fwhm: tuple[float, ...], size: int, lr_mult: float = 1.0):
        super().__init__()
        if size < 3 or size % 2 == 0:
            raise ValueError(f"model.residual_kernel: an odd size >= 3 (or 0 = off), got {size}")
        self.register_buffer("nominal", torch.tensor(nominal_fwhm, dtype=torch.float32), persistent=False)
        self.weight = nn.Parameter(torch.zeros(2, len(nominal_fwhm), size, size))  # K0, K1
        self.weight.lr_mult = lr_mult  # read by hpcgan.train.optim.make_unit

    def kernels(self) -> torch.Tensor:
        """(2, C, k, k): K0 and K1 symmetrised, each with its mean removed (sums to 0: flux is kept)."""
        w = symmetrize_d4(self.weight)
        return w - w.mean(dim=(-2, -1), keepdim=True)

    def seeing(self, psf_fwhm: torch.Tensor | None, n: int) -> torch.Tensor:
        """(B, C) ``s = fwhm / nominal - 1``; 0 without a FWHM (None, NaN, <= 0)."""
        if psf_fwhm is None:
            return self.nominal.new_zeros(n, len(self.nominal))
        f = psf_fwhm.to(self.nominal)
        return torch.where(torch.isfinite(f) & (f > 0), f / self.nominal - 1.0, torch.zeros_like(f))

    def forward(self, img: torch.Tensor, psf_fwhm: torch.Tensor | None = None) -> torch.Tensor:
        n, c, h, w = img.shape
        k0, k1 = self.kernels().to(img.dtype)
        s = self.seeing(psf_fwhm, n).to(img.dtype)
        k = (k0[None] + s[:, :, None, None] * k1[None]).reshape(n * c, 1, *k0.shape[-2:])
        conv = F.conv2d(img.reshape(1, n * c, h, w), k, padding=k.shape[-1] // 2, groups=n * c)
        return img + conv.reshape(n, c, h, w)


class RadialFilter(nn.Module):
    """Per-band radial transfer function (buffer ``transfer`` (C, bins), saved; all ones = identity, the
    start) on (B, C, size, size) images (:mod:`hpcgan.astro.transfer`)."""

    def __init__(self, bands: int, size: int, bins: int):
        super().__init__()
        self.register_buffer("transfer", torch.ones(bands, bins))
        self.register_buffer("labels", radial_labels(size, bins), persistent=False)  # the fit's bins
        for name, t in zip(("j0", "j1", "w"), radial_interpolation(size, bins)):  # every forward's, made once
            self.register_buffer(name, t, persistent=False)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if bool((self.transfer == 1).all()):
            return img
        return apply_transfer(img, self.transfer, (self.j0, self.j1, self.w))


class ResidualGenerator(nn.Module):
    """``forward(x) = base(x) + net(x)``, ``base`` the baseline in model space (no parameters of its own),
    after the optional learnt matching kernel ``match``."""

    def __init__(self, baseline: nn.Module, net: nn.Module, src_scale: float, dst_scale: float,
                 transform: str = "sqrt", match: nn.Module | None = None, sky_ring: torch.Tensor | None = None,
                 bands: int = 5, base_filter: RadialFilter | None = None):
        super().__init__()
        self.baseline, self.net, self.match, self.base_filter = baseline, net, match, base_filter
        # model.residual_zero_sky: the output's background annulus (bool, H' x W'), built once
        self.register_buffer("sky_ring", sky_ring, persistent=False)
        self.register_buffer("gain", torch.ones(bands))  # of the learnt part, per band (train.fit_gain)
        self.src_scale, self.dst_scale, self.transform = src_scale, dst_scale, transform
        out = last_conv(net)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)

    takes_psf = True  # forward(x, psf_fwhm): callers with per-stamp source seeing pass it (:func:`generate`)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "gain", torch.ones_like(self.gain))  # checkpoints from before the gain
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def base(self, x: torch.Tensor, psf_fwhm: torch.Tensor | None = None, kernel: bool = True) -> torch.Tensor:
        """The baseline in model space, after the learnt matching kernel (``kernel=False``: without it)."""
        return to_model_space(self.physical_base(x, psf_fwhm, kernel), self.dst_scale, self.transform).to(x.dtype)

    def physical_base(self, x: torch.Tensor, psf_fwhm: torch.Tensor | None = None, kernel: bool = True,
                      filtered: bool = True) -> torch.Tensor:
        """The baseline of model-space ``x`` in target survey units (float32), after the matching kernel
        (``kernel``) and the fitted base filter (``filtered``)."""
        phys = from_model_space(x.float(), self.src_scale, self.transform)
        if self.match is not None and kernel:
            phys = self.match(phys, psf_fwhm)
        # the strong base matches each stamp's own seeing; the naive one its survey's nominal seeing
        out = self.baseline(phys, psf_fwhm) if getattr(self.baseline, "per_stamp_seeing", False) else self.baseline(phys)
        return self.base_filter(out) if filtered and self.base_filter is not None else out

    def forward(self, x: torch.Tensor, psf_fwhm: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B, C, H, W) model space; ``psf_fwhm`` (B, C) the stamps' source seeing in arcsec (or None)."""
        if self.match is not None and not bool((self.gain == 1).all()):
            plain, learnt = self.parts(x, psf_fwhm)
            return plain + self.gain[:, None, None].to(learnt.dtype) * learnt
        out = self.correction(x)
        return self.base(x, psf_fwhm) + self.gain[:, None, None].to(out.dtype) * out

    def parts(self, x: torch.Tensor, psf_fwhm: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(plain, learnt)``: the base without the kernel, and what the kernel and ``net`` add to it."""
        plain = self.base(x, psf_fwhm, kernel=False)
        learnt = self.correction(x)
        if self.match is not None:
            learnt = learnt + self.base(x, psf_fwhm) - plain
        return plain, learnt

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        """``net(x)``; with ``sky_ring`` minus its mean over each stamp's background annulus, per band."""
        c = self.net(x)
        if self.sky_ring is None:
            return c
        return c - c[..., self.sky_ring].mean(dim=-1)[..., None, None]


def generate(g: nn.Module, x: torch.Tensor, psf_fwhm: torch.Tensor | None = None) -> torch.Tensor:
    """``g(x)``, handing the stamps' source seeing ``psf_fwhm`` (B, C) to generators that take it."""
    return g(x, psf_fwhm) if getattr(g, "takes_psf", False) and psf_fwhm is not None else g(x)


@register("generator", "residual")
def residual_generator(body: nn.Module, model: ModelCfg, data: DataCfg, direction: str,
                       baseline: BaselineCfg | None = None) -> ResidualGenerator:
    """``body`` (the correction, built with a linear output) on the base of ``model.residual_base`` for
    generator ``direction`` of the surveys ``data`` (the strong base with ``baseline``), after the matching
    kernel of ``model.residual_kernel``."""
    from hpcgan.models.baseline import PhysicalBaseline, nominal_seeing
    from hpcgan.models.psf_baseline import PsfMatchedBaseline

    src, dst = (data.x, data.y) if direction == "xy" else (data.y, data.x)
    base = (PsfMatchedBaseline(src, dst, baseline or BaselineCfg()) if model.residual_base == "strong"
            else PhysicalBaseline(src, dst))
    match = (MatchingKernel(nominal_seeing(src), model.residual_kernel, model.residual_kernel_lr_mult)
             if model.residual_kernel else None)
    ring = torch.from_numpy(background_mask(dst.stamp_size)) if model.residual_zero_sky else None
    filt = (RadialFilter(len(dst.bands), dst.stamp_size, model.residual_filter_bins)
            if model.residual_filter_bins else None)
    return ResidualGenerator(base, body, src.flux_scale, dst.flux_scale, data.pixel_transform, match, ring,
                             len(dst.bands), filt)
