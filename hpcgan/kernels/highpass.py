"""The discriminator's fixed 5x5 high-pass filter (VALID), applied to every band independently."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hpcgan.kernels.dispatch import resolve_impl

# docs/method.md: the unnormalised high-pass kernel (symmetric, sums to 0).
HIGHPASS_5X5 = torch.tensor([[-1, 3, -4, 3, -1],
                             [3, -8, 10, -8, 3],
                             [-4, 10, -12, 10, -4],
                             [3, -8, 10, -8, 3],
                             [-1, 3, -4, 3, -1]], dtype=torch.float32)


def highpass5x5_ref(x: torch.Tensor) -> torch.Tensor:
    """Reference: depthwise VALID conv of (N, C, H, W) with the fixed kernel -> (N, C, H-4, W-4)."""
    c = x.shape[1]
    w = HIGHPASS_5X5.to(device=x.device, dtype=x.dtype).expand(c, 1, 5, 5)
    return F.conv2d(x, w, groups=c)


def highpass5x5(x: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """High-pass every band of ``x`` (N, C, H, W) -> (N, C, H-4, W-4); gradients flow to ``x`` only."""
    if x.ndim != 4 or x.shape[-1] < 5 or x.shape[-2] < 5:
        raise ValueError(f"highpass5x5: expected (N, C, H>=5, W>=5), got {tuple(x.shape)}")
    if resolve_impl(impl, x) == "triton":
        from hpcgan.kernels.triton_highpass import highpass5x5_triton
        return highpass5x5_triton(x)
    return highpass5x5_ref(x)
