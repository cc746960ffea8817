"""The field's building blocks (hpcgan/astro): starlet denoising, PSF matching kernels, measured noise
power, and the strong baseline built from them, on known answers."""
from __future__ import annotations

import galsim
import numpy as np
import pytest
import torch

from hpcgan.astro.denoise import max_scales, starlet, starlet_denoise
from hpcgan.astro.noise_power import blank_sky_power, noise_kernel, radial_ratio, synthesize
from hpcgan.astro.photometry import aperture_fluxes
from hpcgan.astro.psf import PsfModel, matching_kernel
from hpcgan.config import load_config
from hpcgan.models.psf_baseline import PsfMatchedBaseline


def correlated_noise(n: int, size: int, sigma: float, w: float, seed: int = 0) -> np.ndarray:
    """(n, 1, size, size) Gaussian noise correlated by the separable [w, 1-2w, w] kernel (as the simulator)."""
    from hpcgan.astro.noise_power import sky_noise

    rng = np.random.default_rng(seed)
    return np.stack([[sky_noise((size, size), sigma, w, rng)] for _ in range(n)])


def test_starlet_reconstructs_exactly_and_denoise_zeroes_blank_sky():
    x = torch.randn(4, 3, 64, 64, dtype=torch.float64)
    details, coarse = starlet(x, 4)
    assert torch.allclose(coarse + sum(details), x, atol=1e-12)
    assert max_scales(64) == 5 and max_scales(16) == 3
    with pytest.raises(ValueError, match="denoise_scales"):
        starlet(x[..., :16, :16], 4)
    y = starlet_denoise(x)  # pure noise: nothing detected at 5 sigma
    assert (y != 0).double().mean() < 0.01


def test_denoise_always_keeps_the_disc_around_the_catalogue_position():
    """baseline.denoise_keep_arcsec: an undetected faint source at the centre keeps its pixels."""
    x = torch.randn(2, 1, 64, 64, dtype=torch.float64)
    yy, xx = np.mgrid[:64, :64] - 31.5
    disc = torch.from_numpy(np.hypot(yy, xx) <= 4.0)
    y = starlet_denoise(x, keep_px=4.0)
    assert torch.allclose(y[..., disc], x[..., disc], atol=1e-12) and (y[..., ~disc] != 0).double().mean() < 0.01


def test_denoise_keeps_a_source_flux_and_clears_the_sky():
    img = galsim.Exponential(half_light_radius=1.0, flux=2000.0).drawImage(nx=64, ny=64, scale=0.396).array
    noise = np.random.default_rng(1).normal(0.0, 1.0, (32, 64, 64))
    y = starlet_denoise(torch.from_numpy(img[None] + noise)).numpy()
    ap = aperture_fluxes(y[:, None], 0.396, [3.0])[:, 0, 0]
    ap_true = aperture_fluxes(img[None, None], 0.396, [3.0])[0, 0, 0]
    assert abs(np.median(ap) / ap_true - 1) < 0.01  # unbiased: every detected pixel is kept as it is
    yy, xx = np.mgrid[:64, :64] - 31.5
    far = np.hypot(yy, xx) > 28  # the corners, 11" from a 1" galaxy (its widest plane's footprint reaches ~8")
    assert np.abs(y[:, far]).mean() < 0.1 * np.abs(noise[:, far]).mean()


def test_footprint_margin_drops_the_finest_plane_only():
    """baseline.denoise_margin_plane: 1 drops the 1-px plane (noise) from the margin grown around the
    detections, keeping the detected pixels as they are and the 3" flux unbiased; 0 is the plain footprint."""
    img = galsim.Exponential(half_light_radius=1.0, flux=2000.0).drawImage(nx=64, ny=64, scale=0.396).array
    noise = np.random.default_rng(3).normal(0.0, 1.0, (32, 64, 64))
    x = torch.from_numpy(img[None] + noise)
    plain, margin = starlet_denoise(x, margin_plane=0), starlet_denoise(x, margin_plane=1)
    kept = plain != 0
    assert torch.allclose(plain[kept], x[kept], atol=1e-12) and bool(((margin != 0) <= kept).all())  # within the footprint
    same = (margin - x).abs() < 1e-9
    assert same.double().mean() > 0.1 and bool((same <= kept).all())  # the detections: the image itself
    err = lambda y: np.sqrt(np.mean(((y.numpy() - img) ** 2)[:, (np.abs(np.mgrid[:64, :64] - 31.5).max(0) > 10)
                                                             & kept.all(0).numpy()]))  # noqa: E731
    assert err(margin) < 0.9 * err(plain)  # less noise where the margin is, far from the core
    ap = aperture_fluxes(margin.numpy()[:, None], 0.396, [3.0])[:, 0, 0]
    assert abs(np.median(ap) / aperture_fluxes(img[None, None], 0.396, [3.0])[0, 0, 0] - 1) < 0.01


