"""Autoencoder A (one per domain; the same layers for 64- and 136-px stamps), docs/method.md:

c3-64, pool, c3-128, pool, c3-256, pool, c3-256, up, c3-256, up, c3-128, up, c5-64, c5-64, c5-5
(136 -> 68 -> 34 -> 17 -> 34 -> 68 -> 136; each up restores the size before its pool, so any
size and band count works). Step 1 trains it on the reconstruction MSE; what it
cannot reconstruct is the noise that the noise emulator learns. ``out_act=False``
(``model.out_activation: linear``) drops the LeakyReLU after the last conv.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.models.layers import ConvAct, Pool, Up, ch, init_weights, run_restoring
from hpcgan.models.registry import register


@register("autoencoder", "paper")
class Autoencoder(nn.Module):
    """(N, bands, H, W) -> (N, bands, H, W), any H and W."""

    def __init__(self, bands: int = 5, width: float = 1.0, bias_init: float = 0.1, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        self.net = nn.Sequential(
            ConvAct(bands, c64, 3), Pool(),
            ConvAct(c64, c128, 3), Pool(),
            ConvAct(c128, c256, 3), Pool(),
            ConvAct(c256, c256, 3), Up(),
            ConvAct(c256, c256, 3), Up(),
            ConvAct(c256, c128, 3), Up(),
            ConvAct(c128, c64, 5), ConvAct(c64, c64, 5), ConvAct(c64, bands, 5, act=out_act),
        )
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_restoring(self.net, x)
