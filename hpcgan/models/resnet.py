"""ResNet generator of the CycleGAN-style benchmark (6 residual blocks; as in the authors' code):

c7-64 (reflect pad) + IN, c3-128 stride 2 + IN, c3-256 stride 2 + IN, 6 x [c3-256, c3-256 (reflect),
residual add, LeakyReLU], nearest-up + c3-128 + IN, nearest-up + c3-64 + IN, c7-64 (reflect), then the
paper's resize tail (64 -> 136 or 136 -> 64, :class:`~hpcgan.models.layers.ResizeTail`, sized by
:mod:`hpcgan.config.geometry`; each up restores the size before its stride-2 conv, so any size works).
Instance norm without affine or running statistics (no buffers). Nearest-up + conv replaces the
transposed convs of the original (no checkerboard artefacts; same receptive field growth).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.config.geometry import Resize
from hpcgan.models.generator import PAPER_XY
from hpcgan.models.layers import LRELU_SLOPE, ResizeTail, Up, ch, init_weights, run_restoring
from hpcgan.models.registry import register


def _conv(cin: int, cout: int, k: int, stride: int = 1, norm: bool = True, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride)]
    if norm:
        layers.append(nn.InstanceNorm2d(cout, affine=False, track_running_stats=False))
    if act:
        layers.append(nn.LeakyReLU(LRELU_SLOPE))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c1 = _conv(c, c, 3, norm=False)
        self.c2 = _conv(c, c, 3, norm=False, act=False)
        self.act = nn.LeakyReLU(LRELU_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.c2(self.c1(x)))


@register("generator", "resnet6")
class ResnetGenerator(nn.Module):
    """(N, bands_in, s, s) -> (N, bands_out, t, t) by ``plan`` (default 64 -> 136)."""

    def __init__(self, plan: Resize = PAPER_XY, bands_in: int = 5, bands_out: int = 5, width: float = 1.0,
                 bias_init: float = 0.1, blocks: int = 6, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        self.body = nn.Sequential(
            _conv(bands_in, c64, 7), _conv(c64, c128, 3, 2), _conv(c128, c256, 3, 2),
            *[ResBlock(c256) for _ in range(blocks)],
            Up(), _conv(c256, c128, 3), Up(), _conv(c128, c64, 3), _conv(c64, c64, 7, norm=False),
        )
        self.tail = ResizeTail(plan, c64, bands_out, width, pools=True, out_act=out_act)
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(run_restoring(self.body, x))
