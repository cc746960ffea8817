"""A radial transfer function fitted by least squares: what to multiply an image's Fourier transform by,
per band and radial frequency bin, so that it best predicts another image (issue 19).

    labels = radial_labels(64, 16)                        # (64, 64) bin of each FFT frequency
    n_i, d_i = binned_sums(base, target, labels)          # (B, C, 16) per object; concatenate over batches
    f = radial_transfer(n_i, d_i)                         # (C, 16): F = sum Re(Y B*) / sum |B|^2 per bin

With ``target`` a *noisy* image of the same objects whose noise is independent of ``base`` (another
survey's exposure), the noise adds nothing to the numerator on average, so no noise-free truth is needed.
``F`` is clipped to [0, 1] and, with ``shrink``, its departure from 1 must be measured: it is kept only
where ``1 - F`` exceeds ``SIGNIFICANT`` (3) standard errors (the sandwich variance ``var`` over the objects),
and there weighed as ``(1 - F) * (1 - F)^2 / ((1 - F)^2 + var)``. Without it, clipping a noisy estimate of a
bin whose true value is 1 leaves it below 1 half of the time, and the filter smooths what it should keep.

Used by the residual generator's fitted base filter (``model.residual_filter_bins``,
:mod:`hpcgan.train.base_filter`) and ``benchmarks/learnt_filter.py``.

:func:`aperture_transfer` fits the same kind of filter in another space: that of aperture fluxes, to see
what a filter chosen for photometry alone would do to the image (``benchmarks/aperture_frontier.py``).
"""
from __future__ import annotations

import torch

SIGNIFICANT = 3.0  # a bin departs from 1 only where its cut exceeds this many standard errors


def radial_labels(size: int, bins: int) -> torch.Tensor:
    """(size, size) int64: the radial bin of each (unshifted) FFT frequency, ``bins`` equal bins from 0 to
    the corner frequency."""
    if bins < 1:
        raise ValueError(f"model.residual_filter_bins: at least 1, got {bins}")
    k = torch.fft.fftfreq(size, dtype=torch.float64)
    kr = torch.hypot(k[:, None], k[None, :])
    return torch.clamp((kr / kr.max() * bins).long(), max=bins - 1)


