"""Residual generator (beyond the paper, ``model.generator: residual``; docs/models.md).

``G(x) = T(fs_dst * B(T^-1(x) / fs_src)) + net(x)``: the physical baseline ``B``
(:class:`hpcgan.models.baseline.PhysicalBaseline`: flux-conserving resample, zero-point conversion,
Gaussian PSF match) taken through the pixel transform ``T`` and flux scales of the two surveys, plus a
network correction ``net`` (``model.residual_body``: the paper's generator or the U-Net, linear output)
whose last conv is zero-initialised, so training starts exactly at the baseline's score.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from hpcgan.config.schema import DataCfg
from hpcgan.data.transforms import from_model_space, to_model_space
from hpcgan.models.layers import last_conv
from hpcgan.models.registry import REG, register


class ResidualGenerator(nn.Module):
    """``forward(x) = base(x) + net(x)``, ``base`` the baseline in model space (no parameters)."""

    def __init__(self, baseline: nn.Module, net: nn.Module, src_scale: float, dst_scale: float,
                 transform: str = "sqrt"):
        super().__init__()
        self.baseline, self.net = baseline, net
        self.src_scale, self.dst_scale, self.transform = src_scale, dst_scale, transform
        out = last_conv(net)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)

    def base(self, x: torch.Tensor) -> torch.Tensor:
        phys = from_model_space(x.float(), self.src_scale, self.transform)
        return to_model_space(self.baseline(phys), self.dst_scale, self.transform).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.net(x)


def generator_kwargs(cfg) -> dict:
    """Extra ``build("generator", ...)`` arguments every generator takes: the survey geometry (bands, sizes)."""
    return {"data": cfg.data}


@register("generator", "residual")
def _residual(cfg, direction: str, data: DataCfg | None = None) -> ResidualGenerator:
    from dataclasses import replace

    from hpcgan.models.baseline import PhysicalBaseline

    if data is None:
        raise ValueError("model.generator=residual needs the survey geometry: build(..., data=cfg.data)")
    src, dst = (data.x, data.y) if direction == "xy" else (data.y, data.x)
    body = REG[("generator", cfg.residual_body)](replace(cfg, out_activation="linear"), direction=direction,
                                                   data=data)
    return ResidualGenerator(PhysicalBaseline(src, dst), body, src.flux_scale, dst.flux_scale, data.pixel_transform)
