"""train.fit_gain's least-squares gain of a residual generator's learnt part (hpcgan/train/gain.py)."""
from __future__ import annotations

from dataclasses import replace

import torch

from hpcgan.config.schema import DataCfg, ModelCfg
from hpcgan.models import build
from hpcgan.models.layers import last_conv
from hpcgan.train.gain import fit_gain


def test_gain_is_the_share_of_the_learnt_part_the_noisy_targets_support():
    """Targets = plain + k_b * learnt + noise with k = 0.5, 0 (the learnt part is noise), 3 (clipped to 1),
    0.5, 1: the fitted gains are k within the noise, in [0, 1], and the held-out MSE of the fitted
    generator is never above the plain base's or the whole generator's."""
    data = DataCfg()
    data = replace(data, x=replace(data.x, stamp_size=16), y=replace(data.y, stamp_size=40))
    g = build("generator", ModelCfg(width=0.125, generator="residual", bias_init=0.0), direction="xy", data=data)
    with torch.no_grad():
        last_conv(g.net).bias.copy_(torch.tensor([0.02, 0.03, -0.02, 0.01, 0.04]))  # learnt = a constant per band
    x = torch.rand(32, 5, 16, 16)
    psf = torch.full((32, 5), float("nan"))
    plain, learnt = g.parts(x, psf)
    k = torch.tensor([0.5, 0.0, 3.0, 0.5, 1.0])[:, None, None]
    target = plain + k * learnt + 0.01 * torch.randn(plain.shape, generator=torch.Generator().manual_seed(0))
    gain, mse = fit_gain(g, x, psf, target)
    assert torch.allclose(gain, torch.tensor([0.5, 0.0, 1.0, 0.5, 1.0]), atol=0.01), gain
    assert (mse["fitted"] <= torch.minimum(mse["plain"], mse["full"]) + 1e-12).all()
    g.gain.copy_(gain)
    assert torch.allclose(g(x, psf), plain + gain[:, None, None] * learnt, atol=1e-6)
    state = {k: v for k, v in g.state_dict().items() if k != "gain"}  # a checkpoint from before the gain
    g.load_state_dict(state)
    assert (g.gain == 1).all()


def test_gain_on_aperture_flux_is_the_share_the_noisy_fluxes_support():
    """train.fit_gain_on: aperture_flux. Targets built in survey units, plain + k_b * learnt (+ noise), with
    k = 0.5, 0, 3 (clipped to 1), 0.25, 1: the gains fitted on the 1.5"/3" aperture fluxes are k."""
    from hpcgan.astro.photometry import aperture_weights
    from hpcgan.astro.transforms import from_model_space, to_model_space

    data = DataCfg()
    data = replace(data, x=replace(data.x, stamp_size=16), y=replace(data.y, stamp_size=40))
    g = build("generator", ModelCfg(width=0.125, generator="residual", bias_init=0.0), direction="xy", data=data)
    with torch.no_grad():
        last_conv(g.net).bias.copy_(torch.tensor([0.02, 0.03, -0.02, 0.01, 0.04]))
    x = torch.rand(32, 5, 16, 16) * 4
    psf = torch.full((32, 5), float("nan"))
    plain, learnt = g.parts(x, psf)
    p_phys, f_phys = from_model_space(plain, 1.0), from_model_space(plain + learnt, 1.0)
    k = torch.tensor([0.5, 0.0, 3.0, 0.25, 1.0])[:, None, None]
    noise = 0.001 * torch.randn(plain.shape, generator=torch.Generator().manual_seed(0))
    target = to_model_space(p_phys + k * (f_phys - p_phys) + noise, 1.0)
    w = torch.from_numpy(aperture_weights(40, data.y.pixel_scale, (1.5, 3.0)))
    gain, _ = fit_gain(g, x, psf, target, flux_weights=w)
    assert torch.allclose(gain, torch.tensor([0.5, 0.0, 1.0, 0.25, 1.0]), atol=0.02), gain


def test_gain_standard_error_and_shrinkage():
    """The gain's sandwich standard error is its spread over independent noise draws of the held-out
    targets, and train.fit_gain_shrink keeps a * a^2 / (a^2 + sd^2): a well-measured gain (k = 1 at low
    noise) stays, one the noise could have made is cut."""
    data = DataCfg()
    data = replace(data, x=replace(data.x, stamp_size=16), y=replace(data.y, stamp_size=40))
    g = build("generator", ModelCfg(width=0.125, generator="residual", bias_init=0.0), direction="xy", data=data)
    with torch.no_grad():
        last_conv(g.net).bias.copy_(torch.tensor([0.02, 0.03, -0.02, 0.01, 0.04]))
    x = torch.rand(32, 5, 16, 16)
    psf = torch.full((32, 5), float("nan"))
    plain, learnt = g.parts(x, psf)
    k = torch.tensor([0.5, 0.5, 0.5, 0.2, 1.0])[:, None, None]
    sigma = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.002])[:, None, None]
    raw, sds, kept = [], [], []
    for seed in range(60):
        target = plain + k * learnt + sigma * torch.randn(plain.shape, generator=torch.Generator().manual_seed(seed))
        a, m = fit_gain(g, x, psf, target)
        shrunk, _ = fit_gain(g, x, psf, target, shrink=True)
        raw.append(a)
        sds.append(m["sd"])
        kept.append(shrunk)
        assert torch.allclose(shrunk, (a * a ** 2 / (a ** 2 + m["sd"] ** 2)).float(), atol=1e-6)
    raw, sds, kept = torch.stack(raw), torch.stack(sds), torch.stack(kept)
    spread = raw[:, :3].std(0)  # bands 0-2: k 0.5, sd ~0.15 (unclipped)
    assert torch.allclose(sds[:, :3].median(0).values.float(), spread, rtol=0.3), (sds[:, :3].median(0), spread)
    assert (kept[:, 4] > 0.99).all()  # k = 1, measured to 0.1%: kept
    assert kept[:, 3].mean() < 0.75 * raw[:, 3].mean()  # k = 0.2 at sd ~0.45: cut