def binned_sums(base: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per object, band and radial bin: ``(sum Re(Y B*), sum |B|^2)`` (B, C, bins) float64 of images
    ``base`` and ``target`` (B, C, n, n)."""
    b, y = torch.fft.fft2(base.double()), torch.fft.fft2(target.double())
    bins, flat = int(labels.max()) + 1, labels.reshape(-1).to(base.device)

    def binned(v: torch.Tensor) -> torch.Tensor:
        v = v.reshape(*v.shape[:2], -1)
        return torch.zeros(*v.shape[:2], bins, dtype=v.dtype, device=v.device).index_add_(2, flat, v)

    return binned((y * b.conj()).real), binned(b.abs() ** 2)


def least_squares_ratio(n_i: torch.Tensor, d_i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From per-object sums ``(N, ...)``: ``sum n_i / sum d_i`` clipped to [0, 1] (1 where ``sum d_i`` is 0:
    nothing to scale), and its sandwich standard error over the objects (0 there)."""
    num, den = n_i.sum(0), d_i.sum(0)
    raw = num / den.clamp_min(1e-300)
    sd = torch.where(den > 0, ((n_i - raw * d_i) ** 2).sum(0).sqrt() / den.clamp_min(1e-300), torch.zeros_like(num))
    return torch.where(den > 0, raw, torch.ones_like(num)).clamp(0.0, 1.0), sd


def radial_transfer(n_i: torch.Tensor, d_i: torch.Tensor, shrink: bool = True) -> torch.Tensor:
    """(C, bins) float32 transfer function from per-object sums (N, C, bins) (module docstring)."""
    f, sd = least_squares_ratio(n_i, d_i)
    if shrink:
        cut = 1.0 - f
        kept = (cut > SIGNIFICANT * sd).to(cut.dtype)
        f = 1.0 - kept * cut * cut ** 2 / (cut ** 2 + sd ** 2).clamp_min(1e-300)
    return f.float()


Interpolation = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def radial_interpolation(size: int, bins: int) -> Interpolation:
    """``(j0, j1, w)``, each (size, size): every FFT frequency lies ``w`` of the way from the centre of bin
    ``j0`` to that of bin ``j1`` (flat beyond the first and the last centre)."""
    k = torch.fft.fftfreq(size, dtype=torch.float64)
    kr = torch.hypot(k[:, None], k[None, :])
    u = (kr / kr.max() * bins - 0.5).clamp(0.0, bins - 1.0)
    j0 = u.floor().long().clamp(max=bins - 1)
    return j0, (j0 + 1).clamp(max=bins - 1), (u - j0).float()


def transfer_map(transfer: torch.Tensor, interp: Interpolation) -> torch.Tensor:
    """(C, size, size) float32: the radial ``transfer`` (C, bins) at each FFT frequency, linear between the
    bins' centres (:func:`radial_interpolation`): a step between two bins would ring, and a small
    aperture's flux with it (docs/evaluation.md, "The Wiener cut and small apertures")."""
    j0, j1, w = (t.to(transfer.device) for t in interp)
    f = transfer.float()
    return f[:, j0] * (1 - w) + f[:, j1] * w


def apply_transfer(img: torch.Tensor, transfer: torch.Tensor, interp: Interpolation | None = None) -> torch.Tensor:
    """``img`` (B, C, n, n) with each band's Fourier transform multiplied by its radial ``transfer``
    (C, bins), interpolated (``interp``: :func:`radial_interpolation` of the image's size, made once by a
    caller that applies it often; None: made here)."""
    interp = interp if interp is not None else radial_interpolation(img.shape[-1], transfer.shape[-1])
    f = transfer_map(transfer.to(img.device), interp)
    return torch.fft.ifft2(torch.fft.fft2(img.float()) * f).real.to(img.dtype)


def basis_aperture_fluxes(img: torch.Tensor, bins: int, weights: torch.Tensor) -> torch.Tensor:
    """(B, C, A, bins) float64: the fluxes in apertures ``weights`` (A, n * n) of ``img`` (B, C, n, n) through
    each of the radial transfer's interpolation functions (transfer 1 in one bin, 0 in the others, as
    :func:`transfer_map`): the filtered image's fluxes are ``einsum("ncaj,cj->nca", out, transfer)``."""
    interp = radial_interpolation(img.shape[-1], bins)
    spec = torch.fft.fft2(img.double())
    out = []
    for j in range(bins):
        unit = torch.zeros(img.shape[1], bins, dtype=torch.float64)
        unit[:, j] = 1.0
        part = torch.fft.ifft2(spec * transfer_map(unit, interp).double().to(img.device)).real
        out.append(part.reshape(*part.shape[:2], -1) @ weights.double().T.to(img.device))
    return torch.stack(out, -1)


def aperture_transfer(design: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, lam: float) -> torch.Tensor:
    """(C, bins) float32 radial transfer whose aperture fluxes best predict ``target`` (N, C, A):
    least squares of the relative errors ``(design @ t - target) / scale`` (``design`` (N, C, A, bins) from
    :func:`basis_aperture_fluxes`, ``scale`` (N, C, A) a flux independent of the target's noise) plus
    ``lam`` times the mean diagonal of the normal matrix times ``|t - 1|^2`` (``lam`` = 0: plain least
    squares, large: the identity), clipped to [0, 1]."""
    x = (design / scale[..., None]).double()
    y = (target / scale).double()
    x = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1, x.shape[-1])  # (C, N * A, bins)
    y = y.permute(1, 0, 2).reshape(y.shape[1], -1, 1)
    gram, rhs = x.transpose(1, 2) @ x, x.transpose(1, 2) @ y
    ridge = lam * torch.diagonal(gram, dim1=1, dim2=2).mean(1)[:, None, None]
    eye = torch.eye(x.shape[-1], dtype=torch.float64)
    t = torch.linalg.solve(gram + ridge * eye, rhs + ridge * torch.ones_like(rhs))
    return t[..., 0].clamp(0.0, 1.0).float()