def test_stacked_footprint_keeps_in_a_faint_band_what_the_other_bands_detect():
    """baseline.denoise_stack_k: a galaxy bright in r and 20x fainter in u keeps its u outskirts (which u
    alone does not detect) where the stack of the bands detects it; a band without noise adds nothing."""
    img = galsim.Exponential(half_light_radius=1.0, flux=2000.0).drawImage(nx=64, ny=64, scale=0.396).array
    x = torch.from_numpy(np.random.default_rng(2).normal(0.0, 1.0, (2, 64, 64)) + img * np.array([0.05, 1.0])[:, None, None])
    alone, stacked = starlet_denoise(x), starlet_denoise(x, stack_k=5.0)
    kept_alone, kept_stacked = (alone != 0), (stacked != 0)
    assert kept_stacked[0].sum() > 3 * kept_alone[0].sum()  # u: the stack's footprint
    assert bool((kept_stacked | ~kept_alone).all())  # a superset of each band's own footprint
    assert torch.allclose(stacked[kept_stacked], x[kept_stacked], atol=1e-12)  # kept pixels: the image itself
    flat = torch.cat([x[:1], torch.zeros_like(x[:1])])  # a band with no noise (sigma 0)
    assert torch.isfinite(starlet_denoise(flat, stack_k=5.0)).all()


def test_matching_kernel_turns_the_source_psf_into_the_target():
    src = PsfModel("moffat", 3.5, 1.3, 0.396)
    dst = PsfModel("moffat", 3.5, 2.0, 0.396)  # broader: a plain convolution
    k = matching_kernel(src, dst, 0.396, 63, 1e-6)
    assert k.shape == (63, 63) and k.sum() == pytest.approx(1.0)
    from scipy.signal import fftconvolve

    out = fftconvolve(src.image(0.396), k, mode="same")
    assert np.abs(out - dst.image(0.396)).max() < 2e-3 * dst.image(0.396).max()


@pytest.mark.parametrize("direction", ["x2y", "y2x"])
def test_strong_baseline_translates_a_noise_free_galaxy(direction):
    """A galaxy rendered through each survey's real PSF: the strong baseline's 1.5" and 3" aperture fluxes
    are within 1.5% of the target rendering's (the naive Gaussian match misses by ~15% at 1.5" SDSS -> CFHT)."""
    cfg = load_config(["demo"], [])
    gal = galsim.Exponential(half_light_radius=0.6, flux=1.0)
    surveys = {"sdss": (galsim.Moffat(beta=3.5, fwhm=1.35), 64, 0.396), "cfht": (galsim.Kolmogorov(fwhm=0.70), 136, 0.187)}
    src, dst = (cfg.data.x, cfg.data.y) if direction == "x2y" else (cfg.data.y, cfg.data.x)
    psf, n, scale = surveys[src.name]
    x = galsim.Convolve(gal, psf).drawImage(nx=n, ny=n, scale=scale).array
    psf, n, scale = surveys[dst.name]
    want = galsim.Convolve(gal, psf).drawImage(nx=n, ny=n, scale=scale).array
    fwhm = torch.full((1, 5), 1.35 if direction == "x2y" else 0.70, dtype=torch.float64)
    b = PsfMatchedBaseline(src, dst, cfg.baseline)
    y = b(torch.from_numpy(np.stack([x] * 5)[None] * 1000).float(), fwhm)[0, 2].double().numpy() / b.gain / 1000
    nominal_r = {"sdss": 1.35, "cfht": 0.70}[dst.name]
    assert b.fwhm_dst[2] == nominal_r
    ratio = aperture_fluxes(y[None, None], scale, [1.5, 3.0])[0, 0] / aperture_fluxes(want[None, None], scale, [1.5, 3.0])[0, 0]
    assert np.allclose(ratio, 1.0, atol=0.015), ratio


def test_noise_power_measurement_and_synthesis_reproduce_correlated_noise():
    real = correlated_noise(64, 136, 3.0, 0.15)
    p = blank_sky_power(real)
    k = noise_kernel(p, 7)
    assert k.shape == (1, 7, 7)
    rng = np.random.default_rng(5)
    fake = np.stack([synthesize(k, (136, 136), rng) for _ in range(64)])
    assert fake.std() == pytest.approx(real.std(), rel=0.03)
    assert np.allclose(radial_ratio(blank_sky_power(fake), p), 1.0, atol=0.12)
    white = noise_kernel(blank_sky_power(np.random.default_rng(2).normal(0, 2.0, (64, 1, 64, 64))), 7)
    assert white[0, 3, 3] == pytest.approx(2.0, rel=0.05) and np.abs(white[0]).sum() - abs(white[0, 3, 3]) < 0.5


def test_noise_power_ignores_a_source_in_a_corner():
    real = np.random.default_rng(3).normal(0, 1.0, (32, 1, 64, 64))
    real[:, 0, 2:6, 2:6] += 50.0  # a bright neighbour in one corner of every stamp
    p = blank_sky_power(real)
    assert p.mean() == pytest.approx(1.0, rel=0.05)
