"""A radial transfer function fitted by least squares: what to multiply an image's Fourier transform by,
per band and radial frequency bin, so that it best predicts another image (issue 19).

    labels = radial_labels(64, 16)                        # (64, 64) bin of each FFT frequency
    num, den = transfer_sums(base, target)                # (C, 64, 64) each; sum them over batches
    f = radial_transfer(num, den, labels, clip=1.0)       # (C, 16): F = sum Re(Y B*) / sum |B|^2 per bin

With ``target`` a *noisy* image of the same objects whose noise is independent of ``base`` (another
survey's exposure), the noise adds nothing to the numerator on average, so no noise-free truth is needed.
Used by the residual generator's fitted base filter (``model.residual_filter_bins``,
:mod:`hpcgan.train.base_filter`) and ``benchmarks/learnt_filter.py``.
"""
from __future__ import annotations

import torch


def radial_labels(size: int, bins: int) -> torch.Tensor:
    """(size, size) int64: the radial bin of each (unshifted) FFT frequency, ``bins`` equal bins from 0 to
    the corner frequency."""
    if bins < 1:
        raise ValueError(f"model.residual_filter_bins: at least 1, got {bins}")
    k = torch.fft.fftfreq(size, dtype=torch.float64)
    kr = torch.hypot(k[:, None], k[None, :])
    return torch.clamp((kr / kr.max() * bins).long(), max=bins - 1)


def transfer_sums(base: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum_i Re(Y_i B_i*), sum_i |B_i|^2)`` over the batch, per band and frequency (C, n, n), float64,
    of images ``base`` and ``target`` (B, C, n, n)."""
    b, y = torch.fft.fft2(base.double()), torch.fft.fft2(target.double())
    return (y * b.conj()).real.sum(0), (b.abs() ** 2).sum(0)


def radial_transfer(num: torch.Tensor, den: torch.Tensor, labels: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """(C, bins) float32 least-squares transfer per radial bin, clipped to ``[0, clip]`` (1 where a bin
    has no base power: nothing to scale)."""
    bins = int(labels.max()) + 1
    flat = labels.reshape(-1)
    n = torch.zeros(num.shape[0], bins, dtype=torch.float64).index_add_(1, flat, num.reshape(num.shape[0], -1))
    d = torch.zeros_like(n).index_add_(1, flat, den.reshape(den.shape[0], -1))
    f = torch.where(d > 0, n / d.clamp_min(1e-300), torch.ones_like(n))
    return f.clamp(0.0, clip).float()


def apply_transfer(img: torch.Tensor, transfer: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``img`` (B, C, n, n) with each band's Fourier transform multiplied by its radial ``transfer`` (C, bins)."""
    f = transfer.float()[:, labels.to(img.device)]  # (C, n, n)
    return torch.fft.ifft2(torch.fft.fft2(img.float()) * f).real.to(img.dtype)
