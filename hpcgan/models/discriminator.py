"""The paper's discriminator D (one per domain), docs/method.md.

Five independent per-band sub-networks, held side by side as grouped convolutions (``groups=5``:
mathematically identical to 5 separate networks; band ``b`` only ever sees band ``b``):

1. fixed 5x5 high-pass, VALID (:func:`hpcgan.kernels.highpass5x5`; a constant, never a parameter);
2. Fourier branch: FFT2 of the filtered band -> (real, imag) as 2 channels; c7-64, pool, c7-64+ACM,
   pool, c7-64+ACM, pool, c3-128+ACM, pool, c3-128+ACM; global mean, max, min -> 384 features;
3. pixel branch: c3-64, pool, c3-64+ACM, pool, c3-64+ACM; global mean, max, min -> 192 features;
4. head: concat (576) -> FC 32 (LeakyReLU) -> FC 1 (the logit).

Output: (N,) logits averaged over bands (``disc_band_reduce: mean``) or (N, 5) (``none``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from hpcgan.kernels import highpass5x5
from hpcgan.models.layers import ACM, LRELU_SLOPE, ConvAct, GroupedLinear, Pool, ch, init_weights
from hpcgan.models.registry import register


def _stats(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, G*C, H, W) -> (N, G, 3*C): global mean, max and min per group."""
    n, gc = x.shape[:2]
    f = x.flatten(2)
    s = torch.stack([f.mean(-1), f.amax(-1), f.amin(-1)], dim=1)  # (N, 3, G*C)
    return s.reshape(n, 3, groups, gc // groups).permute(0, 2, 1, 3).reshape(n, groups, -1)


@register("discriminator", "paper")
class Discriminator(nn.Module):
    """(N, bands, H, W) -> logits (N,) or (N, bands); any stamp size (>= 5 px for the high-pass)."""

    def __init__(self, bands: int = 5, width: float = 1.0, bias_init: float = 0.1, reduce: str = "mean",
                 impl: str = "auto"):
        super().__init__()
        if reduce not in ("mean", "none"):
            raise ValueError(f"model.disc_band_reduce: expected 'mean' or 'none', got {reduce!r}")
        g, self.bands, self.reduce, self.impl = bands, bands, reduce, impl
        c64, c128, c32 = ch(64, width), ch(128, width), ch(32, width)
        self.fourier = nn.Sequential(
            ConvAct(2 * g, c64 * g, 7, groups=g), Pool(),
            ConvAct(c64 * g, c64 * g, 7, groups=g), ACM(c64 * g, g), Pool(),
            ConvAct(c64 * g, c64 * g, 7, groups=g), ACM(c64 * g, g), Pool(),
            ConvAct(c64 * g, c128 * g, 3, groups=g), ACM(c128 * g, g), Pool(),
            ConvAct(c128 * g, c128 * g, 3, groups=g), ACM(c128 * g, g),
        )
        self.pixel = nn.Sequential(
            ConvAct(g, c64 * g, 3, groups=g), Pool(),
            ConvAct(c64 * g, c64 * g, 3, groups=g), ACM(c64 * g, g), Pool(),
            ConvAct(c64 * g, c64 * g, 3, groups=g), ACM(c64 * g, g),
        )
        self.fc1 = GroupedLinear(g, 3 * c128 + 3 * c64, c32)
        self.fc2 = GroupedLinear(g, c32, 1)
        init_weights(self, bias_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 5, H, W) -> (N, 5, 576) per-band features (at width 1)."""
        if x.ndim != 4 or x.shape[1] != self.bands:
            raise ValueError(f"Discriminator: expected (N, {self.bands}, H, W), got {tuple(x.shape)}")
        hp = highpass5x5(x, self.impl)  # (N, 5, H-4, W-4), fixed filter
        with torch.autocast(device_type=hp.device.type, enabled=False):
            spec = torch.fft.fft2(hp.float())  # FFT has no bf16 kernel: always fp32
            four = torch.stack([spec.real, spec.imag], dim=2).flatten(1, 2)  # (N, 5*2, h, w): band-major
        four = four.to(hp.dtype)
        return torch.cat([_stats(self.fourier(four), self.bands), _stats(self.pixel(hp), self.bands)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc1(self.features(x)), LRELU_SLOPE)
        logits = self.fc2(h).squeeze(-1)  # (N, 5)
        return logits.mean(dim=1) if self.reduce == "mean" else logits
