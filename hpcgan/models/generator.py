"""The paper's generators (PAPER.md).

- ``GeneratorXY`` (SDSS 64 -> CFHT 136): c3-64, pool, c3-128, pool, c3-128, pool, c3-256, up, c3-128,
  up, c3-128, up, c3-128 (64x64), symmetric pad 2 (68x68), nearest resize (136x136), c5-64, c5-64, c5-5.
- ``GeneratorYX`` (CFHT 136 -> SDSS 64): c3-64, pool (68), c3-64, pool (34), c3-128, pool (17), c3-256,
  up (34), c3-128, up (68), c5-64 VALID (64), c5-64, c5-5.

No skip connections, no normalisation, LeakyReLU after every conv (the last too; ``out_act=False``,
``model.out_activation: linear``, drops the last one).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.models.layers import ConvAct, Pool, ResizeTail, Up, ch, init_weights
from hpcgan.models.registry import register


class GeneratorXY(nn.Module):
    """(N, 5, s, s) -> (N, 5, 2*(s+4), 2*(s+4)); 64 -> 136. ``s`` divisible by 8."""

    def __init__(self, bands: int = 5, width: float = 1.0, bias_init: float = 0.1, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        self.body = nn.Sequential(
            ConvAct(bands, c64, 3), Pool(),
            ConvAct(c64, c128, 3), Pool(),
            ConvAct(c128, c128, 3), Pool(),
            ConvAct(c128, c256, 3), Up(),
            ConvAct(c256, c128, 3), Up(),
            ConvAct(c128, c128, 3), Up(),
            ConvAct(c128, c128, 3),
        )
        self.tail = ResizeTail("xy", c128, bands, width, out_act=out_act)
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


class GeneratorYX(nn.Module):
    """(N, 5, s, s) -> (N, 5, s/2-4, s/2-4); 136 -> 64. ``s`` divisible by 8."""

    def __init__(self, bands: int = 5, width: float = 1.0, bias_init: float = 0.1, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        self.body = nn.Sequential(
            ConvAct(bands, c64, 3), Pool(),
            ConvAct(c64, c64, 3), Pool(),
            ConvAct(c64, c128, 3), Pool(),
            ConvAct(c128, c256, 3), Up(),
            ConvAct(c256, c128, 3), Up(),
        )
        self.tail = ResizeTail("yx", c128, bands, width, out_act=out_act)
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


@register("generator", "paper")
def _paper_generator(cfg, direction: str, bands: int = 5) -> nn.Module:
    out_act = cfg.out_activation == "lrelu"
    if direction == "xy":
        return GeneratorXY(bands, cfg.width, cfg.bias_init, out_act)
    if direction == "yx":
        return GeneratorYX(bands, cfg.width, cfg.bias_init, out_act)
    raise ValueError(f"generator direction: expected 'xy' or 'yx', got {direction!r}")
