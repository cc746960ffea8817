"""The paper's generators (docs/method.md), sized from the surveys (:mod:`hpcgan.config.geometry`).

- ``GeneratorXY`` (up; SDSS 64 -> CFHT 136): c3-64, pool, c3-128, pool, c3-128, pool, c3-256, up, c3-128,
  up, c3-128, up, c3-128 (64x64), symmetric pad 2 (68x68), nearest resize (136x136), c5-64, c5-64, c5-5.
- ``GeneratorYX`` (down; CFHT 136 -> SDSS 64): c3-64, pool (68), c3-64, pool (34), c3-128, pool (17), c3-256,
  up (34), c3-128, up (68), c5-64 VALID (64), c5-64, c5-5.

Other pairs change only the pad, the resize target, the number of ups after the three pools of the
down body (``3 - halvings``; extra pools first beyond 3) and the centre fit after c5 VALID; the band
counts are the surveys'. No skip connections, no normalisation, LeakyReLU after every conv (the last
too; ``out_act=False``, ``model.out_activation: linear``, drops the last one).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.config.geometry import Resize, generator_plan
from hpcgan.config.schema import DataCfg
from hpcgan.models.layers import ConvAct, Pool, ResizeTail, Up, ch, init_weights, run_restoring
from hpcgan.models.registry import register

PAPER_XY, PAPER_YX = generator_plan(DataCfg(), "xy"), generator_plan(DataCfg(), "yx")  # 64 -> 136, 136 -> 64


class GeneratorXY(nn.Module):
    """Up: (N, bands_in, s, s) -> (N, bands_out, t, t), ``t >= s``; 64 -> 136 by default."""

    def __init__(self, plan: Resize = PAPER_XY, bands_in: int = 5, bands_out: int = 5, width: float = 1.0,
                 bias_init: float = 0.1, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        self.body = nn.Sequential(
            ConvAct(bands_in, c64, 3), Pool(),
            ConvAct(c64, c128, 3), Pool(),
            ConvAct(c128, c128, 3), Pool(),
            ConvAct(c128, c256, 3), Up(),
            ConvAct(c256, c128, 3), Up(),
            ConvAct(c128, c128, 3), Up(),
            ConvAct(c128, c128, 3),
        )
        self.tail = ResizeTail(plan, c128, bands_out, width, out_act=out_act)
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(run_restoring(self.body, x))


class GeneratorYX(nn.Module):
    """Down: (N, bands_in, t, t) -> (N, bands_out, s, s), ``s <= t``; 136 -> 64 by default."""

    def __init__(self, plan: Resize = PAPER_YX, bands_in: int = 5, bands_out: int = 5, width: float = 1.0,
                 bias_init: float = 0.1, out_act: bool = True):
        super().__init__()
        c64, c128, c256 = ch(64, width), ch(128, width), ch(256, width)
        ups = 3 - min(plan.halvings, 3)
        layers: list[nn.Module] = [Pool() for _ in range(plan.halvings - 3)]
        layers += [ConvAct(bands_in, c64, 3), Pool(), ConvAct(c64, c64, 3), Pool(), ConvAct(c64, c128, 3), Pool(),
                   ConvAct(c128, c256, 3)]
        for i in range(ups):  # paper (2 ups): up, c3-128, up
            layers += [Up()] + ([ConvAct(c256 if i == 0 else c128, c128, 3)] if i < ups - 1 else [])
        self.body = nn.Sequential(*layers)
        self.tail = ResizeTail(plan, c256 if ups < 2 else c128, bands_out, width, out_act=out_act)
        init_weights(self, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(run_restoring(self.body, x))


def surveys(data: DataCfg | None, direction: str) -> tuple[Resize, int, int]:
    """A generator's resize and (input, output) band counts for ``data`` (None: the default surveys)."""
    data = DataCfg() if data is None else data
    src, dst = (data.x, data.y) if direction == "xy" else (data.y, data.x)
    return generator_plan(data, direction), len(src.bands), len(dst.bands)


@register("generator", "paper")
def paper_generator(plan: Resize, bands_in: int, bands_out: int, width: float = 1.0, bias_init: float = 0.1,
                    out_act: bool = True) -> nn.Module:
    """The paper's generator for ``plan``: :class:`GeneratorXY` up, :class:`GeneratorYX` down."""
    return (GeneratorXY if plan.up else GeneratorYX)(plan, bands_in, bands_out, width, bias_init, out_act)
