"""U-Net generator of the pix2pix-style benchmark (paired, adversarial).

Body at the input resolution: encoder c3-64, pool, c3-128, pool, c3-256, pool, c3-256 (bottleneck);
decoder up, concat skip, c3-256; up, concat, c3-128; up, concat, c3-64. Then the paper's resize tail
(:class:`~hpcgan.models.layers.ResizeTail`, sized by :mod:`hpcgan.config.geometry`): up (64 -> 136)
symmetric pad 2, nearest x2, c5-64, c5-64, c5-5; down (136 -> 64) pool, c5-64 VALID, c5-64, c5-5.
Each up restores the size of its skip, so any stamp size works. LeakyReLU(0.2) everywhere, no norm.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.config.geometry import Resize
from hpcgan.models.generator import PAPER_XY
from hpcgan.models.layers import ConvAct, Pool, ResizeTail, Up, ch, init_weights
from hpcgan.models.registry import register


@register("generator", "unet")
class UNetGenerator(nn.Module):
    """(N, bands_in, s, s) -> (N, bands_out, t, t) by ``plan`` (default 64 -> 136)."""

    def __init__(self, plan: Resize = PAPER_XY, bands_in: int = 5, bands_out: int = 5, width: float = 1.0,
                 bias_init: float = 0.1, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        self.enc1, self.enc2, self.enc3 = ConvAct(bands_in, c64, 3), ConvAct(c64, c128, 3), ConvAct(c128, c256, 3)
        self.mid = ConvAct(c256, c256, 3)
        self.dec3, self.dec2, self.dec1 = ConvAct(2 * c256, c256, 3), ConvAct(c256 + c128, c128, 3), ConvAct(c128 + c64, c64, 3)
        self.pool, self.up = Pool(), Up()
        self.tail = ResizeTail(plan, c64, bands_out, width, pools=True, out_act=out_act)
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        m = self.mid(self.pool(e3))
        d3 = self.dec3(torch.cat([self.up(m, e3.shape[-2:]), e3], 1))
        d2 = self.dec2(torch.cat([self.up(d3, e2.shape[-2:]), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2, e1.shape[-2:]), e1], 1))
        return self.tail(d1)