def test_base_filter_recovers_a_radial_transfer_from_noisy_targets():
    """model.residual_filter_bins: targets = the base through a known radial transfer (1, 0.6, 0.2, 1.5 by
    bin: the last clipped to 1) plus independent noise; fit_base_filter recovers it, the fitted generator's
    base is the filtered base (interpolated between the bins' centres: exact at the centres, between the two
    neighbours elsewhere), and identity (all ones, the start) leaves the base untouched."""
    from hpcgan.astro.transfer import apply_transfer, radial_interpolation, transfer_map
    from hpcgan.train.base_filter import fit_base_filter

    data = DataCfg()
    data = replace(data, x=replace(data.x, stamp_size=16), y=replace(data.y, stamp_size=40))
    g = build("generator", ModelCfg(width=0.125, generator="residual", residual_filter_bins=4), direction="xy",
              data=data)
    x = torch.rand(64, 5, 16, 16, generator=torch.Generator().manual_seed(1)) * 3
    psf = torch.full((64, 5), float("nan"))
    base = g.physical_base(x, psf)
    assert torch.equal(base, g.physical_base(x, psf, filtered=False))  # identity at the start
    true = torch.tensor([1.0, 0.6, 0.2, 1.5]).repeat(5, 1)
    labels = g.base_filter.labels  # the target through a transfer constant in each bin: what the fit measures
    stepped = torch.fft.ifft2(torch.fft.fft2(base.double()) * true.double()[:, labels]).real.float()
    target = stepped + 0.02 * base.std() * torch.randn(base.shape, generator=torch.Generator().manual_seed(2))
    f = fit_base_filter(g, x, psf, target)
    assert torch.allclose(f, true.clamp(max=1.0), atol=0.03), f
    g.base_filter.transfer.copy_(f)
    assert torch.allclose(g.physical_base(x, psf), apply_transfer(base, f), atol=1e-5)
    assert "base_filter.transfer" in g.state_dict()
    m = transfer_map(torch.tensor([[1.0, 0.6, 0.2, 0.0]]), radial_interpolation(40, 4))[0]
    k = torch.fft.fftfreq(40, dtype=torch.float64)
    kr = torch.hypot(k[:, None], k[None, :])
    centre = (kr - kr.max() * 1.5 / 4).abs().argmin()  # the frequency nearest bin 1's centre
    assert abs(float(m.reshape(-1)[centre]) - 0.6) < 0.02 and float(m[0, 0]) == 1.0 and float(m.min()) >= 0.0


def test_base_filter_shrinks_noise_back_to_the_identity():
    """True transfer 1 everywhere, targets with heavy noise: the raw clipped fit dips below 1 in some bins
    (noise, then the clip), the shrunk one (the default) stays at 1 within its noise."""
    from hpcgan.astro.transfer import binned_sums, radial_labels, radial_transfer

    g = torch.Generator().manual_seed(3)
    base = torch.randn(48, 5, 32, 32, generator=g)
    target = base + 3.0 * torch.randn(base.shape, generator=g)
    sums = binned_sums(base, target, radial_labels(32, 8))
    raw, shrunk = radial_transfer(*sums, shrink=False), radial_transfer(*sums)
    assert raw.min() < 0.97, raw
    assert shrunk.min() > 0.99 and (shrunk >= raw).all(), shrunk


def test_aperture_transfer_recovers_a_known_transfer_from_aperture_fluxes():
    """benchmarks/aperture_frontier.py's fit: target fluxes = the apertures of images through a known radial
    transfer (interpolated, as applied) plus small noise. The design is linear (the fluxes of the filtered
    image are ``einsum("ncaj,cj->nca", design, t)``); lam = 0 recovers the transfer within [0, 1] (1.4 clipped to 1), and a large
    ridge gives the identity."""
    from hpcgan.astro.photometry import aperture_weights
    from hpcgan.astro.transfer import aperture_transfer, apply_transfer, basis_aperture_fluxes

    g = torch.Generator().manual_seed(4)
    img = torch.randn(96, 2, 24, 24, generator=g).double()
    true = torch.tensor([[1.0, 0.7, 0.3, 1.4], [0.9, 0.5, 1.0, 0.0]])
    w = torch.from_numpy(aperture_weights(24, 1.0, (1.0, 2.0, 3.5, 5.0, 8.0)))
    design = basis_aperture_fluxes(img, 4, w)
    filtered = apply_transfer(img, true).reshape(96, 2, -1) @ w.T
    assert torch.allclose(torch.einsum("ncaj,cj->nca", design, true.double()), filtered, atol=1e-4)
    target = filtered + 1e-3 * torch.randn(filtered.shape, generator=g, dtype=torch.float64)
    scale = torch.ones_like(target)
    assert torch.allclose(aperture_transfer(design, target, scale, 0.0), true.clamp(0.0, 1.0), atol=0.02)
    assert torch.allclose(aperture_transfer(design, target, scale, 1e6), torch.ones(2, 4), atol=1e-3)
