"""Building blocks shared by the networks (docs/method.md conventions).

- every convolution: stride 1, 'SAME' zero padding unless said, followed by LeakyReLU(0.2) (the last
  one too); Xavier-uniform weights, biases 0.1 (``init_weights``);
- ``pool``: 2x2 average pooling, stride 2, TF 'SAME' (odd sizes: ceil, averaging only real pixels);
- ``up``: nearest-neighbour x2 (``run_restoring``: back to the size before the matching pool);
- ``ACM``: channel attention ``x * sigmoid(FC(mean_hw(x)))``;
- grouped variants (``groups=G``) hold G independent sub-networks side by side (the discriminator's
  5 per-band networks): mathematically identical to G separate networks, one kernel launch each.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from hpcgan.config.geometry import Resize

LRELU_SLOPE = 0.2


def ch(n: int, width: float) -> int:
    """Hidden channel count ``n`` scaled by the width multiplier (at least 1)."""
    return max(1, int(round(n * width)))


def init_weights(module: nn.Module, bias: float = 0.1) -> nn.Module:
    """Xavier-uniform weights (per group for grouped layers) and constant biases, in place."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, bias)
        elif isinstance(m, GroupedLinear):
            for g in range(m.weight.shape[0]):
                nn.init.xavier_uniform_(m.weight.data[g])
            nn.init.constant_(m.bias, bias)
    return module


class ConvAct(nn.Sequential):
    """``cK-N``: KxK conv (stride 1, 'same' or 'valid', optional groups) + LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, k: int, padding: str = "same", groups: int = 1, act: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=padding, groups=groups)]
        if act:
            layers.append(nn.LeakyReLU(LRELU_SLOPE))
        super().__init__(*layers)


class Pool(nn.Module):
    """2x2 average pooling, stride 2, TF 'SAME' (ceil; a partial window averages its real pixels)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)


class Up(nn.Module):
    """Nearest-neighbour upsampling by 2, or to ``size`` (given here or per call)."""

    def __init__(self, size: int | None = None):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        if size is None and self.size is not None:
            size = (self.size, self.size)
        if size is not None:
            return F.interpolate(x, size=tuple(size), mode="nearest")
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


def run_restoring(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run ``seq`` with every ``Up`` restoring the size before the matching downsampling (a stack):
    the same as x2 where sizes halve exactly, and any size (odd ones too) comes back to itself."""
    sizes: list[tuple[int, int]] = []
    for m in seq:
        if isinstance(m, Up) and sizes:
            x = m(x, sizes.pop())
            continue
        before = tuple(x.shape[-2:])
        x = m(x)
        if x.shape[-1] < before[-1] or x.shape[-2] < before[-2]:
            sizes.append(before)
    return x


def symmetric_pad(x: torch.Tensor, p: int, after: int | None = None) -> torch.Tensor:
    """TF 'SYMMETRIC' padding (reflect including the edge pixel) on the last two axes: ``p`` before and
    ``after`` (default ``p``) after; each at most the image size."""
    q = p if after is None else after
    x = torch.cat([x[..., :p].flip(-1), x, x[..., x.shape[-1] - q:].flip(-1)], dim=-1)
    return torch.cat([x[..., :p, :].flip(-2), x, x[..., x.shape[-2] - q:, :].flip(-2)], dim=-2)


class Fit(nn.Module):
    """Centre fit: ``before``/``after`` pixels per side of both axes, positive symmetric-pads, negative crops."""

    def __init__(self, before: int, after: int):
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, a = self.before, self.after
        x = x[..., max(-b, 0):x.shape[-2] - max(-a, 0), max(-b, 0):x.shape[-1] - max(-a, 0)]
        return symmetric_pad(x, max(b, 0), max(a, 0)) if b > 0 or a > 0 else x


class GroupedLinear(nn.Module):
    """G independent fully connected layers: (N, G, in) -> (N, G, out)."""

    def __init__(self, groups: int, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, cin, cout))
        self.bias = nn.Parameter(torch.empty(groups, cout))
        bound = math.sqrt(6.0 / (cin + cout))
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.constant_(self.bias, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ngi,gio->ngo", x, self.weight) + self.bias


class ACM(nn.Module):
    """Channel attention ``x * sigmoid(FC(global mean of x))``; one C->C FC per group."""

    def __init__(self, channels: int, groups: int = 1):
        super().__init__()
        self.groups = groups
        self.fc = GroupedLinear(groups, channels // groups, channels // groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        s = x.mean(dim=(2, 3)).reshape(n, self.groups, c // self.groups)
        a = torch.sigmoid(self.fc(s)).reshape(n, c, 1, 1)
        return x * a


class ResizeTail(nn.Module):
    """The paper's generator tails that change the stamp size (:mod:`hpcgan.config.geometry`).

    up (G_xy, 64 -> 136): fit (symmetric pad 2 -> 68), nearest resize to ``dst`` (136), c5-64, c5-64, c5-out.
    down (G_yx, 136 -> 64): ``halvings`` pools when ``pools`` (else the body has done them: 68),
    c5-64 VALID (64), the centre fit when not zero, c5-64, c5-out.
    ``out_act=False`` drops the LeakyReLU after c5-out (linear output).
    """

    def __init__(self, plan: Resize, cin: int, cout: int, width: float, pools: bool = False, out_act: bool = True):
        super().__init__()
        h = ch(64, width)
        last = ConvAct(h, cout, 5, act=out_act)
        if plan.up:
            self.net = nn.Sequential(Fit(*plan.fit), Up(plan.dst), ConvAct(cin, h, 5), ConvAct(h, h, 5), last)
        else:
            head: list[nn.Module] = [Pool() for _ in range(plan.halvings)] if pools else []
            fit = [Fit(*plan.fit)] if any(plan.fit) else []
            self.net = nn.Sequential(*head, ConvAct(cin, h, 5, padding="valid"), *fit, ConvAct(h, h, 5), last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def last_conv(module: nn.Module) -> nn.Conv2d:
    """The output convolution of a network (the last ``Conv2d`` registered)."""
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1]


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
