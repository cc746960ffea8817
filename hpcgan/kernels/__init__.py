"""The two fixed filters of the method, behind one small interface.

- :func:`noise_synthesis`: the noise emulator's last stage: ``base + a * conv_valid(z2, D4-symmetrised kernel)``.
- :func:`highpass5x5`: the discriminator's fixed (never trained) 5x5 high-pass, VALID.

Each takes ``impl``: ``"torch"`` (the plain PyTorch reference, the spec), ``"triton"`` (fused GPU
kernel) or ``"auto"`` (Triton on CUDA tensors, torch otherwise). Models call these and nothing else.
"""
from hpcgan.kernels.highpass import HIGHPASS_5X5, highpass5x5
from hpcgan.kernels.noise_synthesis import noise_synthesis, symmetrize_d4

__all__ = ["HIGHPASS_5X5", "highpass5x5", "noise_synthesis", "symmetrize_d4"]
