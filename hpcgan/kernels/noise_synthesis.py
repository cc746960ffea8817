"""Noise synthesis: the noise emulator's fixed-structure last stage, fused with the addition.

``out = base + conv_valid(a * z2, sym(w))`` per band, where ``sym`` averages the kernel over the
dihedral group D4 (4 rotations, then the left-right mirror: 10 free weights of a 7x7) and there is
no bias. By linearity ``conv(a * z2, w) = a * conv(z2, w)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hpcgan.kernels.dispatch import resolve_impl


def symmetrize_d4(w: torch.Tensor) -> torch.Tensor:
    """Average a (..., k, k) kernel over its 4 rotations by 90 deg, then with its left-right mirror.

    The 8-term average is taken in at least fp32 and rounded once to ``w.dtype`` (in bf16, summing
    in bf16 loses ~1% of the kernel).
    """
    w32 = w.to(torch.promote_types(w.dtype, torch.float32))
    rot = sum(torch.rot90(w32, k, dims=(-2, -1)) for k in range(4)) / 4
    return ((rot + torch.flip(rot, dims=(-1,))) / 2).to(w.dtype)


def noise_synthesis_ref(base: torch.Tensor, amplitude: torch.Tensor, z2: torch.Tensor,
                        weight: torch.Tensor) -> torch.Tensor:
    """Reference. base (N,C,H,W); amplitude (N,C); z2 (N,C,H+k-1,W+k-1); weight (C,k,k) unsymmetrised."""
    c = base.shape[1]
    w = symmetrize_d4(weight).unsqueeze(1)  # (C, 1, k, k)
    noise = F.conv2d(z2 * amplitude[:, :, None, None], w, groups=c)
    return base + noise


def check_shapes(base: torch.Tensor, amplitude: torch.Tensor, z2: torch.Tensor, weight: torch.Tensor) -> None:
    n, c, h, w_ = base.shape
    k = weight.shape[-1]
    want = {"amplitude": (n, c), "z2": (n, c, h + k - 1, w_ + k - 1), "weight": (c, k, k)}
    got = {"amplitude": tuple(amplitude.shape), "z2": tuple(z2.shape), "weight": tuple(weight.shape)}
    for name in want:
        if want[name] != got[name]:
            raise ValueError(f"noise_synthesis: {name} must have shape {want[name]} for base "
                             f"{tuple(base.shape)} and a {k}x{k} kernel, got {got[name]}")


def noise_synthesis(base: torch.Tensor, amplitude: torch.Tensor, z2: torch.Tensor, weight: torch.Tensor,
                    impl: str = "auto") -> torch.Tensor:
    """``base + conv_valid(amplitude * z2, symmetrize_d4(weight))`` per band (no bias).

    Gradients flow to ``base``, ``amplitude`` and ``weight`` (z2 is a random input).
    """
    if base.ndim != 4:
        raise ValueError(f"noise_synthesis: base must be (N, C, H, W), got {tuple(base.shape)}")
    check_shapes(base, amplitude, z2, weight)
    if resolve_impl(impl, base) == "triton":
        from hpcgan.kernels.triton_noise import noise_synthesis_triton
        return noise_synthesis_triton(base, amplitude, z2, weight)
    return noise_synthesis_ref(base, amplitude, z2, weight)
