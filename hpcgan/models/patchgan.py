"""PatchGAN discriminator of the benchmark models (pix2pix / CycleGAN; as in the authors' code):

c4-64 s2, c4-128 s2 + IN, c4-256 s2 + IN, c4-512 + IN, c4-1 (logit map), LeakyReLU(0.2) between.
Instance normalisation without affine or running statistics: no buffers (safe under DDP).
Output: (N,) mean patch logit is not taken: the loss averages the (N, 1, h, w) map.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.models.layers import LRELU_SLOPE, ch, init_weights
from hpcgan.models.registry import register


@register("discriminator", "patchgan")
class PatchGAN(nn.Module):
    """(N, 5, H, W) -> (N, 1, ~H/8, ~W/8) patch logits."""

    def __init__(self, bands: int = 5, width: float = 1.0, bias_init: float = 0.1):
        super().__init__()
        c = [ch(n, width) for n in (64, 128, 256, 512)]
        act = lambda: nn.LeakyReLU(LRELU_SLOPE)  # noqa: E731
        norm = lambda n: nn.InstanceNorm2d(n, affine=False, track_running_stats=False)  # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(bands, c[0], 4, 2, 1), act(),
            nn.Conv2d(c[0], c[1], 4, 2, 1), norm(c[1]), act(),
            nn.Conv2d(c[1], c[2], 4, 2, 1), norm(c[2]), act(),
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c[2], c[3], 4), norm(c[3]), act(),
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c[3], 1, 4),
        )
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
