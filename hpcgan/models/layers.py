"""Building blocks shared by the networks (PAPER.md conventions).

- every convolution: stride 1, 'SAME' zero padding unless said, followed by LeakyReLU(0.2) (the last
  one too); Xavier-uniform weights, biases 0.1 (``init_weights``);
- ``pool``: 2x2 average pooling, stride 2, TF 'SAME' (odd sizes: ceil, averaging only real pixels);
- ``up``: nearest-neighbour x2;
- ``ACM``: channel attention ``x * sigmoid(FC(mean_hw(x)))``;
- grouped variants (``groups=G``) hold G independent sub-networks side by side (the discriminator's
  5 per-band networks): mathematically identical to G separate networks, one kernel launch each.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

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
    """Nearest-neighbour upsampling by 2 (or to a given size)."""

    def __init__(self, size: int | None = None):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None:
            return F.interpolate(x, size=(self.size, self.size), mode="nearest")
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


def symmetric_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """TF 'SYMMETRIC' padding (reflect including the edge pixel) by ``p`` on the last two axes."""
    if p == 0:
        return x
    x = torch.cat([x[..., :p].flip(-1), x, x[..., -p:].flip(-1)], dim=-1)
    return torch.cat([x[..., :p, :].flip(-2), x, x[..., -p:, :].flip(-2)], dim=-2)


class SymmetricPad(nn.Module):
    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return symmetric_pad(x, self.p)


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
    """The paper's generator tails that change the stamp size.

    ``xy`` (64 -> 136): symmetric pad 2 (-> 68), nearest x2 (-> 136), c5-64, c5-64, c5-out.
    ``yx`` (136 -> 64): input already at 68 px (``pool_first`` pools a 136-px input first),
    c5-64 VALID (-> 64), c5-64, c5-out. ``out_act=False`` drops the LeakyReLU after c5-out (linear output).
    """

    def __init__(self, direction: str, cin: int, cout: int, width: float, pool_first: bool = False,
                 out_act: bool = True):
        super().__init__()
        h = ch(64, width)
        last = ConvAct(h, cout, 5, act=out_act)
        if direction == "xy":
            self.net = nn.Sequential(SymmetricPad(2), Up(), ConvAct(cin, h, 5), ConvAct(h, h, 5), last)
        elif direction == "yx":
            head: list[nn.Module] = [Pool()] if pool_first else []
            self.net = nn.Sequential(*head, ConvAct(cin, h, 5, padding="valid"), ConvAct(h, h, 5), last)
        else:
            raise ValueError(f"direction: expected 'xy' or 'yx', got {direction!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def last_conv(module: nn.Module) -> nn.Conv2d:
    """The output convolution of a network (the last ``Conv2d`` registered)."""
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1]


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
