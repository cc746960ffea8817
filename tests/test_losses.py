"""Known answers for the training losses (hpcgan/train/losses.py)."""
from __future__ import annotations

import numpy as np
import torch

from hpcgan.astro.photometry import aperture_weights
from hpcgan.train.losses import aperture_flux_loss


def test_aperture_flux_loss_is_unbiased_on_noisy_targets():
    """One free amplitude fitted to noisy targets (aperture S/N 3, the faint u band's) by the flux term
    alone lands on the targets' mean flux: the relative error's scale must not come from the target's
    noise (a |F_target| denominator puts the minimum 35% low)."""
    size, scale = 16, 0.4
    w = torch.from_numpy(aperture_weights(size, scale, (3.0,))).float()
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    profile = torch.from_numpy(np.exp(-(xx ** 2 + yy ** 2) / (2 * 2.0 ** 2))).float()
    flux = float(w @ profile.flatten())
    rng = np.random.default_rng(0)
    n = 4096
    # each target: the profile plus noise whose aperture sum has sigma flux / 3
    noise_px = flux / 3 / float(torch.sqrt((w ** 2).sum()))
    target = profile + torch.from_numpy(rng.standard_normal((n, 1, size, size)) * noise_px).float()
    amp = torch.tensor(0.5, requires_grad=True)
    opt = torch.optim.Adam([amp], lr=0.02)
    for _ in range(400):
        loss = aperture_flux_loss(amp * profile.expand(n, 1, size, size), target, w, "none")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(float(amp) - 1.0) < 0.02, float(amp)
