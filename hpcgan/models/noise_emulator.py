"""Noise emulator NE (one per domain, one independent sub-network per band), docs/method.md:

- amplitude ``a_b = softplus(MLP_b(z1_b))``, MLP 1-64-64-1 with LeakyReLU(0.2) hidden activations,
  ``z1 ~ N(0, 1)`` one scalar per sample and band;
- noise ``n_b = conv_valid(a_b * z2_b, sym(w_b))``: ``z2 ~ N(0, 1)`` a (H+6)x(W+6) map, ``w_b`` a learned
  7x7 kernel made D4-symmetric in every forward pass, **no bias**;
- ``forward(base)`` returns ``base + noise`` through :func:`hpcgan.kernels.noise_synthesis` (the fused
  kernel interface), so ``NE(A(x))`` is the step-1 fake and ``NE(G(x))`` a translation.

``space`` (``model.ne_space``, beyond the paper) says where the noise is added. ``model`` (the paper): to
the model-space image, where the pixel transform compresses bright pixels, so that in survey units the
noise grows with the signal (sqrt(1 + I) times the sky's, I the flux-scaled pixel: 1.1-1.8x at the median
galaxy core of the demo's SDSS stamps, u to z, more on bright ones), which no sky-limited survey has. ``linear``: in the survey's (flux-scaled) units, ``T(T^-1(base) + noise)``, the same on sky
and on the galaxy, as the surveys' own noise (the simulator's is sky noise only); the amplitude is then
in those units (:mod:`hpcgan.train.ne_calibration` measures there).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from hpcgan.astro.transforms import from_model_space, to_model_space
from hpcgan.kernels import noise_synthesis, symmetrize_d4
from hpcgan.models.layers import LRELU_SLOPE, GroupedLinear
from hpcgan.models.registry import register


@register("noise_emulator", "paper")
class NoiseEmulator(nn.Module):
    """``forward(base (N,C,H,W), z1=None (N,C), z2=None (N,C,H+k-1,W+k-1)) -> base + noise``.

    Fresh ``z1``/``z2`` are drawn from the global torch RNG (on ``base``'s device) when not given
    (inference, API callers). Training passes them explicitly, keyed by global sample index
    (:func:`hpcgan.train.noise.ne_inputs`), so the draws do not depend on the number of ranks.
    """

    def __init__(self, bands: int = 5, hidden: int = 64, kernel_size: int = 7, bias_init: float = 0.1,
                 impl: str = "auto", amp_bias_init: float | None = None, space: str = "model",
                 transform: str = "sqrt"):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"model.ne_kernel_size: must be odd, got {kernel_size}")
        if space not in ("model", "linear"):
            raise ValueError(f"model.ne_space: {space!r}; allowed: 'model', 'linear'")
        self.bands, self.k, self.impl = bands, kernel_size, impl
        self.space, self.transform = space, transform
        # the 5 per-band MLPs 1-h-h-1 side by side (GroupedLinear = one independent FC per band)
        self.fc1 = GroupedLinear(bands, 1, hidden)
        self.fc2 = GroupedLinear(bands, hidden, hidden)
        self.fc3 = GroupedLinear(bands, hidden, 1)
        for fc in (self.fc1, self.fc2, self.fc3):
            nn.init.constant_(fc.bias, bias_init)
        if amp_bias_init is not None:
            nn.init.constant_(self.fc3.bias, amp_bias_init)
        # the raw (unsymmetrised) kernel; Xavier-uniform as for a (1 -> 1) kxk conv; no bias exists
        w = torch.empty(bands, 1, kernel_size, kernel_size)
        nn.init.xavier_uniform_(w)
        self.weight = nn.Parameter(w.squeeze(1))

    def amplitude(self, z1: torch.Tensor) -> torch.Tensor:
        """(N, C) -> (N, C) positive amplitudes."""
        h = F.leaky_relu(self.fc1(z1.unsqueeze(-1)), LRELU_SLOPE)
        h = F.leaky_relu(self.fc2(h), LRELU_SLOPE)
        return F.softplus(self.fc3(h)).squeeze(-1)

    @torch.no_grad()
    def noise_std(self, draws: int = 4096) -> torch.Tensor:
        """(C,) std of the noise this emulator adds per pixel: ``sqrt(E[a^2]) * ||sym(w)||`` (z2 white)."""
        a = self.amplitude(torch.randn(draws, self.bands, generator=torch.Generator().manual_seed(0),
                                       dtype=self.weight.dtype).to(self.weight.device))
        return a.pow(2).mean(0).sqrt() * self.symmetric_kernel().flatten(1).norm(dim=1)

    @torch.no_grad()
    def calibrate(self, sigma: torch.Tensor, kernel: torch.Tensor | None = None, draws: int = 4096) -> None:
        """Start at the survey's noise: the kernel becomes ``kernel`` (C, k', k') (the measured noise's
        kernel, :func:`hpcgan.astro.noise_power.noise_kernel`; cropped or padded to the emulator's size,
        D4-symmetrised, unit norm) or, without one, a delta (white noise: a random Xavier kernel
        correlates the noise, so its aperture sums come out several times the survey's at the right pixel
        std); the amplitude's last layer forgets ``z1`` (its weights zeroed: every stamp gets the same noise
        level, as a survey at one depth does; a random one made the level log-normal across stamps, 30%
        low in robust power at the same mean square) and its output bias is shifted until :meth:`noise_std`
        equals ``sigma`` (C,) (bisection on the monotone softplus). Training can learn a spread back."""
        sigma = torch.as_tensor(sigma, dtype=self.weight.dtype, device=self.weight.device)
        if sigma.shape != (self.bands,) or not bool(torch.all(sigma > 0)):
            raise ValueError(f"NoiseEmulator.calibrate: sigma must be {self.bands} positive values, got {sigma.tolist()}")
        self.weight.zero_()
        if kernel is None:
            self.weight[:, self.k // 2, self.k // 2] = 1.0
        else:
            kern = torch.as_tensor(kernel, dtype=self.weight.dtype, device=self.weight.device)
            d = (kern.shape[-1] - self.k) // 2
            kern = kern[:, d:d + self.k, d:d + self.k] if d >= 0 else F.pad(kern, (-d, -d, -d, -d))
            kern = symmetrize_d4(kern)
            self.weight.copy_(kern / kern.flatten(1).norm(dim=1)[:, None, None])
        self.fc3.weight.zero_()
        lo = torch.full_like(sigma, -60.0)
        hi = torch.full_like(sigma, 60.0)
        bias = self.fc3.bias.view(-1)  # (C,) view of the (C, 1) parameter
        for _ in range(60):
            bias.copy_((lo + hi) / 2)
            high = self.noise_std(draws) > sigma
            hi = torch.where(high, bias, hi)
            lo = torch.where(high, lo, bias)

    def symmetric_kernel(self) -> torch.Tensor:
        """The kernel actually applied: (C, k, k), D4-symmetric."""
        return symmetrize_d4(self.weight)

    def z_shapes(self, base: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Per-sample shapes of ``z1`` (C,) and ``z2`` (C, H+k-1, W+k-1) for ``base`` (N, C, H, W)."""
        _, c, h, w = base.shape
        return (c,), (c, h + self.k - 1, w + self.k - 1)

    def draw(self, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh ``(z1, z2)`` from the global torch RNG."""
        s1, s2 = self.z_shapes(base)
        z1 = torch.randn(len(base), *s1, device=base.device, dtype=torch.float32)
        z2 = torch.randn(len(base), *s2, device=base.device, dtype=torch.float32)
        return z1, z2

    def forward(self, base: torch.Tensor, z1: torch.Tensor | None = None, z2: torch.Tensor | None = None) -> torch.Tensor:
        if base.shape[1] != self.bands:
            raise ValueError(f"NoiseEmulator: expected {self.bands} bands, got {tuple(base.shape)}")
        if z1 is None or z2 is None:
            d1, d2 = self.draw(base)
            z1 = d1 if z1 is None else z1
            z2 = d2 if z2 is None else z2
        dt = self.weight.dtype  # fp32 (fp64 in the equivalence tests)
        a = self.amplitude(z1.to(dt))
        # z2, amplitude and kernel stay fp32 (under bf16 autocast only the base is bf16)
        if self.space == "model":
            return noise_synthesis(base, a.to(dt), z2.to(dt), self.weight, self.impl)
        noise = noise_synthesis(torch.zeros_like(base, dtype=dt), a.to(dt), z2.to(dt), self.weight, self.impl)
        phys = from_model_space(base.to(dt), 1.0, self.transform) + noise
        return to_model_space(phys, 1.0, self.transform).to(base.dtype)
